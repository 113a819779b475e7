"""What edgewise asks a Temporal Schedule to fire: explicit UTC instants, computed by edgewise/cron.py.

Why not Temporal's own cron with `time_zone_name`: measured on the dev server (README, Schedules), Temporal's
calendar gets the days the clocks change wrong in ways one spec cannot patch — in Europe/Berlin it skips
02:30 on 2026-03-29 and fires 02:30 on 2026-10-25 only at its *second* occurrence (America/New_York: at
both), and it even fires at local times the cron does not name (`59 1 * * *` at 02:59 CEST). A wall time
that exists twice cannot be pinned to its first occurrence by a calendar in that zone either. So edgewise
resolves the zone itself and hands Temporal a rolling window of UTC instants, compressed into calendar
entries (one per month and pattern: a daily cron is about one entry a month). The firing activity re-arms
the window before it runs out (`needs_rearm`). Overlap, catch-up, jitter and pause stay Temporal's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice

from temporalio.client import ScheduleCalendarSpec, ScheduleRange, ScheduleSpec

from edgewise.cron import Cron, iter_firings, next_firings

# A window covers up to this long ahead, at most this many firings (a per-minute cron: about a week), and
# at least the next few firings (a yearly cron). It is renewed once half of it has gone by.
ARM_SPAN = timedelta(days=35)
ARM_MAX_FIRINGS = 10_000
ARM_MIN_FIRINGS = 3
# Temporal's calendar takes the years 2000–2100 only ("Year Start is not in range [2000-2100]"). Nothing at or
# after this instant is armed, and the API refuses a `schedule_at` there (a year short of Temporal's end
# leaves room for jitter and for rounding a one-shot up to its second).
SCHEDULE_HORIZON = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ArmPlan:
    """The instants armed in Temporal, and the span they cover."""

    instants: list[datetime]
    armed_at: datetime
    armed_until: datetime  # nothing at or after this is armed


def plan_cron(cron: Cron, timezone: str, start: datetime, now: datetime) -> ArmPlan:
    """The firings to arm: from max(now, start) over ARM_SPAN (at most ARM_MAX_FIRINGS), or the next
    ARM_MIN_FIRINGS when the cron is rarer than that."""
    begin = max(now, start)
    until = begin + ARM_SPAN
    found = list(islice(iter_firings(cron, timezone, begin, until), ARM_MAX_FIRINGS))
    if len(found) == ARM_MAX_FIRINGS:
        until = found[-1].at + timedelta(seconds=1)
    elif len(found) < ARM_MIN_FIRINGS:
        found = next_firings(cron, timezone, begin - timedelta(microseconds=1), ARM_MIN_FIRINGS)
        if found:
            until = max(until, found[-1].at + timedelta(seconds=1))
    if until > SCHEDULE_HORIZON:
        found, until = [f for f in found if f.at < SCHEDULE_HORIZON], max(SCHEDULE_HORIZON, now)
    return ArmPlan(instants=[f.at for f in found], armed_at=now, armed_until=until)


def plan_once(at: datetime, now: datetime) -> ArmPlan:
    """A one-shot: its instant, rounded *up* to the second (Temporal's calendar has no finer field, and a
    one-shot never fires before the time it was asked for)."""
    instant = at.astimezone(UTC)
    if instant.microsecond:
        instant = instant.replace(microsecond=0) + timedelta(seconds=1)
    return ArmPlan(instants=[instant], armed_at=now, armed_until=instant + timedelta(seconds=1))


def needs_rearm(armed_at: datetime | None, armed_until: datetime | None, now: datetime) -> bool:
    """Renew once half of the armed span has gone by (so a long skip or a slow firing never runs it dry)."""
    if armed_at is None or armed_until is None:
        return True
    return now >= armed_at + (armed_until - armed_at) / 2


def _ranges(values: Iterable[int]) -> list[ScheduleRange]:
    """Integers as inclusive ranges: [1, 2, 3, 7] → 1-3, 7."""
    out: list[ScheduleRange] = []
    for value in sorted(set(values)):
        if out and out[-1].end == value - 1:
            out[-1] = ScheduleRange(out[-1].start, value)
        else:
            out.append(ScheduleRange(value, value))
    return out


_MinuteSecond = tuple[int, int]
# A UTC day's shape: (the minute-seconds an hour fires at, the hours that fire so) pairs.
_DayShape = tuple[tuple[tuple[_MinuteSecond, ...], tuple[int, ...]], ...]


def calendar_entries(instants: Sequence[datetime], comment: str = "") -> list[ScheduleCalendarSpec]:
    """UTC instants as few UTC calendar entries as the month/pattern structure allows.

    Per UTC day: which seconds-and-minutes each hour fires at; hours sharing a pattern merge; days of one
    month sharing the same day pattern merge into one entry with a list of days.
    """
    by_day: dict[tuple[int, int, int], dict[int, set[_MinuteSecond]]]
    by_day = defaultdict(lambda: defaultdict(set))
    for instant in instants:
        t = instant.astimezone(UTC)
        by_day[(t.year, t.month, t.day)][t.hour].add((t.minute, t.second))
    patterns: dict[tuple[int, int, _DayShape], list[int]] = defaultdict(list)
    for (year, month, day), day_hours in sorted(by_day.items()):
        hours_by_minutes: dict[tuple[_MinuteSecond, ...], list[int]] = defaultdict(list)
        for hour, fired in sorted(day_hours.items()):
            hours_by_minutes[tuple(sorted(fired))].append(hour)
        shape = tuple(sorted((ms, tuple(hs)) for ms, hs in hours_by_minutes.items()))
        patterns[(year, month, shape)].append(day)
    entries: list[ScheduleCalendarSpec] = []
    for (year, month, shape), days in sorted(patterns.items()):
        for minute_seconds, hours in shape:
            by_seconds: dict[int, list[int]] = defaultdict(list)
            for minute, second in minute_seconds:
                by_seconds[second].append(minute)
            for second, minutes in sorted(by_seconds.items()):
                entries.append(
                    ScheduleCalendarSpec(
                        second=[ScheduleRange(second)],
                        minute=_ranges(minutes),
                        hour=_ranges(hours),
                        day_of_month=_ranges(days),
                        month=[ScheduleRange(month)],
                        year=[ScheduleRange(year)],
                        comment=comment,
                    )
                )
    return entries


def build_spec(plan: ArmPlan, jitter_seconds: int, comment: str = "") -> ScheduleSpec:
    """The Temporal spec: the plan's instants in UTC. An empty plan (a cron that fires beyond the search
    horizon) arms one entry in the past, which never fires: a spec needs something to hold."""
    entries = calendar_entries(plan.instants, comment)
    if not entries:
        entries = [
            ScheduleCalendarSpec(
                second=[ScheduleRange(0)],
                minute=[ScheduleRange(0)],
                hour=[ScheduleRange(0)],
                day_of_month=[ScheduleRange(1)],
                month=[ScheduleRange(1)],
                year=[ScheduleRange(2000)],
                comment="nothing to fire in the armed window",
            )
        ]
    return ScheduleSpec(
        calendars=entries,
        time_zone_name="UTC",
        jitter=timedelta(seconds=jitter_seconds) if jitter_seconds else None,
    )
