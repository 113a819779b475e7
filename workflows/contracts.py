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


class Demand(BaseModel):
    """What a permit asks of the account's Smart Limits (API.md §7). Computed by the asker from the catalog
    and the database (level defaults × workspace/identity overrides); the account workflow adds what only it
    knows — the sliding windows, the ramp-up since it first saw the account, cool-down and pacing."""

    action: str  # catalog slug
    # Units per bucket for the whole permit, e.g. {"LK_SEARCH_RESULTS": 10}.
    units: dict[str, int] = Field(default_factory=dict)
    # Reads may be cut to what remains ("a page is cut to what remains"); writes are all or nothing.
    partial: bool = False
    # Effective limits per bucket before ramp-up (None = unlimited), for every bucket in `units`.
    limits: dict[str, int | None] = Field(default_factory=dict)
    profile: Literal["standard", "test", "unlimited"] = "standard"
    # Pacing class of async/scheduled work (invitation, message, visit, invitation_action, read); None = live.
    pacing: str | None = None
    # Outreach in async/scheduled runs happens only inside the identity's working hours (None = any time).
    working_hours: dict[str, Any] | None = None
    timezone: str = "UTC"


class LeaseRequest(BaseModel):
    """Ask for the account. `holder` identifies the asker (a run workflow's lane, or `live:{run_uid}`).

    `ticket` keeps a live caller's place in the arrival-order queue between polls. `demand` (optional) is
    checked against the account's Smart Limits before the lease is considered.
    """

    holder: str
    kind: Literal["live", "batch"] = "batch"
    lease_seconds: float = 300.0
    ticket: str | None = None
    demand: Demand | None = None


class LeaseGrant(BaseModel):
    granted: bool
    lease_id: str | None = None
    expires_at: datetime | None = None
    # When not granted: poll again after this many seconds (with `ticket` to keep the place in line).
    retry_after_seconds: float | None = None
    ticket: str | None = None
    # Why not: ACCOUNT_BUSY, COOL_DOWN, LINKEDIN_THROTTLED, WORKING_HOURS, PACING, or a bucket name.
    reason: str | None = None
    # When the refusal lifts (a limit's window frees, the cool-down or the working hours end).
    available_at: datetime | None = None
    # Granted units per bucket (≤ demanded; reads may be cut), reserved until the release settles them.
    units: dict[str, int] | None = None
    # Seconds to wait between actions inside this permit (random within [min, max]; None = unpaced).
    pace_seconds: tuple[float, float] | None = None


class LeaseRelease(BaseModel):
    lease_id: str
    # What was really consumed per bucket (None = all that was granted). A write LinkedIn refused before
    # sending counts 0; a page counts what it returned.
    used: dict[str, int] | None = None
    # LinkedIn answered 429: wait this long (standard profile: then cool down 2 h).
    throttled_retry_after_seconds: float | None = None
    # LinkedIn refused a bucket itself before our count was reached (CUSTOM_INVITE_LIMIT_REACHED →
    # LK_CONNECTION_NOTES): treat it as used up for its window.
    exhausted_buckets: list[str] = Field(default_factory=list)


class LimitsQuery(BaseModel):
    """Query the account's windows (GET …/limits): the asker's effective limits, pre-ramp."""

    limits: dict[str, int | None]
    profile: Literal["standard", "test", "unlimited"] = "standard"
    # When to evaluate the windows. A query sees the workflow's clock as of its last task, which may be
    # hours old on an idle account: askers pass their wall-clock time (activities.accounts.query_limits does).
    at: datetime | None = None


class LimitView(BaseModel):
    slug: str
    max_limit: int | None  # effective: ramped and overridden (None = unlimited)
    consumed: int
    remaining: int | None
    window_seconds: int
    has_reached_limit: bool
    available_at: datetime | None


class AcquireLeaseInput(BaseModel):
    """Activity input: ask the per-account workflow (update-with-start) for a lease."""

    linkedin_profile_id: int
    request: LeaseRequest


class ReleaseLeaseInput(BaseModel):
    linkedin_profile_id: int
    lease_id: str
    used: dict[str, int] | None = None
    throttled_retry_after_seconds: float | None = None
    exhausted_buckets: list[str] = Field(default_factory=list)


class AccountWorkflowInput(BaseModel):
    linkedin_profile_id: int
    # State carried across continue-as-new.
    state: dict[str, Any] | None = None


# --- connect workflow -----------------------------------------------------------------------------------


class ConnectInput(BaseModel):
    workspace_uid: str
    identity_uid: str
    # Cookies: the SecretStash row holding them; credentials: the PendingLogin row holding the password.
    # The secret itself never enters history.
    stash_uid: str
    method: Literal["cookies", "credentials"] = "cookies"
    # Credentials: how long a verification checkpoint waits for its code (API.md §3: 10 minutes).
    checkpoint_ttl_seconds: float = 600.0


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
    budget: dict[str, int] | None = None
    # Inputs per batch activity and concurrent account lanes (from settings, fixed per run).
    batch_size: int = 50
    max_lanes: int = 20
    # Continue-as-new after this many batches (None: when Temporal suggests it or history grows long).
    rollover_after_batches: int | None = None
    # Carried across continue-as-new.
    batches_done: int = 0


class PermitOutcome(BaseModel):
    """What an executed permit consumed and met, for its release (settles the account's windows)."""

    usage: dict[str, int] = Field(default_factory=dict)
    throttled_retry_after_seconds: float | None = None
    exhausted_buckets: list[str] = Field(default_factory=list)


class LiveRunResult(PermitOutcome):
    status: str
    # The activity gave the account back itself (the workflow releases only when it could not).
    lease_released: bool = False
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
    # Units per bucket the permit granted (a listing stops when its bucket's units are used).
    budget: dict[str, int] | None = None
    # Seconds to wait between actions inside the permit (standard profile pacing).
    pace_seconds: tuple[float, float] | None = None


class PermitInput(BaseModel):
    """An async lane asks its account for a batch permit (the activity builds the Demand from the DB)."""

    run_uid: str
    identity_uid: str
    linkedin_profile_id: int
    holder: str
    max_inputs: int
    lease_seconds: float = 1200.0


class PermitAnswer(BaseModel):
    grant: LeaseGrant
    # Inputs (single-step actions) or steps (listings) the granted units cover.
    batch_size: int = 0


class PostponeInput(BaseModel):
    run_uid: str
    until: datetime
    reason: str


class BatchResult(PermitOutcome):
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
    # is the last attempt (a failure makes the delivery FAILED). Used by rounds started before
    # `retry_in_seconds` existed.
    next_attempt_at: datetime | None = None
    # Set for each attempt: when it fails, the next one is due this long after it ended (not after it
    # started: a 10 s timeout is still followed by the plan's wait), unless that is past `deadline` (the
    # first attempt + max_age_seconds): then this attempt was the last.
    retry_in_seconds: float | None = None
    deadline: datetime | None = None


class DeliveryStep(BaseModel):
    succeeded: bool = False
    failed_permanently: bool = False
    http_status: int | None = None
    error: str | None = None
    # When the next attempt is due (recorded on the delivery); None once the delivery is settled.
    next_attempt_at: datetime | None = None


TERMINAL_RUN_STATUSES = frozenset({"SUCCEEDED", "FAILED", "PARTIAL_SUCCEEDED"})
TERMINAL_INPUT_STATUSES = frozenset({"SUCCEEDED", "FAILED"})


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
    # Live: units per bucket the permit granted (a page is cut to what remains), and the lease to give back.
    budget: dict[str, int] | None = None
    lease_id: str | None = None
    linkedin_profile_id: int | None = None


class SettleResult(BaseModel):
    status: str
    # Work that can still go (QUEUED inputs): plan again.
    runnable: bool = False
