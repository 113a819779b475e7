"""The per-account workflow (`account:{linkedin_profile_id}`): one long-lived entity per LinkedIn account.

It owns the account's lease, so that actions on one LinkedIn account never run concurrently:

- `acquire_lease` (update, answered at once) grants the lease when it is free, or answers
  `retry_after_seconds` (+ a `ticket` for live callers). Live callers queue in arrival order: a FIFO of
  tickets, each kept alive by re-polling; a ticket not re-polled within `TICKET_TTL_SECONDS` is dropped.
  While live tickets wait, batch requests are refused so the live callers get the account next.
- `release_lease` (update, answers whether it released) and `release_lease_signal` (fire-and-forget, for
  the live path) free it; given a ticket instead of a lease id they withdraw that place in line. A lease
  whose holder died expires at `expires_at` and is then reclaimable.
- A holder asking again while it holds the lease gets its own lease back, renewed: that makes a retried
  acquire (an activity retry after a lost answer) safe, and doubles as a heartbeat. Holders must therefore
  be unique per concurrent asker (a run workflow's lane, or `live:{run_uid}`).

Smart Limits (API.md §7) are checked before the lease logic (a holder renewing its own lease is not checked
again). The decisions are edgewise/permit_policy.py's pure functions (`admit`, `reserve`, `release`),
shared with the 30-day simulation; the arithmetic is in edgewise/limits.py:

- LinkedIn's own throttle (`LINKEDIN_THROTTLED`: every request, every profile). The rest only for requests
  that carry a `demand` (which names the safety profile). In `standard` only: the 2 h cool-down after a
  throttle (`COOL_DOWN`), the working hours (`WORKING_HOURS`, when the demand gives them: async outreach)
  and the pacing gap since the last action of the demand's class (`PACING`, async work only).
- Each bucket of `demand.units` against its ramped effective limit, minus what its sliding window counts
  (the current holder's reservation included) and minus what live callers already waiting in line asked
  for — so a burst of live calls gets exactly what remains, the rest refused at once. A write needs all its
  units; a read (`partial`) may be granted fewer (≥ 1). A refusal names the bucket and `available_at`.
  A refused live caller is never queued (nor kept in line). Profile `unlimited` checks no bucket.
- A grant reserves its units in the windows at once; `release_lease` settles them to what was `used`
  (None = as granted), counted from the release (LinkedIn saw the write by then), records LinkedIn's
  throttle, and marks `exhausted_buckets` used up until their window frees. `first_seen_at` (the start of
  the ramp-up) is when this entity first ran.
- `limits_view` (query) answers the numbers GET …/limits shows, from the same state.

Session health: once a session is connected (signal `watch_session`) and until a check finds it
disconnected, the run loop sleeps on a durable timer until the next health check is due
(`HEALTH_CHECK_INTERVAL_SECONDS` ± `HEALTH_CHECK_JITTER`, learnt from the workers through each report), then
probes the session through activity `check_account_health` — unless a lease holder is using the session (it
meets an expiry first-hand). What the probe finds is recorded by the activity (INVALID with AUTH_EXPIRED once
per expiry, RESTRICTED, or a lifted restriction); the schedule and the last outcome travel in the state.

Every handler is synchronous and tiny (Temporal advises a few updates a second sustained, caps 10 in flight
and 2,000 per run): the workflow counts what it handled and continues as new every `updates_per_run`
messages, or sooner when the server suggests it, once no handler is running.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from edgewise import limits as sl
    from edgewise import permit_policy as policy
    from edgewise.permit_policy import Admission, limit_views
    from workflows.contracts import (
        AccountWorkflowInput,
        Demand,
        LeaseGrant,
        LeaseRelease,
        LeaseRequest,
        LimitsQuery,
        LimitView,
    )
    from workflows.errors import is_cancellation
    from workflows.health_check import HealthCheckInput, HealthReport, HealthState, next_delay

# Live callers poll fast (the API waits for the account within a 30 s budget); batch callers wait on
# durable timers, so they poll slowly.
LIVE_RETRY_MIN_SECONDS = 0.05
LIVE_RETRY_MAX_SECONDS = 0.5
BATCH_RETRY_SECONDS = 2.0
# A live ticket not re-polled within this many seconds is dropped (its caller gave up or died).
TICKET_TTL_SECONDS = 5.0
# Bounds on what a request may ask for, and on the queue (the state travels through continue-as-new).
MAX_LEASE_SECONDS = 3600.0
MAX_HOLDER_LENGTH = 200
MAX_TICKET_LENGTH = 64
MAX_QUEUE_LENGTH = 500
DEFAULT_UPDATES_PER_RUN = 500

# Bounds on a demand (validated before it reaches history).
MAX_DEMAND_BUCKETS = 20
MAX_DEMAND_UNITS = 1_000_000

# Session health checks (workflows/health_check.py): the patch that introduced them, and their retries (a
# failed check is simply tried again at the next due time).
HEALTH_CHECK_PATCH = "session-health-checks"
HEALTH_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_attempts=3)

BUSY = "ACCOUNT_BUSY"

# limit_views is re-exported: GET …/limits (api/routes/limits.py, activities/accounts.py) uses it.
__all__ = ["AccountWorkflow", "limit_views"]


class HeldLease(BaseModel):
    lease_id: str
    holder: str
    kind: Literal["live", "batch"]
    granted_at: datetime
    expires_at: datetime
    # Smart Limits: the units granted (reserved in the windows at `reserved_slot` when `counted`), and the
    # pacing class with the gap drawn for it (the class's next action may start that long after release).
    units: dict[str, int] | None = None
    counted: bool = False
    reserved_slot: int | None = None
    pacing: str | None = None
    pace_gap: float | None = None
    pace_seconds: tuple[float, float] | None = None


class Ticket(BaseModel):
    ticket: str
    holder: str
    enqueued_at: datetime
    last_poll_at: datetime
    # What this waiting live caller asked of each bucket: promised to it before any newcomer.
    units: dict[str, int] = Field(default_factory=dict)


class AccountState(BaseModel):
    """Everything the account carries across continue-as-new (AccountWorkflowInput.state)."""

    lease: HeldLease | None = None
    queue: list[Ticket] = Field(default_factory=list)
    # Smart Limits: windows per bucket, first_seen_at, exhausted buckets, throttle and cool-down, pacing.
    limits: sl.LimitsState = Field(default_factory=sl.LimitsState)
    # Continue as new after this many handled updates/signals (tests lower it).
    updates_per_run: int = DEFAULT_UPDATES_PER_RUN
    # Informational: how many runs this entity has gone through, and leases granted over its life.
    generation: int = 0
    grants_total: int = 0
    # Session health: the periodic probe's schedule and last outcome (workflows/health_check.py).
    health: HealthState = Field(default_factory=HealthState)


@workflow.defn
class AccountWorkflow:
    @workflow.init
    def __init__(self, input: AccountWorkflowInput) -> None:
        # State is loaded here, not in run(): an update delivered with the first task of a new run (right
        # after continue-as-new) is handled before run() starts, and must see the carried lease and queue.
        self._profile_id = input.linkedin_profile_id
        self._state = AccountState.model_validate(input.state) if input.state else AccountState()
        if self._state.limits.first_seen_at is None:
            self._state.limits.first_seen_at = workflow.now()  # the ramp-up starts when we first see it
        self._handled = 0  # updates + signals handled in this run

    @workflow.run
    async def run(self, input: AccountWorkflowInput) -> None:
        # Never completes on its own: probe the session on its schedule until history should be cut, let
        # handlers finish, carry on. (Runs begun before health checks existed keep their old command stream.)
        if workflow.patched(HEALTH_CHECK_PATCH):
            while not self._should_continue_as_new():
                await self._health_step()
        else:
            await workflow.wait_condition(self._should_continue_as_new)
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._state.generation += 1
        workflow.continue_as_new(
            AccountWorkflowInput(
                linkedin_profile_id=self._profile_id,
                state=self._state.model_dump(mode="json"),
            )
        )

    def _should_continue_as_new(self) -> bool:
        return self._handled >= self._state.updates_per_run or workflow.info().is_continue_as_new_suggested()

    # --- session health ------------------------------------------------------------------------------

    @workflow.signal
    def watch_session(self) -> None:
        """A session of this account was connected (activities.accounts.ensure_account_workflow): check its
        health from now on."""
        self._handled += 1
        self._state.health.enabled = True

    async def _health_step(self) -> None:
        """Wait for the next check (or for continue-as-new), then check. The first step after the session is
        watched only learns the workers' schedule (no LinkedIn call: it was verified when it connected)."""
        health = self._state.health
        if not health.enabled:
            await workflow.wait_condition(
                lambda: self._should_continue_as_new() or self._state.health.enabled
            )
            return
        if health.next_check_at is not None:
            wait = (health.next_check_at - workflow.now()).total_seconds()
            if wait > 0:
                try:
                    await workflow.wait_condition(
                        self._should_continue_as_new, timeout=timedelta(seconds=wait)
                    )
                    return  # time to continue as new; the due time travels in the state
                except TimeoutError:
                    pass
        probe = health.next_check_at is not None and bool(health.interval_seconds)
        lease = self._state.lease
        if probe and lease is not None and lease.expires_at > workflow.now():
            # In use: its holder meets an expiry first-hand (and records it); no need to add a request.
            self._schedule_health("IN_USE", probed=False)
            return
        try:
            report: HealthReport = await workflow.execute_activity(
                "check_account_health",
                HealthCheckInput(linkedin_profile_id=self._profile_id, probe=probe),
                result_type=HealthReport,
                start_to_close_timeout=timedelta(seconds=60),
                schedule_to_close_timeout=timedelta(minutes=5),
                retry_policy=HEALTH_RETRY,
            )
        except ActivityError as exc:
            if is_cancellation(exc):
                raise
            self._schedule_health("ERROR", probed=probe)
            return
        health.interval_seconds, health.jitter = report.interval_seconds, report.jitter
        self._schedule_health(report.outcome, probed=probe)
        if report.outcome == "NONE":
            # Disconnected: nothing to watch until a session is connected again (which signals us).
            health.enabled, health.next_check_at = False, None

    def _schedule_health(self, outcome: str, *, probed: bool) -> None:
        health = self._state.health
        now = workflow.now()
        if probed:
            health.last_check_at = now
            health.checks += 1
        if probed or outcome != "SCHEDULE":
            health.last_outcome = outcome
        delay = next_delay(health.interval_seconds, health.jitter, workflow.random().random())
        health.next_check_at = now + timedelta(seconds=delay)

    # --- leases --------------------------------------------------------------------------------------

    @workflow.update
    def acquire_lease(self, request: LeaseRequest) -> LeaseGrant:
        self._handled += 1
        now = workflow.now()
        self._expire(now)

        lease = self._state.lease
        if lease is not None and lease.holder == request.holder:
            # The holder asking again (a retried acquire, or a heartbeat): renew and hand back its lease, with
            # the units it was granted (asked before the limits, so a retry is never refused its own grant).
            lease.expires_at = now + timedelta(seconds=request.lease_seconds)
            self._drop_ticket(request.ticket)
            return self._grant_answer(lease)

        admission = self._policy_refusal(request, now)
        if isinstance(admission, LeaseGrant):
            self._drop_ticket(request.ticket)  # a refused live caller leaves the line
            return admission

        if request.kind == "live":
            return self._acquire_live(request, now, admission)
        return self._acquire_batch(request, now, admission)

    @acquire_lease.validator
    def _validate_acquire(self, request: LeaseRequest) -> None:
        # Rejected requests never reach history; keep this to pure checks of the request itself.
        if not request.holder or len(request.holder) > MAX_HOLDER_LENGTH:
            raise ValueError(f"holder must be 1–{MAX_HOLDER_LENGTH} characters")
        if not 0 < request.lease_seconds <= MAX_LEASE_SECONDS:
            raise ValueError(f"lease_seconds must be in (0, {MAX_LEASE_SECONDS:g}]")
        if request.kind not in ("live", "batch"):
            raise ValueError("kind must be live or batch")
        if request.ticket is not None and not 0 < len(request.ticket) <= MAX_TICKET_LENGTH:
            raise ValueError(f"ticket must be 1–{MAX_TICKET_LENGTH} characters")
        if request.ticket is not None and request.kind != "live":
            raise ValueError("only live requests carry a ticket")
        if request.demand is not None:
            _validate_demand(request.demand)

    @workflow.update
    def release_lease(self, release: LeaseRelease) -> bool:
        self._handled += 1
        return self._release(release, workflow.now())

    @release_lease.validator
    def _validate_release(self, release: LeaseRelease) -> None:
        if not release.lease_id or len(release.lease_id) > MAX_TICKET_LENGTH:
            raise ValueError("lease_id is required")
        if release.used is not None and any(n < 0 for n in release.used.values()):
            raise ValueError("used units must not be negative")
        if release.throttled_retry_after_seconds is not None and release.throttled_retry_after_seconds < 0:
            raise ValueError("throttled_retry_after_seconds must not be negative")

    @workflow.signal(name="release_lease_signal")
    def release_lease_signal(self, release: LeaseRelease) -> None:
        self._handled += 1
        if release.lease_id:  # signals have no validator: ignore what the update would refuse
            self._release(release, workflow.now())

    @workflow.query
    def state(self) -> dict[str, Any]:
        data = self._state.model_dump(mode="json")
        data["linkedin_profile_id"] = self._profile_id
        data["handled_this_run"] = self._handled
        return data

    @workflow.query
    def limits_view(self, query: LimitsQuery) -> list[LimitView]:
        """The numbers of GET …/limits for the asker's effective limits (`query.limits`), as the next request
        would experience them. Read-only: nothing is pruned or recorded."""
        now = max(query.at, workflow.now()) if query.at is not None else workflow.now()
        return limit_views(self._state.limits, query, now, _units_waiting(self._state.queue))

    # --- the lease logic (pure, on self._state) ------------------------------------------------------

    def _acquire_live(self, request: LeaseRequest, now: datetime, admission: Admission | None) -> LeaseGrant:
        queue = self._state.queue
        position = self._position(request.ticket)
        units = admission.promised if admission is not None else {}
        if position is None:
            if self._state.lease is None and not queue:
                return self._grant(request, now, admission)  # free and nobody waiting: no need for a ticket
            if len(queue) >= MAX_QUEUE_LENGTH:
                return LeaseGrant(granted=False, retry_after_seconds=LIVE_RETRY_MAX_SECONDS, reason=BUSY)
            ticket = Ticket(
                ticket=str(workflow.uuid4()),
                holder=request.holder,
                enqueued_at=now,
                last_poll_at=now,
                units=units,
            )
            queue.append(ticket)
            position = len(queue) - 1
        else:
            queue[position].last_poll_at = now
            queue[position].units = units

        if self._state.lease is None and position == 0:
            queue.pop(0)
            return self._grant(request, now, admission)
        return LeaseGrant(
            granted=False,
            retry_after_seconds=self._live_retry_after(position),
            ticket=queue[position].ticket,
            reason=BUSY,
        )

    def _acquire_batch(self, request: LeaseRequest, now: datetime, admission: Admission | None) -> LeaseGrant:
        if self._state.lease is None and not self._state.queue:
            return self._grant(request, now, admission)
        # Held, or live callers are waiting (they get the account next).
        return LeaseGrant(granted=False, retry_after_seconds=BATCH_RETRY_SECONDS, reason=BUSY)

    def _grant(self, request: LeaseRequest, now: datetime, admission: Admission | None) -> LeaseGrant:
        lease = HeldLease(
            lease_id=str(workflow.uuid4()),
            holder=request.holder,
            kind=request.kind,
            granted_at=now,
            expires_at=now + timedelta(seconds=request.lease_seconds),
        )
        self._state.lease = lease
        self._state.grants_total += 1
        self._on_granted(lease, admission, now)
        return self._grant_answer(lease)

    @staticmethod
    def _grant_answer(lease: HeldLease) -> LeaseGrant:
        return LeaseGrant(
            granted=True,
            lease_id=lease.lease_id,
            expires_at=lease.expires_at,
            units=dict(lease.units) if lease.units is not None else None,
            pace_seconds=lease.pace_seconds,
        )

    def _release(self, release: LeaseRelease, now: datetime) -> bool:
        held: policy.Reservation | None = None
        released = False
        lease = self._state.lease
        if lease is not None and lease.lease_id == release.lease_id:
            held = _reservation(lease)
            self._state.lease = None
            released = True
        else:
            # A live caller that gives up waiting withdraws its ticket the same way (ids never collide).
            position = self._position(release.lease_id)
            if position is not None:
                self._state.queue.pop(position)
                released = True
        # Settles the lease's units and pacing; what LinkedIn said holds for the account either way.
        policy.release(
            self._state.limits,
            held,
            now,
            release.used,
            release.throttled_retry_after_seconds,
            release.exhausted_buckets,
        )
        return released  # False: already released, expired or taken over

    def _expire(self, now: datetime) -> None:
        if self._state.lease is not None and self._state.lease.expires_at <= now:
            # Its holder died (or overran): the lease is reclaimable; its reservation counts as granted.
            self._state.lease = None
        cutoff = now - timedelta(seconds=TICKET_TTL_SECONDS)
        self._state.queue = [t for t in self._state.queue if t.last_poll_at >= cutoff]
        self._state.limits.prune(now)

    def _position(self, ticket: str | None) -> int | None:
        if ticket is None:
            return None
        for index, waiting in enumerate(self._state.queue):
            if waiting.ticket == ticket:
                return index
        return None  # unknown or dropped: the caller queues again at the tail

    def _drop_ticket(self, ticket: str | None) -> None:
        position = self._position(ticket)
        if position is not None:
            self._state.queue.pop(position)

    @staticmethod
    def _live_retry_after(position: int) -> float:
        # The head polls fastest (it is next); the others back off a little with their distance.
        return min(LIVE_RETRY_MAX_SECONDS, LIVE_RETRY_MIN_SECONDS * (position + 1) * 2)

    # --- Smart Limits -------------------------------------------------------------------------------

    def _policy_refusal(self, request: LeaseRequest, now: datetime) -> LeaseGrant | Admission | None:
        """Refuse a request before the lease logic (`LeaseGrant(granted=False, reason=…, available_at=…)`),
        or admit it with what a grant would give (`Admission`). None: no Smart Limits asked (no demand)."""
        return policy.admit(self._state.limits, request.demand, now, self._units_ahead(request))

    def _units_ahead(self, request: LeaseRequest) -> dict[str, int]:
        """What live callers ahead of this request in line asked for (all of them for a newcomer or batch)."""
        queue = self._state.queue
        position = self._position(request.ticket) if request.kind == "live" else None
        return _units_waiting(queue if position is None else queue[:position])

    def _on_granted(self, lease: HeldLease, admission: Admission | None, now: datetime) -> None:
        """Reserve the granted units in the windows (they count from the grant) and draw the pacing gap."""
        if admission is None:
            return
        held = policy.reserve(self._state.limits, admission, now, workflow.random())
        lease.units, lease.counted, lease.reserved_slot = held.units, held.counted, held.reserved_slot
        lease.pacing, lease.pace_gap, lease.pace_seconds = held.pacing, held.pace_gap, held.pace_seconds


def _reservation(lease: HeldLease) -> policy.Reservation:
    return policy.Reservation(
        units=lease.units,
        counted=lease.counted,
        reserved_slot=lease.reserved_slot,
        pacing=lease.pacing,
        pace_gap=lease.pace_gap,
        pace_seconds=lease.pace_seconds,
    )


def _units_waiting(tickets: list[Ticket]) -> dict[str, int]:
    total: dict[str, int] = {}
    for ticket in tickets:
        for bucket, n in ticket.units.items():
            total[bucket] = total.get(bucket, 0) + n
    return total


def _validate_demand(demand: Demand) -> None:
    if len(demand.units) > MAX_DEMAND_BUCKETS:
        raise ValueError(f"a demand names at most {MAX_DEMAND_BUCKETS} buckets")
    for bucket, n in demand.units.items():
        if bucket not in sl.BUCKETS:
            raise ValueError(f"unknown limit bucket {bucket!r}")
        if not 0 <= n <= MAX_DEMAND_UNITS:
            raise ValueError(f"units of {bucket} must be in [0, {MAX_DEMAND_UNITS}]")
    for bucket, limit in demand.limits.items():
        if limit is not None and limit < 0:
            raise ValueError(f"the limit of {bucket} must not be negative")
    if demand.pacing is not None and demand.pacing not in sl.PACING_GAPS:
        raise ValueError(f"unknown pacing class {demand.pacing!r}")
    sl.zone(demand.timezone)
    sl.parse_working_hours(demand.working_hours)
