"""Run status is derived from input states exactly as API.md §5 says."""

from __future__ import annotations

import pytest

from edgewise.runstate import derive_run_status, inputs_done


@pytest.mark.parametrize(
    ("counts", "stopped", "expected"),
    [
        ({}, False, "CREATED"),
        ({"QUEUED": 3, "RUNNING": 1, "BLOCKED": 1}, False, "RUNNING"),
        ({"QUEUED": 3, "BLOCKED": 1, "SCHEDULED": 2}, False, "QUEUED"),
        ({"BLOCKED": 1, "SCHEDULED": 2, "SUCCEEDED": 4}, False, "BLOCKED"),
        ({"SCHEDULED": 2, "FAILED": 1}, False, "SCHEDULED"),
        ({"SUCCEEDED": 5}, False, "SUCCEEDED"),
        ({"FAILED": 5}, False, "FAILED"),
        ({"FAILED": 1, "SUCCEEDED": 4}, False, "PARTIAL_SUCCEEDED"),
        ({"STOPPED": 3, "SUCCEEDED": 1}, True, "STOPPED"),
        ({"RUNNING": 1, "STOPPED": 3}, True, "STOPPED"),
        # A stop that came after everything finished leaves the run terminal.
        ({"SUCCEEDED": 2}, True, "SUCCEEDED"),
    ],
)
def test_run_status_derivation(counts: dict[str, int], stopped: bool, expected: str) -> None:
    assert derive_run_status(counts, stopped=stopped) == expected


def test_inputs_done_counts_finished_inputs_only() -> None:
    assert inputs_done({"SUCCEEDED": 2, "FAILED": 1, "QUEUED": 7, "STOPPED": 1}) == 3
