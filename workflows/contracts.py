"""What crosses the Temporal boundary: workflow ids and small DTOs (uids, counts, labels — never secrets,
never bulk data). Converted by temporalio.contrib.pydantic; datetimes stay aware.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


def run_workflow_id(run_uid: str) -> str:
    return f"run:{run_uid}"


def account_workflow_id(linkedin_profile_id: int) -> str:
    return f"account:{linkedin_profile_id}"


def connect_workflow_id(integration_uid: str, attempt_uid: str) -> str:
    return f"connect:{integration_uid}:{attempt_uid}"


def delivery_workflow_id(delivery_uid: str, replay: int = 0) -> str:
    return f"delivery:{delivery_uid}" if replay == 0 else f"delivery:{delivery_uid}:replay-{replay}"


# --- per-account workflow: leases (one action at a time per LinkedIn account) ---------------------------


class LeaseRequest(BaseModel):
    """Ask for the account. `holder` identifies the asker (a run workflow id, or `live:{run_uid}`).

    `ticket` keeps a live caller's place in the arrival-order queue between polls.
    """

    holder: str
    kind: Literal["live", "batch"] = "batch"
    lease_seconds: float = 300.0
    ticket: str | None = None


class LeaseGrant(BaseModel):
    granted: bool
    lease_id: str | None = None
    expires_at: datetime | None = None
    # When not granted: poll again after this many seconds (with `ticket` to keep the place in line).
    retry_after_seconds: float | None = None
    ticket: str | None = None
    reason: str | None = None  # ACCOUNT_BUSY, COOL_DOWN, … (limits come in a later issue)


class LeaseRelease(BaseModel):
    lease_id: str


class AcquireLeaseInput(BaseModel):
    """Activity input: ask the per-account workflow (update-with-start) for a lease."""

    linkedin_profile_id: int
    request: LeaseRequest


class ReleaseLeaseInput(BaseModel):
    linkedin_profile_id: int
    lease_id: str


class AccountWorkflowInput(BaseModel):
    linkedin_profile_id: int
    # State carried across continue-as-new.
    state: dict[str, Any] | None = None


# --- connect workflow -----------------------------------------------------------------------------------


class ConnectInput(BaseModel):
    workspace_uid: str
    identity_uid: str
    # The SecretStash row holding the cookies (or the password) — the secret itself never enters history.
    stash_uid: str
    method: Literal["cookies", "credentials"] = "cookies"


class ConnectOutcome(BaseModel):
    """`outcome`: VALID (connected), INVALID (LinkedIn rejected the session), CONFLICT (another identity
    holds this account, or it is a different account than the one connected)."""

    outcome: Literal["VALID", "INVALID", "CONFLICT", "PENDING"]
    integration_uid: str | None = None
    created: bool = False
    linkedin_profile_id: int | None = None
    message: str | None = None


class ConnectAnnouncement(BaseModel):
    """Activity `announce_connected`: after a successful connect, emit its event (idempotent on
    `event_id`) and make sure the account's workflow runs."""

    integration_uid: str
    linkedin_profile_id: int
    event: Literal["AUTH_SUCCESS", "AUTH_UPDATED"]
    event_id: str


class DiscardStashInput(BaseModel):
    """Activity `discard_stash`: erase a SecretStash row a failed connect left behind."""

    stash_uid: str


# --- action run workflow --------------------------------------------------------------------------------


class RunWorkflowInput(BaseModel):
    run_uid: str
    live: bool = False
    # Live runs arrive holding their account's lease (taken by the API handler, in arrival order).
    lease_id: str | None = None
    linkedin_profile_id: int | None = None
    # Inputs per batch activity and concurrent account lanes (from settings, fixed per run).
    batch_size: int = 50
    max_lanes: int = 20
    # Continue-as-new after this many batches (None: when Temporal suggests it or history grows long).
    rollover_after_batches: int | None = None
    # Carried across continue-as-new.
    batches_done: int = 0


class LiveRunResult(BaseModel):
    status: str
    error: dict[str, Any] | None = None  # {error_label, message, params}
    output_count: int = 0
    # Milliseconds spent inside the activity: activity, linkedin, activity_db (for Server-Timing).
    timing: dict[str, float] | None = None


class BatchInput(BaseModel):
    run_uid: str
    identity_uid: str
    batch_uid: str  # deterministic: a retried activity re-claims its own inputs first
    max_inputs: int
    live: bool = False


class BatchResult(BaseModel):
    processed: int = 0
    outputs: int = 0
    remaining: int = 0  # QUEUED inputs still assignable to this identity
    # Account-level trouble that stops this lane: INTEGRATION_INVALID, INTEGRATION_RESTRICTED, THROTTLED…
    lane_error: str | None = None
    retry_after_seconds: float | None = None


class DeliveryInput(BaseModel):
    delivery_uid: str
    replay: int = 0
    # The retry plan, fixed from settings when the delivery starts (seconds between attempts, the last value
    # repeating; the window after the first attempt). Defaults are the contract's (API.md §3).
    retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: [5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 7200.0]
    )
    max_age_seconds: float = 86400.0
    # Set by the workflow for each attempt: when this attempt fails, the next one is due then; None → this
    # is the last attempt (a failure makes the delivery FAILED).
    next_attempt_at: datetime | None = None


class DeliveryStep(BaseModel):
    succeeded: bool = False
    failed_permanently: bool = False
    http_status: int | None = None
    error: str | None = None


TERMINAL_RUN_STATUSES = frozenset({"SUCCEEDED", "FAILED", "PARTIAL_SUCCEEDED"})
TERMINAL_INPUT_STATUSES = frozenset({"SUCCEEDED", "FAILED"})
_ = Field  # re-exported for DTO authors


# --- action run workflow: planning and settling ----------------------------------------------------------


class LanePlan(BaseModel):
    identity_uid: str
    linkedin_profile_id: int


class RunPlan(BaseModel):
    """The lanes (identity + LinkedIn account) that can work on a run now."""

    lanes: list[LanePlan] = Field(default_factory=list)
    status: str = "QUEUED"


class RunRef(BaseModel):
    run_uid: str


class SettleResult(BaseModel):
    status: str
    # Work that can still go (QUEUED inputs): plan again.
    runnable: bool = False
