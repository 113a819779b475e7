"""The simulation's denominator: the most actions the contract's limits allow an account (API.md §7).

"Allowed" is what the sliding windows, the 5-day ramp-up and the identity's working hours permit over the
simulated period, for the work that was asked — nothing else. Pacing gaps, the one-action-at-a-time lease
and the time an action takes are the platform's own costs, so they are *not* in the denominator: whatever
they waste shows as a lower share.

For one class of action (invitations: the daily and weekly buckets together; messages: the daily bucket),
the maximum is what an omniscient scheduler gets by doing every action at the earliest instant all rules
allow (several at the same instant if they fit). That greedy schedule is optimal: if a feasible schedule
has its i-th action at o_i and the greedy's first i−1 actions are no later than the schedule's, then
fewer (or as many) greedy actions lie in any window ending at o_i, so o_i is feasible for the greedy too —
by induction the greedy's i-th action is never later, and it fits at least as many actions in the period.

Written from the contract's text on purpose, not with edgewise/limits.py: the simulation measures that
module, so it must not also define the yardstick. Times are integer milliseconds (no float drift at the
instant an event leaves its window: an event at `e` counts while `t < e + window`).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DAY_MS = 86_400_000
RAMP_DAYS = 5


@dataclass(frozen=True)
class Rule:
    """One bucket: at most `limit` actions (before ramp-up) in any sliding window of `window_ms`."""

    limit: int
    window_ms: int


def ramped_limit(limit: int, first_seen_ms: int, at_ms: int) -> int:
    """API.md §7: day 1 allows 20 % (rounded down, at least 1 unless the limit is 0), +20 % a day."""
    day = max(0, (at_ms - first_seen_ms) // DAY_MS) + 1
    if day >= RAMP_DAYS or limit == 0:
        return limit
    return max(1, limit * day // RAMP_DAYS)


def next_ramp_step(first_seen_ms: int, at_ms: int) -> int | None:
    day = max(0, (at_ms - first_seen_ms) // DAY_MS) + 1
    return first_seen_ms + day * DAY_MS if day < RAMP_DAYS else None


def to_ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)


def working_periods(
    hours: Mapping[str, Any] | None, tz: str, start_ms: int, end_ms: int
) -> list[tuple[int, int]]:
    """The [start, end) intervals (ms, UTC) of `hours` (`{"days", "start", "end"}` local, ISO weekdays;
    None = any time) inside [start_ms, end_ms), in order."""
    if hours is None:
        return [(start_ms, end_ms)] if start_ms < end_ms else []
    zone = ZoneInfo(tz)
    opens, closes = (time.fromisoformat(str(hours[k])) for k in ("start", "end"))
    days = {int(d) for d in hours["days"]}
    first = datetime.fromtimestamp(start_ms / 1000, UTC).astimezone(zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end_ms / 1000, UTC).astimezone(zone).date() + timedelta(days=1)
    periods: list[tuple[int, int]] = []
    day: date = first
    while day <= last:
        if day.isoweekday() in days:
            lo = max(start_ms, to_ms(datetime.combine(day, opens, tzinfo=zone)))
            hi = min(end_ms, to_ms(datetime.combine(day, closes, tzinfo=zone)))
            if lo < hi:
                periods.append((lo, hi))
        day += timedelta(days=1)
    return periods


def in_periods(periods: Sequence[tuple[int, int]], at_ms: int, slack_ms: int = 0) -> bool:
    """Whether `at_ms` falls in one of `periods`, each extended by `slack_ms` at its end."""
    index = bisect.bisect_right(periods, (at_ms, 2**62)) - 1
    return index >= 0 and periods[index][0] <= at_ms < periods[index][1] + slack_ms


def most_actions(
    rules: Sequence[Rule],
    first_seen_ms: int,
    periods: Sequence[tuple[int, int]],
    demand: int,
) -> list[int]:
    """The greedy schedule (ms) of at most `demand` actions inside `periods` under every rule, ramped from
    `first_seen_ms`. Its length is the most the rules allow."""
    times: list[int] = []
    if not periods:
        return times
    index = 0
    t = periods[0][0]
    while len(times) < demand:
        while index < len(periods) and periods[index][1] <= t:
            index += 1
        if index == len(periods):
            break
        t = max(t, periods[index][0])
        earliest = t
        for rule in rules:
            allowed = ramped_limit(rule.limit, first_seen_ms, t)
            oldest_inside = bisect.bisect_right(times, t - rule.window_ms)
            excess = len(times) - oldest_inside + 1 - allowed
            if excess <= 0:
                continue
            # Enough events must leave the window (the excess-th oldest inside), or the ramp-up must rise.
            candidates = []
            if allowed > 0 and excess <= len(times) - oldest_inside:
                candidates.append(times[oldest_inside + excess - 1] + rule.window_ms)
            step = next_ramp_step(first_seen_ms, t)
            if step is not None:
                candidates.append(step)
            if not candidates:
                return times  # a limit of 0: never
            earliest = max(earliest, min(candidates))
        if earliest > t:
            t = earliest
            continue
        times.append(t)
    return times
