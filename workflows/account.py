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

Smart Limits (sliding windows per bucket, cool-down after a LinkedIn 429, pacing) plug in at
`_policy_refusal`: it sees every request before the lease logic and may refuse it with a `reason`
(`COOL_DOWN`, a bucket name) and a `retry_after_seconds`; its state lives in `AccountState.limits` and is
carried across continue-as-new like the rest.

Every handler is synchronous and tiny (Temporal advises a few updates a second sustained, caps 10 in flight
and 2,000 per run): the workflow counts what it handled and continues as new every `updates_per_run`
messages, or sooner when the server suggests it, once no handler is running.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import AccountWorkflowInput, LeaseGrant, LeaseRelease, LeaseRequest

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

BUSY = "ACCOUNT_BUSY"


class HeldLease(BaseModel):
    lease_id: str
    holder: str
    kind: Literal["live", "batch"]
    granted_at: datetime
    expires_at: datetime


class Ticket(BaseModel):
    ticket: str
    holder: str
    enqueued_at: datetime
    last_poll_at: datetime


class AccountState(BaseModel):
    """Everything the account carries across continue-as-new (AccountWorkflowInput.state)."""

    lease: HeldLease | None = None
    queue: list[Ticket] = Field(default_factory=list)
    # Smart Limits' state (windows per bucket, cool-down until …) — filled by a later issue.
    limits: dict[str, Any] = Field(default_factory=dict)
    # Continue as new after this many handled updates/signals (tests lower it).
    updates_per_run: int = DEFAULT_UPDATES_PER_RUN
    # Informational: how many runs this entity has gone through, and leases granted over its life.
    generation: int = 0
    grants_total: int = 0


@workflow.defn
class AccountWorkflow:
    @workflow.init
    def __init__(self, input: AccountWorkflowInput) -> None:
        # State is loaded here, not in run(): an update delivered with the first task of a new run (right
        # after continue-as-new) is handled before run() starts, and must see the carried lease and queue.
        self._profile_id = input.linkedin_profile_id
        self._state = AccountState.model_validate(input.state) if input.state else AccountState()
        self._handled = 0  # updates + signals handled in this run

    @workflow.run
    async def run(self, input: AccountWorkflowInput) -> None:
        # Never completes on its own: wait until history should be cut, let handlers finish, carry on.
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

    # --- leases --------------------------------------------------------------------------------------

    @workflow.update
    def acquire_lease(self, request: LeaseRequest) -> LeaseGrant:
        self._handled += 1
        now = workflow.now()
        self._expire(now)

        refusal = self._policy_refusal(request, now)
        if refusal is not None:
            return refusal

        lease = self._state.lease
        if lease is not None and lease.holder == request.holder:
            # The holder asking again (a retried acquire, or a heartbeat): renew and hand back its lease.
            lease.expires_at = now + timedelta(seconds=request.lease_seconds)
            self._drop_ticket(request.ticket)
            return self._grant_answer(lease)

        if request.kind == "live":
            return self._acquire_live(request, now)
        return self._acquire_batch(request, now)

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

    @workflow.update
    def release_lease(self, release: LeaseRelease) -> bool:
        self._handled += 1
        return self._release(release.lease_id)

    @release_lease.validator
    def _validate_release(self, release: LeaseRelease) -> None:
        if not release.lease_id or len(release.lease_id) > MAX_TICKET_LENGTH:
            raise ValueError("lease_id is required")

    @workflow.signal(name="release_lease_signal")
    def release_lease_signal(self, release: LeaseRelease) -> None:
        self._handled += 1
        self._release(release.lease_id)

    @workflow.query
    def state(self) -> dict[str, Any]:
        data = self._state.model_dump(mode="json")
        data["linkedin_profile_id"] = self._profile_id
        data["handled_this_run"] = self._handled
        return data

    # --- the lease logic (pure, on self._state) ------------------------------------------------------

    def _acquire_live(self, request: LeaseRequest, now: datetime) -> LeaseGrant:
        queue = self._state.queue
        position = self._position(request.ticket)
        if position is None:
            if self._state.lease is None and not queue:
                return self._grant(request, now)  # free and nobody waiting: no need for a ticket
            if len(queue) >= MAX_QUEUE_LENGTH:
                return LeaseGrant(granted=False, retry_after_seconds=LIVE_RETRY_MAX_SECONDS, reason=BUSY)
            ticket = Ticket(
                ticket=str(workflow.uuid4()), holder=request.holder, enqueued_at=now, last_poll_at=now
            )
            queue.append(ticket)
            position = len(queue) - 1
        else:
            queue[position].last_poll_at = now

        if self._state.lease is None and position == 0:
            queue.pop(0)
            return self._grant(request, now)
        return LeaseGrant(
            granted=False,
            retry_after_seconds=self._live_retry_after(position),
            ticket=queue[position].ticket,
            reason=BUSY,
        )

    def _acquire_batch(self, request: LeaseRequest, now: datetime) -> LeaseGrant:
        if self._state.lease is None and not self._state.queue:
            return self._grant(request, now)
        # Held, or live callers are waiting (they get the account next).
        return LeaseGrant(granted=False, retry_after_seconds=BATCH_RETRY_SECONDS, reason=BUSY)

    def _grant(self, request: LeaseRequest, now: datetime) -> LeaseGrant:
        lease = HeldLease(
            lease_id=str(workflow.uuid4()),
            holder=request.holder,
            kind=request.kind,
            granted_at=now,
            expires_at=now + timedelta(seconds=request.lease_seconds),
        )
        self._state.lease = lease
        self._state.grants_total += 1
        self._on_granted(request, now)
        return self._grant_answer(lease)

    @staticmethod
    def _grant_answer(lease: HeldLease) -> LeaseGrant:
        return LeaseGrant(granted=True, lease_id=lease.lease_id, expires_at=lease.expires_at)

    def _release(self, lease_id: str) -> bool:
        if self._state.lease is not None and self._state.lease.lease_id == lease_id:
            self._state.lease = None
            return True
        # A live caller that gives up waiting withdraws its ticket the same way (ids never collide).
        position = self._position(lease_id)
        if position is not None:
            self._state.queue.pop(position)
            return True
        return False  # already released, expired or taken over: nothing to do

    def _expire(self, now: datetime) -> None:
        if self._state.lease is not None and self._state.lease.expires_at <= now:
            self._state.lease = None  # its holder died (or overran): the lease is reclaimable
        cutoff = now - timedelta(seconds=TICKET_TTL_SECONDS)
        self._state.queue = [t for t in self._state.queue if t.last_poll_at >= cutoff]

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

    # --- Smart Limits extension points ---------------------------------------------------------------

    def _policy_refusal(self, request: LeaseRequest, now: datetime) -> LeaseGrant | None:
        """Refuse a request before the lease logic (cool-down, a used-up window): answer
        `LeaseGrant(granted=False, retry_after_seconds=…, reason=<COOL_DOWN | bucket>)`. None admits it.

        Smart Limits (a later issue) implement this from `self._state.limits`.
        """
        return None

    def _on_granted(self, request: LeaseRequest, now: datetime) -> None:
        """Hook for pacing (e.g. remember when the account last started an action)."""
