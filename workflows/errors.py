"""Telling a failed activity from a cancelled workflow (deterministic; workflow code only)."""

from __future__ import annotations

from temporalio.exceptions import ActivityError, CancelledError


def is_cancellation(exc: ActivityError) -> bool:
    """The activity ended because the workflow itself is being cancelled: that must propagate, not be
    handled as a failed attempt (otherwise a cancelled workflow carries on)."""
    return isinstance(exc.cause, CancelledError)
