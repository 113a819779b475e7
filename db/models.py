"""SQLModel tables. Timestamps are aware UTC (`UTCDateTime`); JSON columns hold small documents only.

Secrets never sit here in clear: cookies, pending passwords and caller callback headers are AES-GCM
ciphertext (edgewise.crypto); API keys are SHA-256 hashes.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Double, Index, Integer, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from db.types import UTCDateTime
from edgewise.timeutil import utcnow


def new_uid() -> str:
    return str(uuid.uuid4())


def _ts(nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default=None,
        sa_column=Column(UTCDateTime(), nullable=nullable, index=index),
    )


def _json(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=nullable))


class Workspace(SQLModel, table=True):
    __tablename__ = "workspaces"
    uid: str = Field(default_factory=new_uid, primary_key=True, max_length=36)
    name: str = Field(max_length=255)
    # The webhook signing secret (whsec_…), encrypted at rest; previous one kept 24 h after a rotation.
    secret_enc: str = Field(sa_column=Column(Text, nullable=False))
    previous_secret_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    previous_secret_expires_at: datetime | None = _ts(nullable=True)
    webhook_url: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Credits with 2 decimals, stored as hundredths to stay exact.
    credits_used_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    limits: dict[str, Any] | None = _json()
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Member(SQLModel, table=True):
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("workspace_uid", "email", name="uq_members_workspace_email"),)
    uid: str = Field(default_factory=new_uid, primary_key=True, max_length=36)
    workspace_uid: str = Field(foreign_key="workspaces.uid", index=True, max_length=36)
    email: str = Field(max_length=320)
    role: str = Field(max_length=16)  # admin | ops | user
    key_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Identity(SQLModel, table=True):
    __tablename__ = "identities"
    uid: str = Field(default_factory=new_uid, primary_key=True, max_length=36)
    workspace_uid: str = Field(foreign_key="workspaces.uid", index=True, max_length=36)
    name: str = Field(max_length=255)
    timezone: str = Field(default="UTC", max_length=64)
    # {"days": [1..7], "start": "HH:MM", "end": "HH:MM"} or None for any time.
    working_hours: dict[str, Any] | None = _json()
    egress_proxy_id: str | None = Field(default=None, max_length=128)
    egress_country: str | None = Field(default=None, max_length=8)
    limits: dict[str, Any] | None = _json()
    deleted_at: datetime | None = _ts(nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Integration(SQLModel, table=True):
    """An identity's LinkedIn account. One live (non-deleted) integration per identity and per account."""

    __tablename__ = "integrations"
    uid: str = Field(default_factory=new_uid, primary_key=True, max_length=36)
    workspace_uid: str = Field(foreign_key="workspaces.uid", index=True, max_length=36)
    identity_uid: str = Field(foreign_key="identities.uid", index=True, max_length=36)
    type: str = Field(default="linkedin", max_length=16)
    status: str = Field(default="PENDING", max_length=16)  # PENDING | VALID | INVALID | RESTRICTED
    level: str | None = Field(default=None, max_length=32)  # classic | premium | sales_navigator
    account_name: str | None = Field(default=None, max_length=255)
    linkedin_profile_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True, index=True)
    )
    linkedin_profile_urn: str | None = Field(default=None, max_length=128)
    public_identifier: str | None = Field(default=None, max_length=255)
    # AES-GCM ciphertext of {"li_at", "JSESSIONID", "li_a"?}; associated data = integration uid.
    cookies_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    user_agent: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    checkpoint: dict[str, Any] | None = _json()
    last_error: dict[str, Any] | None = _json()
    event_sequence: int = Field(default=0)
    connected_at: datetime | None = _ts(nullable=True)
    deleted_at: datetime | None = _ts(nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class SecretStash(SQLModel, table=True):
    """A short-lived encrypted record (cookies to verify, a password for one login attempt).

    Only its uid crosses the Temporal boundary; the activity that consumes it deletes it.
    """

    __tablename__ = "secret_stash"
    uid: str = Field(default_factory=new_uid, primary_key=True, max_length=36)
    kind: str = Field(max_length=32)  # cookies | password
    ciphertext: str = Field(sa_column=Column(Text, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class PendingLogin(SQLModel, table=True):
    """One credentials login in progress (API.md §3), from the POST until its checkpoint is answered, fails
    or expires: at most one per identity (the unique index), so two logins never race on one identity.

    Its secrets are AES-GCM ciphertext (associated data = the row's uid) and short-lived: `password_enc`
    is erased as the one login attempt starts, `challenge_enc` (the checkpoint's pre-login cookie) when the
    flow ends, and the row goes with it. Only its uid crosses the Temporal boundary.
    """

    __tablename__ = "pending_logins"
    __table_args__ = (UniqueConstraint("identity_uid", name="uq_pending_logins_identity"),)
    uid: str = Field(default_factory=new_uid, primary_key=True, max_length=36)
    workspace_uid: str = Field(foreign_key="workspaces.uid", max_length=36)
    identity_uid: str = Field(foreign_key="identities.uid", max_length=36)
    # The integration the login connects: the identity's current one, or the uid a first connect gets.
    integration_uid: str = Field(max_length=36)
    workflow_id: str = Field(max_length=255)
    # {"username", "password"}: erased (NULL) before LinkedIn is asked, whatever happens next.
    password_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The checkpoint LinkedIn asked for (linkedin.auth.LoginChallenge): erased when the flow ends.
    challenge_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    user_agent: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # A reconnect's status before its checkpoint, restored if the login turns out to be another account.
    previous_status: str | None = Field(default=None, max_length=16)
    # Past this the row is stale (its workflow died): a new connect may replace it.
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Run(SQLModel, table=True):
    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_workspace_created", "workspace_uid", "created_at"),)
    uid: str = Field(default_factory=new_uid, primary_key=True, max_length=36)
    workspace_uid: str = Field(foreign_key="workspaces.uid", index=True, max_length=36)
    action_name: str = Field(max_length=64, index=True)
    execution_mode: str = Field(max_length=16)  # LIVE | ASYNC | SCHEDULED
    status: str = Field(default="CREATED", max_length=24, index=True)
    stopped: bool = Field(default=False)
    label: str | None = Field(default=None, max_length=255)
    identity_mode: str = Field(default="direct", max_length=16)
    identity_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    parameters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    callback_url: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    callback_on: str | None = Field(default=None, max_length=8)
    # Caller's callback headers may hold their own secrets: encrypted (associated data = run uid).
    callback_headers_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Highest run_outputs.id already handed to a callback (on: all).
    callback_cursor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    callback_sequence: int = Field(default=0)
    inputs_count: int = Field(default=0)
    inputs_total: int = Field(default=0)  # rows after de-duplication
    inputs_done: int = Field(default=0)
    output_count: int = Field(default=0)
    credits_used_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    warnings: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    last_error: dict[str, Any] | None = _json()
    postponed_until: datetime | None = _ts(nullable=True)
    schedule_uid: str | None = Field(default=None, max_length=36, index=True)
    # For LIVE runs: the pinned cursor context (normalised input, identity, page offset/cursor).
    live_page: dict[str, Any] | None = _json()
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    started_at: datetime | None = _ts(nullable=True)
    finished_at: datetime | None = _ts(nullable=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class RunIdentity(SQLModel, table=True):
    """Which identities a run may use (for the `identity_uid` filter on GET /v1/runs)."""

    __tablename__ = "run_identities"
    run_uid: str = Field(foreign_key="runs.uid", primary_key=True, max_length=36)
    identity_uid: str = Field(primary_key=True, max_length=36, index=True)


class RunInput(SQLModel, table=True):
    __tablename__ = "run_inputs"
    __table_args__ = (
        UniqueConstraint("run_uid", "index", name="uq_run_inputs_run_index"),
        UniqueConstraint("run_uid", "target_key", name="uq_run_inputs_run_target"),
        Index("ix_run_inputs_run_status", "run_uid", "status"),
        Index("ix_run_inputs_batch", "run_uid", "batch_uid"),
    )
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    uid: str = Field(default_factory=new_uid, max_length=36, unique=True, index=True)
    run_uid: str = Field(foreign_key="runs.uid", max_length=36)
    index: int
    # QUEUED | SCHEDULED | RUNNING | BLOCKED | SUCCEEDED | FAILED | STOPPED
    status: str = Field(default="QUEUED", max_length=16)
    input: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The normalised target (de-duplication key within the run).
    target_key: str = Field(sa_column=Column(Text, nullable=False))
    custom_data: dict[str, Any] | None = _json()
    identity_uid: str | None = Field(default=None, max_length=36)
    batch_uid: str | None = Field(default=None, max_length=64)
    output_count: int = Field(default=0)
    # Paging progress of a multi-page input (search offset, conversation cursor) — survives retries.
    page_state: dict[str, Any] | None = _json()
    error: dict[str, Any] | None = _json()
    postponed_until: datetime | None = _ts(nullable=True)
    started_at: datetime | None = _ts(nullable=True)
    finished_at: datetime | None = _ts(nullable=True)


class RunOutput(SQLModel, table=True):
    __tablename__ = "run_outputs"
    __table_args__ = (
        UniqueConstraint("run_input_uid", "seq", name="uq_run_outputs_input_seq"),
        Index("ix_run_outputs_run_id", "run_uid", "id"),
    )
    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    )
    run_uid: str = Field(max_length=36)
    run_input_uid: str = Field(max_length=36)
    # Position of this row among its input's outputs: makes a retried page's insert idempotent.
    seq: int
    identity_uid: str | None = Field(default=None, max_length=36)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    custom_data: dict[str, Any] | None = _json()
    extracted_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Delivery(SQLModel, table=True):
    """One webhook event or run callback: the same id and body bytes on every attempt."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_workspace_created", "workspace_uid", "created_at"),)
    uid: str = Field(default_factory=new_uid, primary_key=True, max_length=36)
    workspace_uid: str = Field(foreign_key="workspaces.uid", index=True, max_length=36)
    kind: str = Field(max_length=16)  # event | callback
    webhook_id: str = Field(max_length=64, index=True)
    url: str = Field(sa_column=Column(Text, nullable=False))
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # Caller-supplied headers (callbacks), encrypted; associated data = delivery uid.
    headers_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status: str = Field(default="PENDING", max_length=16)  # PENDING | RUNNING | SUCCEEDED | FAILED
    attempts: int = Field(default=0)
    last_http_status: int | None = Field(default=None)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    next_attempt_at: datetime | None = _ts(nullable=True)
    run_uid: str | None = Field(default=None, max_length=36, index=True)
    replays: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class LedgerEntry(SQLModel, table=True):
    """One executed LinkedIn action (idempotent per run input and step): limits and credits come from here."""

    __tablename__ = "action_ledger"
    __table_args__ = (
        UniqueConstraint("idempotency_token", name="uq_action_ledger_token"),
        Index("ix_action_ledger_account_at", "linkedin_profile_id", "at"),
        Index("ix_action_ledger_workspace_at", "workspace_uid", "at"),
    )
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    idempotency_token: str = Field(max_length=128)
    workspace_uid: str = Field(max_length=36)
    identity_uid: str | None = Field(default=None, max_length=36)
    linkedin_profile_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    run_uid: str | None = Field(default=None, max_length=36)
    run_input_uid: str | None = Field(default=None, max_length=36)
    action_name: str = Field(max_length=64)
    # {"LK_PROFILE_ENRICHMENTS": 1, ...}: how much this action counted against each bucket.
    buckets: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    results: int = Field(default=0)
    credits_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("workspace_uid", "key", "route", name="uq_idempotency_key"),)
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    workspace_uid: str = Field(max_length=36)
    key: str = Field(max_length=255)
    route: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    status_code: int | None = Field(default=None)
    response_body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    response_headers: dict[str, str] | None = _json()
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class RateLimitBucket(SQLModel, table=True):
    """A workspace's API rate-limit token bucket (`live` or `other`; api/ratelimit.py), shared by replicas.

    `tokens` is what was left at `refilled_at`, in epoch seconds on the database's clock: plain floats, so
    one SQL statement refills and takes a token the same way on PostgreSQL and SQLite. UNLOGGED on PostgreSQL
    (migration 0002): no WAL flush per request; a crash empties it, and every bucket starts full again.
    """

    __tablename__ = "rate_limit_buckets"
    workspace_uid: str = Field(foreign_key="workspaces.uid", primary_key=True, max_length=36)
    bucket: str = Field(primary_key=True, max_length=8)  # live | other
    tokens: float = Field(sa_column=Column(Double, nullable=False))
    refilled_at: float = Field(sa_column=Column(Double, nullable=False))


class EgressProxy(SQLModel, table=True):
    """One proxy of the operator's egress pool (edgewise/egress.py) and the identity that holds it, if any.

    The pool itself (URLs, countries) is configuration; this row is its state, shared by every process. A
    proxy is taken by one conditional UPDATE (free, and released 30+ days ago or never), and the unique
    `identity_uid` keeps an identity from holding two: assignments stay atomic under concurrency.
    """

    __tablename__ = "egress_proxies"
    __table_args__ = (UniqueConstraint("identity_uid", name="uq_egress_proxies_identity"),)
    proxy_id: str = Field(primary_key=True, max_length=128)
    identity_uid: str | None = Field(default=None, foreign_key="identities.uid", max_length=36)
    assigned_at: datetime | None = _ts(nullable=True)
    # When its last identity was deleted: no other identity gets it for 30 days after.
    released_at: datetime | None = _ts(nullable=True)


class Schedule(SQLModel, table=True):
    """A recurring (`cron`) or one-shot (`schedule_at`) run of an action (API.md §6; api/routes/schedules.py).

    Temporal's schedule `schedule:{uid}` fires it; each firing copies this row and its inputs into an ordinary
    Run (execution_mode SCHEDULED). `cron` and `timezone` are kept exactly as the caller gave them. The firing
    instants are computed by edgewise (edgewise/cron.py) and armed in Temporal a window at a time
    (`armed_at`…`armed_until`, edgewise/schedule_spec.py).
    """

    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_workspace_created", "workspace_uid", "created_at"),)
    uid: str = Field(default_factory=new_uid, primary_key=True, max_length=36)
    workspace_uid: str = Field(foreign_key="workspaces.uid", index=True, max_length=36)
    name: str | None = Field(default=None, max_length=255)
    action_name: str = Field(max_length=64, index=True)
    # ACTIVE | PAUSED | CANCELLED | COMPLETED
    status: str = Field(default="ACTIVE", max_length=16, index=True)
    cron: str | None = Field(default=None, max_length=255)
    timezone: str = Field(default="UTC", max_length=64)
    schedule_at: datetime | None = _ts(nullable=True)
    jitter_seconds: int = Field(default=0)
    # What each firing's run gets (as an async run's body would give it).
    label: str | None = Field(default=None, max_length=255)
    identity_mode: str = Field(default="direct", max_length=16)
    identity_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    parameters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    callback_url: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    callback_on: str | None = Field(default=None, max_length=8)
    # The caller's callback headers, encrypted (associated data = schedule uid); re-encrypted per run.
    callback_headers_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    inputs_count: int = Field(default=0)  # as submitted
    inputs_total: int = Field(default=0)  # rows after de-duplication
    runs_count: int = Field(default=0)
    # Firings Temporal skipped because the previous run was still going (synced from the schedule's info),
    # and firings edgewise itself skipped for the same reason.
    skipped_temporal: int = Field(default=0)
    skipped_local: int = Field(default=0)
    # The run of the firing in progress (cleared when it finishes).
    current_run_uid: str | None = Field(default=None, max_length=36)
    last_executed_at: datetime | None = _ts(nullable=True)
    armed_at: datetime | None = _ts(nullable=True)
    armed_until: datetime | None = _ts(nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class ScheduleInput(SQLModel, table=True):
    """A schedule's normalised, de-duplicated inputs: copied into each firing's run (never into Temporal)."""

    __tablename__ = "schedule_inputs"
    __table_args__ = (UniqueConstraint("schedule_uid", "index", name="uq_schedule_inputs_schedule_index"),)
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    schedule_uid: str = Field(foreign_key="schedules.uid", max_length=36)
    index: int
    input: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    target_key: str = Field(sa_column=Column(Text, nullable=False))
    custom_data: dict[str, Any] | None = _json()


class ScheduleFiring(SQLModel, table=True):
    """One firing that made a run. The key is the nominal local time (or `once` for a one-shot): a second
    firing with the same key — a wall time the clocks repeat — makes no second run."""

    __tablename__ = "schedule_firings"
    schedule_uid: str = Field(foreign_key="schedules.uid", primary_key=True, max_length=36)
    fire_key: str = Field(primary_key=True, max_length=64)
    nominal_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    run_uid: str = Field(max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
