"""Smart Limits' permit decisions for one LinkedIn account (API.md §7), pure and deterministic.

The per-account workflow (workflows/account.py) keeps an account's `LimitsState` and calls these on every
permit; the 30-day simulation (bench/simulate_limits.py) calls the very same functions with a virtual
clock, so what it measures is the production policy, not a copy. Nothing here reads the clock, draws
randomness of its own or does I/O: `now` and the random source are passed in (the workflow passes
`workflow.now()` and `workflow.random()`, which keeps it replay-safe). The arithmetic of windows, ramp-up,
working hours and pacing gaps is in edgewise/limits.py.

A permit goes through three steps:

- `admit` (before the lease logic): LinkedIn's own throttle (`LINKEDIN_THROTTLED`, every request, every
  profile); the rest only for requests with a `demand`. In `standard` only: the 2 h cool-down after a
  throttle (`COOL_DOWN`), the working hours (`WORKING_HOURS`, when the demand gives them: async outreach)
  and the pacing gap since the last action of the demand's class (`PACING`, async work only). Then each
  bucket of `demand.units` against its ramped effective limit, minus what its window counts and what
  `pending` (live callers waiting in line) was promised. A write needs all its units; a read (`partial`)
  may be granted fewer (≥ 1). Answers a refusal (a `LeaseGrant` with `reason` and `available_at`), an
  `Admission` (what a grant now would give), or None (no demand: no Smart Limits asked).
- `reserve` (when the lease is granted): the units count in the windows from the grant on, and the pacing
  gap is drawn.
- `release`: settle the reservation to what was really used, start the class's pacing gap from the end of
  the action, and record what LinkedIn said (a throttle → wait + cool-down; a bucket it refused itself →
  used up until its window frees).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from edgewise import limits as sl
from workflows.contracts import Demand, LeaseGrant, LimitsQuery, LimitView

THROTTLED = "LINKEDIN_THROTTLED"
COOL_DOWN = "COOL_DOWN"
WORKING_HOURS = "WORKING_HOURS"
PACING = "PACING"


@dataclass
class Admission:
    """What a request passing the Smart Limits gets if it is granted now."""

    units: dict[str, int]  # granted units per bucket
    counted: bool  # reserved in the windows (False in the `unlimited` profile)
    promised: dict[str, int]  # what the request asked (kept for it while it waits in line)
    pacing: str | None = None
    pace_seconds: tuple[float, float] | None = None


@dataclass
class Reservation:
    """What a granted permit holds until its release (the workflow keeps these fields on its lease)."""

    units: dict[str, int] | None = None
    counted: bool = False
    reserved_slot: int | None = None
    pacing: str | None = None
    pace_gap: float | None = None
    pace_seconds: tuple[float, float] | None = None


def refuse(reason: str, available_at: datetime, now: datetime) -> LeaseGrant:
    wait = max((available_at - now).total_seconds(), 0.05)
    return LeaseGrant(granted=False, retry_after_seconds=wait, reason=reason, available_at=available_at)


def later(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate > current else current


def admit(
    limits: sl.LimitsState, demand: Demand | None, now: datetime, pending: dict[str, int]
) -> LeaseGrant | Admission | None:
    """Refuse a request (`LeaseGrant(granted=False, reason=…, available_at=…)`), or admit it with what a grant
    would give (`Admission`). None: no Smart Limits asked (no demand). `pending`: units per bucket already
    promised to live callers ahead of this request."""
    if limits.throttled_until is not None and limits.throttled_until > now:
        return refuse(THROTTLED, limits.throttled_until, now)
    if demand is None:
        return None
    standard = demand.profile == "standard"
    if standard and limits.cool_down_until is not None and limits.cool_down_until > now:
        return refuse(COOL_DOWN, limits.cool_down_until, now)
    if standard and demand.working_hours is not None:
        opens = sl.next_open(now, demand.working_hours, demand.timezone)
        if opens is not None:
            return refuse(WORKING_HOURS, opens, now)
    units: dict[str, int] = {}
    counted = demand.profile != "unlimited"
    if counted:
        fitted = fit(limits, demand, now, pending)
        if isinstance(fitted, tuple):
            bucket, available_at = fitted
            return refuse(bucket, available_at, now)
        units = fitted
    else:
        units = {bucket: n for bucket, n in demand.units.items() if n > 0}
    pacing = demand.pacing if standard else None
    if pacing is not None:
        ready = limits.pace_ready_at.get(pacing)
        if ready is not None and ready > now:
            return refuse(PACING, ready, now)
    return Admission(
        units=units,
        counted=counted,
        promised={b: n for b, n in demand.units.items() if n > 0} if counted else {},
        pacing=pacing,
        pace_seconds=sl.pace_range(pacing) if pacing is not None else None,
    )


def reserve(limits: sl.LimitsState, admission: Admission, now: datetime, rnd: random.Random) -> Reservation:
    """Reserve the granted units in the windows (they count from the grant) and draw the pacing gap."""
    held = Reservation(units=dict(admission.units), counted=admission.counted)
    if admission.counted:
        held.reserved_slot = sl.to_slot(now)
        for bucket, n in admission.units.items():
            limits.window(bucket).add_at_slot(held.reserved_slot, n)
    if admission.pacing is not None:
        held.pacing = admission.pacing
        held.pace_gap = sl.pace_gap(admission.pacing, rnd)
        held.pace_seconds = admission.pace_seconds
        # Should the release never come (the holder died), the gap still runs from the grant.
        ready = now + timedelta(seconds=held.pace_gap)
        limits.pace_ready_at[admission.pacing] = later(limits.pace_ready_at.get(admission.pacing), ready)
    return held


def release(
    limits: sl.LimitsState,
    held: Reservation | None,
    now: datetime,
    used: dict[str, int] | None = None,
    throttled_retry_after_seconds: float | None = None,
    exhausted_buckets: list[str] | None = None,
) -> None:
    """The end of a permit: settle `held` (None: the lease was already released, expired or taken over) to
    what was `used` (None = as granted) and start its pacing gap; then record what LinkedIn said, which
    holds for the account whatever became of the lease (a late release still tells)."""
    if held is not None:
        settle(limits, held, used, now)
        if held.pacing is not None and held.pace_gap is not None:
            # The class's next action waits its gap from the end of this one.
            limits.pace_ready_at[held.pacing] = now + timedelta(seconds=held.pace_gap)
    if throttled_retry_after_seconds is not None:
        until = now + timedelta(seconds=throttled_retry_after_seconds)
        limits.throttled_until = later(limits.throttled_until, until)
        # Only `standard` requests honour the cool-down (checked per request: the release has no profile).
        cool_down_ends = until + timedelta(seconds=sl.COOL_DOWN_SECONDS)
        limits.cool_down_until = later(limits.cool_down_until, cool_down_ends)
    for bucket in exhausted_buckets or []:
        window = limits.window(bucket)
        frees = window.oldest_expiry(now) or now + timedelta(seconds=window.window_seconds)
        limits.exhausted[bucket] = later(limits.exhausted.get(bucket), frees)


def settle(limits: sl.LimitsState, held: Reservation, used: dict[str, int] | None, now: datetime) -> None:
    """Settle a grant's reservation to what was really used (None: as granted), counted from the release.

    LinkedIn saw the writes somewhere between the grant and the release, and counts each from then: counted
    from the grant, an event could leave our window a few seconds before it leaves LinkedIn's, and the next
    action then be one too many in LinkedIn's window. The 30-day simulation found exactly that — a Sales
    Navigator account, whose weekly default (150) is LinkedIn's own tolerance, restricted — so the units
    move to the release's slot (a lease lasts minutes, a window at least a day: the grant's slot is still in
    the window here)."""
    if not held.counted or held.units is None or held.reserved_slot is None:
        return
    spent_by_bucket = held.units if used is None else used
    release_slot = max(held.reserved_slot, sl.to_slot(now))
    for bucket in set(held.units) | set(spent_by_bucket):
        if bucket not in held.units and bucket not in sl.BUCKETS:
            continue
        granted = held.units.get(bucket, 0)
        spent = max(0, spent_by_bucket.get(bucket, 0))
        if granted == spent and (granted == 0 or release_slot == held.reserved_slot):
            continue
        window = limits.window(bucket)
        window.remove(held.reserved_slot, granted)
        window.add_at_slot(release_slot, spent)


def limit_of(demand_limits: dict[str, int | None], bucket: str) -> int | None:
    """The asker's effective limit; a bucket it left out gets the classic default (unknown: unlimited)."""
    if bucket in demand_limits:
        return demand_limits[bucket]
    return sl.default_limit(bucket, None) if bucket in sl.BUCKETS else None


def fit(
    limits: sl.LimitsState, demand: Demand, now: datetime, pending: dict[str, int]
) -> dict[str, int] | tuple[str, datetime]:
    """The units each bucket can grant now, or the refusing bucket and when it frees (the latest of those
    refusing). A write needs all its units; a read may be cut, to at least 1."""
    granted: dict[str, int] = {}
    refusals: list[tuple[str, datetime]] = []
    for bucket, need in demand.units.items():
        if need <= 0:
            continue
        window = limits.peek(bucket)
        exhausted = limits.exhausted.get(bucket)
        if exhausted is not None and exhausted > now:
            refusals.append((bucket, exhausted))
            continue
        limit = limit_of(demand.limits, bucket)
        allowed = sl.ramped(limit, limits.first_seen_at, now, demand.profile)
        if allowed is None:
            granted[bucket] = need
            continue
        free = allowed - window.consumed(now) - pending.get(bucket, 0)
        if free >= need:
            granted[bucket] = need
        elif demand.partial and free >= 1:
            granted[bucket] = free
        else:
            at_least = 1 if demand.partial else need
            when = sl.limit_available_at(
                window, limit, at_least, pending.get(bucket, 0), now, limits.first_seen_at, demand.profile
            )
            refusals.append((bucket, when or now + timedelta(seconds=window.window_seconds)))
    if refusals:
        return max(refusals, key=lambda r: r[1])
    return granted


def limit_views(
    limits: sl.LimitsState, query: LimitsQuery, now: datetime, pending: dict[str, int] | None = None
) -> list[LimitView]:
    """Each bucket of `query.limits` as the next request would find it: `max_limit` ramped, `consumed` in
    the window (reservations included), `remaining` after what callers in line were promised."""
    views: list[LimitView] = []
    for bucket, limit in query.limits.items():
        window = limits.peek(bucket)
        consumed = window.consumed(now)
        if query.profile == "unlimited":
            views.append(
                LimitView(
                    slug=bucket,
                    max_limit=None,
                    consumed=consumed,
                    remaining=None,
                    window_seconds=window.window_seconds,
                    has_reached_limit=False,
                    available_at=None,
                )
            )
            continue
        allowed = sl.ramped(limit, limits.first_seen_at, now, query.profile)
        waiting = (pending or {}).get(bucket, 0)
        exhausted = limits.exhausted.get(bucket)
        available_at: datetime | None = None
        if exhausted is not None and exhausted > now:
            remaining: int | None = 0
            available_at = exhausted
        elif allowed is None:
            remaining = None
        else:
            remaining = max(0, allowed - consumed - waiting)
            if remaining == 0:
                available_at = sl.limit_available_at(
                    window, limit, 1, waiting, now, limits.first_seen_at, query.profile
                )
        views.append(
            LimitView(
                slug=bucket,
                max_limit=allowed,
                consumed=consumed,
                remaining=remaining,
                window_seconds=window.window_seconds,
                has_reached_limit=remaining == 0,
                available_at=available_at,
            )
        )
    return views
