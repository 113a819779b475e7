"""Smart Limits (API.md §7), pure and deterministic: importable from workflow code.

Nothing here reads the clock or does I/O — every function takes `now` (an aware datetime). The per-account
workflow (workflows/account.py) keeps the state (`LimitsState`) and calls these through the permit decisions
of edgewise/permit_policy.py; the API uses the same functions to validate overrides and to compute
effective limits, so both sides agree.

- The bucket table: defaults per LinkedIn level (`None` = unlimited) and the sliding window of each bucket.
- Overrides: `validate_overrides` (≤ 2× a default, not negative, a known bucket, `null` removes) and
  `effective_limit` (identity override wins over the workspace's; capped at 2× the level's default).
- Ramp-up: `ramped` — a new account gets 20 % of each limit on day 1 (rounded down, at least 1 unless the
  limit is 0), +20 % a day, 100 % from day 5; not in the `test` and `unlimited` profiles.
- Sliding windows: `SlidingWindow` over a compact event list `[[slot, count], …]` (slot = epoch seconds,
  rounded *up* to `EVENT_RESOLUTION_SECONDS`, so an event never leaves its window early), with
  `consumed(now)`, `available_at(now, need, limit)` and pruning.
- Pacing gaps by class, working hours in the identity's IANA time zone (`next_open`), the cool-down.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

Level = Literal["classic", "premium", "sales_navigator"]
Profile = Literal["standard", "test", "unlimited"]
Scope = Literal["identity", "workspace"]

LEVELS: tuple[Level, ...] = ("classic", "premium", "sales_navigator")
DEFAULT_LEVEL: Level = "classic"

DAY = 86_400
# Overrides may raise a default up to this factor.
OVERRIDE_FACTOR = 2
# A new account ramps up over this many days (day 1 = 1/RAMP_DAYS of each limit).
RAMP_DAYS = 5
# In the `standard` profile an account cools down this long after LinkedIn throttled it.
COOL_DOWN_SECONDS = 2 * 3600
# Window events are stored per slot of this many seconds (rounded up): keeps the state small (at most one
# event per bucket a minute) and errs on the safe side (an event leaves its window at most this much late).
EVENT_RESOLUTION_SECONDS = 60


# bucket → ({level: default limit, None = unlimited}, window seconds) — API.md §7's table.
BUCKETS: dict[str, tuple[dict[str, int | None], int]] = {
    "LK_PROFILE_VISITS": ({"classic": 80, "premium": 80, "sales_navigator": 150}, DAY),
    "LK_CONNECTION_REQUESTS": ({"classic": 25, "premium": 25, "sales_navigator": 30}, DAY),
    "LK_CONNECTION_REQUESTS_WEEKLY": ({"classic": 100, "premium": 100, "sales_navigator": 150}, 7 * DAY),
    "LK_CONNECTION_NOTES": ({"classic": 5, "premium": None, "sales_navigator": None}, 30 * DAY),
    "LK_MESSAGES_SENT": ({"classic": 100, "premium": 100, "sales_navigator": 100}, DAY),
    "LK_INMAILS": ({"classic": 0, "premium": 15, "sales_navigator": 50}, 30 * DAY),
    "LK_PROFILE_ENRICHMENTS": ({"classic": 1400, "premium": 1400, "sales_navigator": 2100}, DAY),
    "LK_SEARCH_RESULTS": ({"classic": 1000, "premium": 1000, "sales_navigator": 2500}, DAY),
    "LK_INVITATION_ACTIONS": ({"classic": 100, "premium": 100, "sales_navigator": 100}, DAY),
}

# When a bucket only applies under a condition of the request (shown by GET …/actions/{slug}/limits).
APPLIES_WHEN: dict[str, str] = {"LK_CONNECTION_NOTES": "parameters.message is set"}

# Random gaps (seconds, min–max) between async/scheduled actions of one class on one account.
PACING_GAPS: dict[str, tuple[float, float]] = {
    "invitation": (45.0, 90.0),
    "message": (30.0, 60.0),
    "visit": (20.0, 40.0),
    "invitation_action": (10.0, 20.0),
    "read": (1.0, 3.0),
}


def _level(level: str | None) -> str:
    return level if level in LEVELS else DEFAULT_LEVEL


def window_seconds(bucket: str) -> int:
    """The bucket's sliding window (a day for a bucket the table does not know)."""
    known = BUCKETS.get(bucket)
    return known[1] if known is not None else DAY


def default_limit(bucket: str, level: str | None) -> int | None:
    """The default of `bucket` for this level (classic when None or unknown); None = unlimited."""
    return BUCKETS[bucket][0][_level(level)]


def max_override(bucket: str, level: str | None, scope: Scope = "identity") -> int | None:
    """The highest override allowed (None = no ceiling): 2× the level's default for identity overrides,
    2× the highest default of any level for workspace overrides."""
    if scope == "workspace":
        defaults = list(BUCKETS[bucket][0].values())
        if any(d is None for d in defaults):
            return None
        return OVERRIDE_FACTOR * max(d for d in defaults if d is not None)
    base = default_limit(bucket, level)
    return None if base is None else OVERRIDE_FACTOR * base


def validate_overrides(
    overrides: Mapping[str, Any], level: str | None, scope: Scope = "identity"
) -> list[dict[str, str]]:
    """Errors `[{field: "limits.<BUCKET>", message}]` of an overrides document (empty when valid).

    Values are integers ≥ 0 and ≤ `max_override`, or `null` (removes the override)."""
    errors: list[dict[str, str]] = []
    for bucket, value in overrides.items():
        field = f"limits.{bucket}"
        if bucket not in BUCKETS:
            errors.append({"field": field, "message": f"unknown limit bucket; known: {', '.join(BUCKETS)}"})
            continue
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append({"field": field, "message": "must be an integer or null"})
            continue
        if value < 0:
            errors.append({"field": field, "message": "must not be negative"})
            continue
        ceiling = max_override(bucket, level, scope)
        if ceiling is not None and value > ceiling:
            whose = "the highest default" if scope == "workspace" else f"the {_level(level)} default"
            errors.append({"field": field, "message": f"must be at most {ceiling} (2× {whose})"})
    return errors


def apply_overrides(current: Mapping[str, Any] | None, changes: Mapping[str, Any]) -> dict[str, int]:
    """The stored overrides after a PUT: `changes` set their buckets, `null` removes one."""
    merged = {k: v for k, v in (current or {}).items() if k in BUCKETS and _is_count(v)}
    for bucket, value in changes.items():
        if value is None:
            merged.pop(bucket, None)
        else:
            merged[bucket] = int(value)
    return {k: merged[k] for k in BUCKETS if k in merged}


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def effective_limit(
    bucket: str,
    level: str | None,
    workspace_overrides: Mapping[str, Any] | None = None,
    identity_overrides: Mapping[str, Any] | None = None,
) -> int | None:
    """The limit that applies before ramp-up (None = unlimited): the identity's override, else the
    workspace's, else the level's default — capped at 2× the level's default."""
    base = default_limit(bucket, level)
    override: int | None = None
    for source in (identity_overrides, workspace_overrides):
        if source and _is_count(source.get(bucket)):
            override = int(source[bucket])
            break
    if override is None:
        return base
    return override if base is None else min(override, OVERRIDE_FACTOR * base)


def effective_limits(
    buckets: tuple[str, ...] | list[str],
    level: str | None,
    workspace_overrides: Mapping[str, Any] | None = None,
    identity_overrides: Mapping[str, Any] | None = None,
) -> dict[str, int | None]:
    """`effective_limit` for each bucket (what `Demand.limits` / `LimitsQuery.limits` carry)."""
    return {b: effective_limit(b, level, workspace_overrides, identity_overrides) for b in buckets}


# --- ramp-up ---------------------------------------------------------------------------------------------


def ramp_day(first_seen_at: datetime, now: datetime) -> int:
    """1 on the first 24 hours since the account was first seen, 2 on the next, …"""
    return max(0, math.floor((now - first_seen_at).total_seconds() / DAY)) + 1


def ramped(limit: int | None, first_seen_at: datetime | None, now: datetime, profile: str) -> int | None:
    """The limit on this day of the account's ramp-up: day d allows d × 20 % (rounded down, at least 1 unless
    the limit is 0), 100 % from day 5. No ramp-up in the `test` and `unlimited` profiles."""
    if limit is None or profile != "standard" or first_seen_at is None:
        return limit
    day = ramp_day(first_seen_at, now)
    if day >= RAMP_DAYS or limit == 0:
        return limit
    return max(1, limit * day // RAMP_DAYS)


def next_ramp_step(first_seen_at: datetime | None, now: datetime, profile: str) -> datetime | None:
    """When the ramp-up next raises the limits (None once it is over or in other profiles)."""
    if profile != "standard" or first_seen_at is None:
        return None
    day = ramp_day(first_seen_at, now)
    if day >= RAMP_DAYS:
        return None
    return first_seen_at + timedelta(seconds=day * DAY)


# --- sliding windows -------------------------------------------------------------------------------------


def to_slot(at: datetime) -> int:
    """Epoch seconds of `at`, rounded up to the event resolution."""
    res = EVENT_RESOLUTION_SECONDS
    return math.ceil(at.timestamp() / res) * res


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class SlidingWindow:
    """One bucket's window over a compact, ascending event list `[[slot, count], …]` (mutated in place, so
    the list can live in serialisable state). An event counts while `now < slot + window_seconds`."""

    def __init__(self, window_seconds: int, events: list[list[int]] | None = None):
        self.window_seconds = window_seconds
        self.events: list[list[int]] = events if events is not None else []

    def _cutoff(self, now: datetime) -> float:
        return now.timestamp() - self.window_seconds

    def prune(self, now: datetime) -> None:
        cutoff = self._cutoff(now)
        drop = 0
        while drop < len(self.events) and (self.events[drop][0] <= cutoff or self.events[drop][1] <= 0):
            drop += 1
        if drop:
            del self.events[:drop]
        if any(e[1] <= 0 for e in self.events):
            self.events[:] = [e for e in self.events if e[1] > 0]

    def add(self, at: datetime, count: int) -> int:
        """Count `count` units at `at`; answers the slot they were recorded at (to settle them later)."""
        slot = to_slot(at)
        if count > 0:
            self.add_at_slot(slot, count)
        return slot

    def add_at_slot(self, slot: int, count: int) -> None:
        if count <= 0:
            return
        for event in reversed(self.events):
            if event[0] == slot:
                event[1] += count
                return
            if event[0] < slot:
                break
        self.events.append([slot, count])
        if len(self.events) > 1 and self.events[-2][0] > slot:
            self.events.sort(key=lambda e: e[0])

    def remove(self, slot: int, count: int) -> int:
        """Uncount up to `count` units recorded at `slot` (a reservation settled lower); answers how many."""
        for index in range(len(self.events) - 1, -1, -1):
            event = self.events[index]
            if event[0] == slot:
                taken = min(count, event[1])
                event[1] -= taken
                if event[1] <= 0:
                    del self.events[index]
                return taken
            if event[0] < slot:
                break
        return 0

    def consumed(self, now: datetime) -> int:
        cutoff = self._cutoff(now)
        return sum(count for slot, count in self.events if slot > cutoff)

    def release_time(self, now: datetime, units: int) -> datetime | None:
        """When at least `units` of the units counted now will have left the window (now if units ≤ 0,
        None if fewer are counted)."""
        if units <= 0:
            return now
        cutoff = self._cutoff(now)
        freed = 0
        for slot, count in self.events:
            if slot <= cutoff:
                continue
            freed += count
            if freed >= units:
                return from_epoch(slot + self.window_seconds)
        return None

    def available_at(self, now: datetime, need: int, limit: int | None, pending: int = 0) -> datetime | None:
        """When `need` more units fit under `limit` (with `pending` units promised to others): now if they
        fit already, None if they never can (need + pending > limit)."""
        if limit is None:
            return now
        if need + pending > limit:
            return None
        return self.release_time(now, self.consumed(now) + pending + need - limit)

    def oldest_expiry(self, now: datetime) -> datetime | None:
        """When the oldest counted event leaves the window (None if nothing is counted)."""
        cutoff = self._cutoff(now)
        for slot, count in self.events:
            if slot > cutoff and count > 0:
                return from_epoch(slot + self.window_seconds)
        return None


def limit_available_at(
    window: SlidingWindow,
    limit: int | None,
    need: int,
    pending: int,
    now: datetime,
    first_seen_at: datetime | None,
    profile: str,
) -> datetime | None:
    """When `need` more units fit under `limit` ramped (with `pending` promised to others): the earlier of
    the window freeing enough and a ramp-up step raising the limit enough. None: never (e.g. a limit of 0)."""
    candidates: list[datetime] = []
    at = window.available_at(now, need, ramped(limit, first_seen_at, now, profile), pending)
    if at is not None:
        candidates.append(at)
    step = next_ramp_step(first_seen_at, now, profile)
    while step is not None:
        at = window.available_at(step, need, ramped(limit, first_seen_at, step, profile), pending)
        if at is not None:
            candidates.append(at)
        step = next_ramp_step(first_seen_at, step, profile)
    return min(candidates) if candidates else None


class LimitsState(BaseModel):
    """The Smart Limits state of one LinkedIn account (carried across continue-as-new).

    `windows` maps a bucket to its events `[[slot, count], …]`; `exhausted` a bucket LinkedIn refused itself
    to when it counts as used up; `pace_ready_at` a pacing class to when its next action may start."""

    first_seen_at: datetime | None = None
    windows: dict[str, list[list[int]]] = Field(default_factory=dict)
    exhausted: dict[str, datetime] = Field(default_factory=dict)
    throttled_until: datetime | None = None
    cool_down_until: datetime | None = None
    pace_ready_at: dict[str, datetime] = Field(default_factory=dict)

    def window(self, bucket: str) -> SlidingWindow:
        """The bucket's window, to record in (its event list lives in this state)."""
        return SlidingWindow(window_seconds(bucket), self.windows.setdefault(bucket, []))

    def peek(self, bucket: str) -> SlidingWindow:
        """The bucket's window, to read only (never adds an entry to the state)."""
        return SlidingWindow(window_seconds(bucket), self.windows.get(bucket, []))

    def prune(self, now: datetime) -> None:
        for bucket in list(self.windows):
            SlidingWindow(window_seconds(bucket), self.windows[bucket]).prune(now)
            if not self.windows[bucket]:
                del self.windows[bucket]
        self.exhausted = {b: until for b, until in self.exhausted.items() if until > now}
        self.pace_ready_at = {k: at for k, at in self.pace_ready_at.items() if at > now}
        if self.throttled_until is not None and self.throttled_until <= now:
            self.throttled_until = None
        if self.cool_down_until is not None and self.cool_down_until <= now:
            self.cool_down_until = None


# --- pacing ----------------------------------------------------------------------------------------------


def pace_range(pacing_class: str) -> tuple[float, float]:
    """The gap range of a pacing class (unknown classes pace like reads)."""
    return PACING_GAPS.get(pacing_class, PACING_GAPS["read"])


def pace_gap(pacing_class: str, rnd: random.Random) -> float:
    low, high = pace_range(pacing_class)
    return rnd.uniform(low, high)


# --- working hours ---------------------------------------------------------------------------------------

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class WorkingHours:
    days: frozenset[int]  # ISO weekdays, 1 = Monday … 7 = Sunday
    start: time
    end: time


def parse_working_hours(value: Mapping[str, Any] | None) -> WorkingHours | None:
    """`{"days": [1..7], "start": "HH:MM", "end": "HH:MM"}` (None = any time); ValueError if malformed."""
    if value is None:
        return None
    days = value.get("days")
    if not isinstance(days, list | tuple) or not days:
        raise ValueError("working_hours.days must be a non-empty list of ISO weekdays 1–7")
    if any(isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 7 for d in days):
        raise ValueError("working_hours.days must be ISO weekdays 1–7")
    bounds: list[time] = []
    for key in ("start", "end"):
        text = value.get(key)
        match = _HHMM.match(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"working_hours.{key} must be HH:MM")
        bounds.append(time(int(match.group(1)), int(match.group(2))))
    if bounds[0] >= bounds[1]:
        raise ValueError("working_hours.end must be after start")
    return WorkingHours(frozenset(days), bounds[0], bounds[1])


def zone(tz: str) -> ZoneInfo:
    """The IANA zone (ValueError when unknown)."""
    try:
        return ZoneInfo(tz)
    except (KeyError, ValueError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown time zone {tz!r}") from exc


def next_open(
    now: datetime, working_hours: Mapping[str, Any] | WorkingHours | None, tz: str
) -> datetime | None:
    """None when outreach may run now (inside the working hours, or `working_hours` is None = any time);
    otherwise the instant (UTC) the next working period starts.

    Local times follow the zone's daylight saving rules: a start that does not exist that day (inside a
    spring-forward gap) begins at the shifted instant; one that exists twice begins at the first."""
    hours = working_hours if isinstance(working_hours, WorkingHours) else parse_working_hours(working_hours)
    if hours is None:
        return None
    local_zone = zone(tz)
    local = now.astimezone(local_zone)
    wall = local.time().replace(tzinfo=None)
    if local.isoweekday() in hours.days and hours.start <= wall < hours.end:
        return None
    day: date = local.date()
    for offset in range(8):
        candidate_day = day + timedelta(days=offset)
        if candidate_day.isoweekday() not in hours.days:
            continue
        # fold=0: the first of a repeated time; a nonexistent time maps to the shifted instant.
        start = datetime.combine(candidate_day, hours.start, tzinfo=local_zone).astimezone(UTC)
        if start > now:
            return start
    return None  # unreachable with at least one day
