"""The contract's cron grammar and its firing times in a time zone, daylight saving included (API.md §6).

Pure: no I/O, no Temporal. The API validates with `parse_cron`; the firing instants edgewise hands to
Temporal (edgewise/schedule_spec.py) and the `next_execution_at` it shows both come from `firings`.

Grammar: five fields — minute hour day-of-month month day-of-week — each a list of `*`, numbers or ranges,
optionally stepped (`*/15`, `8-18/2`); month names (`jan`…`dec`) and weekday names (`sun`…`sat`) wherever a
number may stand; day-of-week 0–7 (0 and 7 are Sunday). No macros (`@daily`), no seconds or year field, no
`CRON_TZ=`, no `?`, `L`, `W`, `#`, and no step on a bare number (`5/15`: Vixie cron refuses it too).

Days: as in Vixie cron, when both day-of-month and day-of-week are restricted (neither starts with `*`) a day
matches if either does; otherwise both must.

Daylight saving (the contract's rule): each nominal local time fires at most once; a local time that does
not exist on a day (skipped by the clocks going forward) fires once at the shifted instant (02:30 → 03:30
on 2026-03-29 in Europe/Berlin); one that exists twice (clocks going back) fires once, at the first.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_CRON_LENGTH = 255
# How far ahead `next_firing` looks before concluding a cron never fires (Feb 29 on a given weekday recurs
# within 28 years; 8 years covers every leap day and every date that exists at all).
SEARCH_YEARS = 8

_MONTHS = {name: i for i, name in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_WEEKDAYS = {name: i for i, name in enumerate("sun mon tue wed thu fri sat".split())}
_ATOM = re.compile(r"^(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/([0-9]+))?$")


class CronError(ValueError):
    """The text is not a cron of the contract's grammar; the message says why."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int] | None = None


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, _MONTHS),
    _Field("day-of-week", 0, 7, _WEEKDAYS),
)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday … 6 = Saturday (7 folded into 0)
    # Vixie's rule: a field starting with `*` does not restrict (AND); both restricted → either matches (OR).
    days_restricted: bool
    weekdays_restricted: bool

    def matches_date(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return by_day or by_weekday
        return by_day and by_weekday

    def matches(self, wall: datetime) -> bool:
        """Whether this local wall time (to the minute) is one the cron names."""
        return wall.minute in self.minutes and wall.hour in self.hours and self.matches_date(wall.date())

    def times_of_day(self) -> list[tuple[int, int]]:
        return [(h, m) for h in sorted(self.hours) for m in sorted(self.minutes)]


def _value(token: str, field: _Field) -> int:
    if token.isdigit():
        value = int(token)
    elif field.names is not None and token in field.names:
        value = field.names[token]
    else:
        raise CronError(f"{field.name}: {token!r} is not a number" + (" or a name" if field.names else ""))
    if not field.low <= value <= field.high:
        raise CronError(f"{field.name}: {value} is outside {field.low}–{field.high}")
    return value


def _parse_field(text: str, field: _Field) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        match = _ATOM.match(part)
        if match is None:
            raise CronError(f"{field.name}: {part!r} is not a number, name, range, step or `*`")
        base, step_text = match.group(1), match.group(2)
        if base == "*":
            low, high = field.low, field.high
        elif "-" in base:
            first, last = base.split("-", 1)
            low, high = _value(first, field), _value(last, field)
            if low > high:
                raise CronError(f"{field.name}: range {base!r} runs backwards")
        else:
            if step_text is not None:
                raise CronError(f"{field.name}: a step needs `*` or a range before it ({part!r})")
            low = high = _value(base, field)
        step = 1
        if step_text is not None:
            step = int(step_text)
            if not 1 <= step <= field.high:
                raise CronError(f"{field.name}: step {step} is outside 1–{field.high}")
        values.update(range(low, high + 1, step))
    return frozenset(values)


def parse_cron(text: str) -> Cron:
    """The cron, or CronError with the reason (the API answers 400 naming `cron`)."""
    if not isinstance(text, str):
        raise CronError("must be a string")
    if len(text) > MAX_CRON_LENGTH:
        raise CronError(f"must be at most {MAX_CRON_LENGTH} characters")
    stripped = text.strip()
    if stripped.startswith("@"):
        raise CronError("macros like @daily are not supported; write the five fields")
    if "=" in stripped:
        raise CronError("CRON_TZ= and other variables are not supported; use the `timezone` field")
    fields = stripped.lower().split()
    if len(fields) != 5:
        raise CronError(
            f"needs exactly five fields (minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    parsed = [_parse_field(raw, spec) for raw, spec in zip(fields, _FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in parsed[4])
    return Cron(
        minutes=parsed[0],
        hours=parsed[1],
        days=parsed[2],
        months=parsed[3],
        weekdays=weekdays,
        days_restricted=not fields[2].startswith("*"),
        weekdays_restricted=not fields[4].startswith("*"),
    )


# --- firing times ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Firing:
    """One firing: the UTC instant it happens at, and the nominal local time it stands for."""

    at: datetime
    local: datetime  # naive wall-clock time in the schedule's zone

    @property
    def key(self) -> str:
        """What a firing is de-duplicated on: its nominal local time (so 02:30 on a day the clocks go
        back, which Temporal may start twice, makes one run)."""
        return self.local.isoformat(timespec="seconds")


def resolve_local(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant a nominal local time fires at, per the contract's rule.

    PEP 495 already says it: `fold=0` is the first of a repeated wall time, and for a wall time inside a gap
    `fold=0` applies the offset from before the transition — 02:30 + 01:00 = 01:30Z = 03:30 CEST, the
    shifted instant.
    """
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _exists(wall: datetime, zone: ZoneInfo) -> bool:
    return resolve_local(wall, zone).astimezone(zone).replace(tzinfo=None) == wall


def _steady_offset(midnight: datetime, zone: ZoneInfo) -> timedelta | None:
    """The zone's UTC offset all day long, or None when it changes during this local day."""
    today = midnight.replace(tzinfo=zone).utcoffset()
    tomorrow = (midnight + timedelta(days=1)).replace(tzinfo=zone).utcoffset()
    return today if today == tomorrow else None


def _walk(
    cron: Cron, zone: ZoneInfo, first_day: date, last_day: date, start: datetime, end: datetime
) -> Iterator[Firing]:
    """Firings with `start <= at < end` of the local dates `first_day`…`last_day`, in time order, one per
    instant, lazily.

    Resolving wall times is not monotonic across a gap (02:59 shifted fires after 03:00), but never by more
    than the gap, which is under a day: once a date is reached, everything a day before its midnight is final.
    Two nominal times meet at one instant only in a gap (02:30 shifted onto an hourly 03:30): they fire once,
    as the time that really exists.
    """
    pending: dict[datetime, Firing] = {}
    times = [timedelta(hours=h, minutes=m) for h, m in cron.times_of_day()]
    day = first_day
    while day <= last_day:
        final_before = resolve_local(datetime.combine(day, time()), zone) - timedelta(days=1)
        for at in sorted(a for a in pending if a < final_before):
            yield pending.pop(at)
        today, day = day, day + timedelta(days=1)
        if not cron.matches_date(today):
            continue
        midnight = datetime.combine(today, time())
        offset = _steady_offset(midnight, zone)
        if offset is not None:  # no transition today (most days): plain arithmetic on the bounded slice
            midnight_utc = (midnight - offset).replace(tzinfo=UTC)
            first = bisect_left(times, start - midnight_utc)
            stop = bisect_left(times, end - midnight_utc)
            for delta in times[first:stop]:
                pending[midnight_utc + delta] = Firing(at=midnight_utc + delta, local=midnight + delta)
            continue
        for delta in times:
            wall = midnight + delta
            at = resolve_local(wall, zone)
            if start <= at < end and (at not in pending or _exists(wall, zone)):
                pending[at] = Firing(at=at, local=wall)
    for at in sorted(pending):
        yield pending[at]


def iter_firings(cron: Cron, timezone: str, start: datetime, end: datetime) -> Iterator[Firing]:
    """Every firing with `start <= at < end` (aware datetimes), in time order, lazily. Local dates are walked
    from the day before to the day after: a zone's offset moves a local day across UTC midnight."""
    zone = ZoneInfo(timezone)
    first_day = start.astimezone(zone).date() - timedelta(days=1)
    last_day = end.astimezone(zone).date() + timedelta(days=1)
    return _walk(cron, zone, first_day, last_day, start, end)


def firings(cron: Cron, timezone: str, start: datetime, end: datetime) -> list[Firing]:
    return list(iter_firings(cron, timezone, start, end))


# Windows `next_firings` searches in turn: cheap for frequent crons, complete for rare ones.
_SEARCH_WINDOWS = (
    timedelta(hours=2),
    timedelta(days=2),
    timedelta(days=40),
    timedelta(days=366 * SEARCH_YEARS),
)


def next_firings(cron: Cron, timezone: str, after: datetime, count: int = 1) -> list[Firing]:
    """The next `count` firings strictly after `after` (fewer if the cron fires less within SEARCH_YEARS)."""
    start = after + timedelta(microseconds=1)
    found: list[Firing] = []
    for window in _SEARCH_WINDOWS:
        found = firings(cron, timezone, start, start + window)
        if len(found) >= count:
            break
    return found[:count]


def next_firing(cron: Cron, timezone: str, after: datetime) -> Firing | None:
    found = next_firings(cron, timezone, after, 1)
    return found[0] if found else None


def firing_at(cron: Cron, timezone: str, at: datetime) -> Firing | None:
    """The firing edgewise scheduled for this exact instant, if any."""
    at = at.astimezone(UTC).replace(microsecond=0)
    found = firings(cron, timezone, at, at + timedelta(seconds=1))
    return found[0] if found else None
