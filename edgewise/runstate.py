"""Run status, derived from its inputs' states (API.md §5 "The Run object and its states")."""

from __future__ import annotations

from collections.abc import Mapping

INPUT_STATES = ("QUEUED", "SCHEDULED", "RUNNING", "BLOCKED", "SUCCEEDED", "FAILED", "STOPPED")
FINISHED_INPUT_STATES = frozenset({"SUCCEEDED", "FAILED"})
TERMINAL_RUN_STATES = frozenset({"SUCCEEDED", "FAILED", "PARTIAL_SUCCEEDED"})


def derive_run_status(counts: Mapping[str, int], *, stopped: bool = False) -> str:
    """The run's status from how many of its inputs are in each state.

    STOPPED (by a member) wins while work remains; it is not terminal. With nothing left to do the run is
    terminal: all SUCCEEDED → SUCCEEDED, none → FAILED, otherwise PARTIAL_SUCCEEDED.
    """
    total = sum(counts.values())
    if total == 0:
        return "CREATED"
    unfinished = total - sum(counts.get(s, 0) for s in FINISHED_INPUT_STATES)
    if unfinished:
        if stopped:
            return "STOPPED"  # inputs already sent to LinkedIn finish in the background
        for state in ("RUNNING", "QUEUED", "BLOCKED", "SCHEDULED"):
            if counts.get(state):
                return state
        return "STOPPED"
    succeeded = counts.get("SUCCEEDED", 0)
    if succeeded == total:
        return "SUCCEEDED"
    if succeeded == 0:
        return "FAILED"
    return "PARTIAL_SUCCEEDED"


def inputs_done(counts: Mapping[str, int]) -> int:
    return sum(counts.get(s, 0) for s in FINISHED_INPUT_STATES)
