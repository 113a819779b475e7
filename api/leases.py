"""The live path's hold on a LinkedIn account: the API handler takes the account's lease before it starts a
live run (so live calls on one account run one at a time, in arrival order), and the run gives it back.

Waiting is polling: the per-account workflow answers each `acquire_lease` update at once with a grant or a
`retry_after_seconds` and a `ticket` (our place in its arrival-order queue), which we send back on every
poll. A call that cannot get the account within `account_busy_timeout_seconds` → 429 ACCOUNT_BUSY.

With a `demand`, the account's Smart Limits answer first: a refusal (a bucket, COOL_DOWN,
LINKEDIN_THROTTLED) → 429 LIMIT_REACHED at once, with `params.postponed_until` (when it lifts) and
`params.limit`; nothing is queued and nothing counted.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Iterable
from datetime import datetime, timedelta

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from activities.accounts import ensure_account_workflow as _ensure
from activities.accounts import give_back_lease, request_lease
from edgewise.config import Settings
from edgewise.errors import ApiError
from edgewise.timeutil import iso_z, utcnow
from workflows.contracts import Demand, LeaseGrant, LeaseRequest

log = logging.getLogger("edgewise.api.leases")

# Errors worth another poll: the workflow is busy (10 updates in flight), between runs (continue-as-new)
# or the server is briefly unavailable.
_TRANSIENT = {
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.ABORTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.NOT_FOUND,
    RPCStatusCode.INTERNAL,
}


def account_busy(retry_after_seconds: float, limit: str = "ACCOUNT_BUSY") -> ApiError:
    wait = max(retry_after_seconds, 1.0)
    return ApiError(
        "LIMIT_REACHED",
        "The LinkedIn account is busy with other calls; try again shortly"
        if limit == "ACCOUNT_BUSY"
        else f"The LinkedIn account cannot act now ({limit})",
        params={"postponed_until": iso_z(utcnow() + timedelta(seconds=wait)), "limit": limit},
        headers={"Retry-After": str(math.ceil(wait))},
    )


_LIMIT_MESSAGES = {
    "COOL_DOWN": "The LinkedIn account is cooling down after LinkedIn throttled it",
    "LINKEDIN_THROTTLED": "LinkedIn is throttling this account; wait until postponed_until",
    "WORKING_HOURS": "Outside the identity's working hours",
    "PACING": "The account's pacing gap has not elapsed",
}


def limit_reached(grant: LeaseGrant) -> ApiError:
    """429 LIMIT_REACHED for a Smart Limits refusal: `params.limit` is the bucket (or COOL_DOWN,
    LINKEDIN_THROTTLED), `params.postponed_until` when it lifts; `Retry-After` in seconds."""
    limit = grant.reason or "LIMIT"
    now = utcnow()
    until: datetime = grant.available_at or now + timedelta(seconds=grant.retry_after_seconds or 1.0)
    wait = max((until - now).total_seconds(), 1.0)
    message = _LIMIT_MESSAGES.get(limit, f"Smart Limit {limit} reached for this LinkedIn account")
    return ApiError(
        "LIMIT_REACHED",
        message,
        params={"postponed_until": iso_z(until), "limit": limit},
        headers={"Retry-After": str(math.ceil(wait))},
    )


async def ensure_account_workflow(client: Client, settings: Settings, linkedin_profile_id: int) -> None:
    """Start the account's workflow unless it runs already (called when an account connects)."""
    await _ensure(client, settings.temporal_task_queue, linkedin_profile_id)


async def acquire_live_lease(
    client: Client,
    settings: Settings,
    linkedin_profile_id: int,
    holder: str,
    *,
    lease_seconds: float | None = None,
    demand: Demand | None = None,
) -> LeaseGrant:
    """Wait (keeping our place in line) until the account is ours. Raises 429 LIMIT_REACHED with
    `limit: ACCOUNT_BUSY` after `settings.account_busy_timeout_seconds`, or at once with the limit a
    Smart Limit names (`reason` other than ACCOUNT_BUSY: a bucket, COOL_DOWN, LINKEDIN_THROTTLED).
    The grant carries the `units` granted (reserved until the release settles them)."""
    # Long enough for the live call and its durable tail; short enough that a crashed holder frees it.
    seconds = lease_seconds or max(120.0, settings.live_timeout_seconds * 2)
    waiter = _Waiter(client, settings, linkedin_profile_id, holder, seconds, demand)
    try:
        return await waiter.wait()
    except BaseException:
        # Timed out, refused or cancelled (the caller hung up): withdraw our place in line at once rather
        # than leave the account idle until the ticket goes stale, and give back a grant we will not use.
        await asyncio.shield(waiter.withdraw())
        raise


# Polls this process sends at once to one account's workflow. Temporal refuses more than 10 updates in flight
# per workflow (RESOURCE_EXHAUSTED); a burst of live calls retrying those refusals starves the workflow of
# progress (its update tasks keep being superseded). Callers beyond this wait here, in arrival order (FIFO).
MAX_POLLS_IN_FLIGHT = 5
# Backoff after a transient error (busy workflow, continue-as-new, server blip): doubling, with jitter.
TRANSIENT_BACKOFF_MIN = 0.05
TRANSIENT_BACKOFF_MAX = 1.0


class _Gate:
    def __init__(self) -> None:
        self.slots = asyncio.Semaphore(MAX_POLLS_IN_FLIGHT)
        self.users = 0


_gates: dict[int, _Gate] = {}


async def _gated_request(
    client: Client, task_queue: str, linkedin_profile_id: int, request: LeaseRequest, with_start: bool
) -> LeaseGrant:
    gate = _gates.get(linkedin_profile_id)
    if gate is None:
        gate = _gates[linkedin_profile_id] = _Gate()
    gate.users += 1
    try:
        async with gate.slots:
            return await request_lease(
                client, task_queue, linkedin_profile_id, request, with_start=with_start
            )
    finally:
        gate.users -= 1
        if gate.users == 0 and _gates.get(linkedin_profile_id) is gate:
            del _gates[linkedin_profile_id]


class _Waiter:
    def __init__(
        self,
        client: Client,
        settings: Settings,
        linkedin_profile_id: int,
        holder: str,
        seconds: float,
        demand: Demand | None = None,
    ):
        self.demand = demand
        self.client = client
        self.settings = settings
        self.profile_id = linkedin_profile_id
        self.holder = holder
        self.seconds = seconds
        self.ticket: str | None = None
        self.pending: asyncio.Future[LeaseGrant] | None = None

    async def wait(self) -> LeaseGrant:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.account_busy_timeout_seconds
        failures = 0
        while True:
            request = LeaseRequest(
                holder=self.holder,
                kind="live",
                lease_seconds=self.seconds,
                ticket=self.ticket,
                demand=self.demand,
            )
            # A plain update: the account's workflow runs from the moment it connects, and update-with-start
            # costs the server noticeably more CPU per call. request_lease falls back to it on NOT_FOUND.
            self.pending = asyncio.ensure_future(
                _gated_request(
                    self.client, self.settings.temporal_task_queue, self.profile_id, request, False
                )
            )
            try:
                grant = await asyncio.shield(self.pending)
            except WorkflowUpdateFailedError:
                raise  # the validator refused our own request: a bug, not the caller's fault
            except RPCError as exc:
                if exc.status not in _TRANSIENT:
                    raise
                log.debug("lease poll for account %s failed transiently: %s", self.profile_id, exc)
                failures += 1
                backoff = min(TRANSIENT_BACKOFF_MAX, TRANSIENT_BACKOFF_MIN * 2**failures)
                grant = LeaseGrant(granted=False, retry_after_seconds=backoff * (0.5 + random.random()))
            else:
                failures = 0
            self.pending = None
            if grant.granted:
                return grant
            if grant.reason not in (None, "ACCOUNT_BUSY"):
                self.ticket = None  # a refused caller is out of line already: nothing to withdraw
                raise limit_reached(grant)
            self.ticket = grant.ticket or self.ticket
            retry = grant.retry_after_seconds or 0.1
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise account_busy(retry)
            await asyncio.sleep(min(retry, remaining))

    async def withdraw(self) -> None:
        if self.pending is not None:
            try:
                grant = await asyncio.wait_for(self.pending, timeout=10)
            except Exception:  # nothing was granted, or it expires on its own
                grant = None
            if grant is not None and grant.granted and grant.lease_id:
                await release_live_lease(self.client, self.profile_id, grant.lease_id)
                return
            if grant is not None and grant.ticket:
                self.ticket = grant.ticket
        if self.ticket:
            await release_live_lease(self.client, self.profile_id, self.ticket)


async def release_live_lease(
    client: Client,
    linkedin_profile_id: int,
    lease_id: str,
    *,
    used: dict[str, int] | None = None,
    throttled_retry_after_seconds: float | None = None,
    exhausted_buckets: Iterable[str] = (),
) -> None:
    """Give the account back without waiting for the workflow's answer (the next caller is polling),
    settling the grant to what was `used` (None: as granted) and reporting LinkedIn's throttle or the
    buckets it refused itself."""
    try:
        await give_back_lease(
            client,
            linkedin_profile_id,
            lease_id,
            wait=False,
            used=used,
            throttled_retry_after_seconds=throttled_retry_after_seconds,
            exhausted_buckets=exhausted_buckets,
        )
    except RPCError as exc:  # it expires on its own
        log.warning("could not release lease on account %s: %s", linkedin_profile_id, exc)
