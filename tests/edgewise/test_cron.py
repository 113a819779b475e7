"""The cron grammar of API.md §6 and the daylight-saving rule, as pure functions (edgewise/cron.py), and the
UTC calendar entries edgewise arms in Temporal (edgewise/schedule_spec.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import ScheduleCalendarSpec, ScheduleRange

from edgewise.cron import CronError, firing_at, firings, next_firing, next_firings, parse_cron
from edgewise.schedule_spec import (
    ARM_MAX_FIRINGS,
    ARM_MIN_FIRINGS,
    SCHEDULE_HORIZON,
    build_spec,
    calendar_entries,
    needs_rearm,
    plan_cron,
    plan_once,
)

BERLIN = ZoneInfo("Europe/Berlin")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def local_day(cron: str, zone: str, day: date) -> list[tuple[datetime, str]]:
    """(UTC instant, nominal local time) of every firing whose nominal local date is `day`."""
    start = datetime.combine(day, datetime.min.time(), ZoneInfo(zone)) - timedelta(hours=6)
    found = firings(
        parse_cron(cron), zone, start.astimezone(UTC), start.astimezone(UTC) + timedelta(hours=36)
    )
    return [(f.at, f.key) for f in found if f.local.date() == day]


# --- grammar ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "0 9 * * 1-5",
        "*/15 8-18 * * mon-fri",
        "0 0 1,15 jan-jun/2 *",
        "30 2 * * 0",
        "0 0 * * 7",
        "0 9 * * MON",
        "5,10-20/5,59 0-23/6 1-31 1-12 0-7",
        "  0 9 * * *  ",
    ],
)
def test_the_contracts_grammar_parses(text: str) -> None:
    parse_cron(text)


@pytest.mark.parametrize(
    "text",
    [
        "0 0 9 * * *",  # six fields (seconds)
        "0 9 * * * 2027",  # a year field
        "0 9 * *",
        "",
        "@daily",
        "@every 5m",
        "0 25 * * *",
        "60 * * * *",
        "* * 0 * *",
        "* * 32 * *",
        "* * * 13 *",
        "* * * * 8",
        "CRON_TZ=Europe/Paris 0 9 * * *",
        "TZ=UTC 0 9 * * *",
        "5/15 * * * *",
        "*/0 * * * *",
        "20-10 * * * *",
        "? * * * *",
        "0 9 L * *",
        "0 9 * * 1#2",
        "0 9 15W * *",
        "mon * * * *",
        "0 9 * * funday",
        "0 9 * * 1,",
        "-1 * * * *",
        "0 0 * * sat-sun",  # backwards (6-0); write 6-7 or sat,sun
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(CronError):
        parse_cron(text)


def test_day_of_week_seven_is_sunday_and_names_are_numbers() -> None:
    assert parse_cron("0 0 * * 7").weekdays == parse_cron("0 0 * * 0").weekdays == frozenset({0})
    assert parse_cron("0 0 * * 5-7").weekdays == frozenset({5, 6, 0})
    assert parse_cron("0 0 * jan,dec mon-fri").months == frozenset({1, 12})


def test_both_day_fields_restricted_means_either_one_as_in_vixie_cron() -> None:
    friday_13th = parse_cron("0 0 13 * 5")
    assert friday_13th.matches_date(date(2026, 11, 13))  # a Friday the 13th
    assert friday_13th.matches_date(date(2026, 11, 20))  # a Friday
    assert friday_13th.matches_date(date(2026, 12, 13))  # a Sunday the 13th
    assert not friday_13th.matches_date(date(2026, 11, 21))
    every_other_monday = parse_cron("0 0 */2 * 1")  # `*/2` starts with `*`: both must match
    assert every_other_monday.matches_date(date(2026, 11, 23))  # Monday the 23rd
    assert not every_other_monday.matches_date(date(2026, 11, 30))  # Monday the 30th
    assert not every_other_monday.matches_date(date(2026, 11, 25))


# --- daylight saving, 2026 in Europe/Berlin ----------------------------------------------------------


def test_a_nonexistent_local_time_fires_once_at_the_shifted_instant() -> None:
    # 2026-03-29: clocks go from 02:00 CET to 03:00 CEST; 02:30 does not exist.
    assert local_day("30 2 * * *", "Europe/Berlin", date(2026, 3, 29)) == [
        (utc(2026, 3, 29, 1, 30), "2026-03-29T02:30:00")  # 03:30 CEST
    ]
    assert utc(2026, 3, 29, 1, 30).astimezone(BERLIN).strftime("%H:%M %Z") == "03:30 CEST"


def test_a_repeated_local_time_fires_once_at_the_first() -> None:
    # 2026-10-25: clocks go from 03:00 CEST back to 02:00 CET; 02:30 happens at 00:30Z and at 01:30Z.
    assert local_day("30 2 * * *", "Europe/Berlin", date(2026, 10, 25)) == [
        (utc(2026, 10, 25, 0, 30), "2026-10-25T02:30:00")  # 02:30 CEST, the first
    ]


def test_the_days_around_the_changes_keep_their_local_time() -> None:
    assert local_day("30 2 * * *", "Europe/Berlin", date(2026, 3, 28)) == [
        (utc(2026, 3, 28, 1, 30), "2026-03-28T02:30:00")
    ]
    assert local_day("30 2 * * *", "Europe/Berlin", date(2026, 3, 30)) == [
        (utc(2026, 3, 30, 0, 30), "2026-03-30T02:30:00")
    ]
    assert local_day("30 2 * * *", "Europe/Berlin", date(2026, 10, 26)) == [
        (utc(2026, 10, 26, 1, 30), "2026-10-26T02:30:00")
    ]


def test_every_quarter_hour_through_both_changes() -> None:
    spring = local_day("*/15 2 * * *", "Europe/Berlin", date(2026, 3, 29))
    assert [at for at, _ in spring] == [utc(2026, 3, 29, 1, m) for m in (0, 15, 30, 45)]  # 03:00–03:45 CEST
    assert [key[11:16] for _, key in spring] == ["02:00", "02:15", "02:30", "02:45"]
    autumn = local_day("*/15 2 * * *", "Europe/Berlin", date(2026, 10, 25))
    assert [at for at, _ in autumn] == [utc(2026, 10, 25, 0, m) for m in (0, 15, 30, 45)]  # CEST only


def test_an_hourly_cron_on_the_change_days() -> None:
    spring = local_day("30 * * * *", "Europe/Berlin", date(2026, 3, 29))
    # 02:30 does not exist and its shifted instant is 03:30's own: one firing for both, 23 in the day.
    assert len(spring) == 23 and len({at for at, _ in spring}) == 23
    assert (utc(2026, 3, 29, 1, 30), "2026-03-29T03:30:00") in spring
    autumn = local_day("30 * * * *", "Europe/Berlin", date(2026, 10, 25))
    # 25 hours, but 02:30 fires once (the first): 24 firings.
    assert len(autumn) == 24
    assert (utc(2026, 10, 25, 0, 30), "2026-10-25T02:30:00") in autumn
    assert utc(2026, 10, 25, 1, 30) not in [at for at, _ in autumn]


def test_a_zone_west_of_utc_and_a_half_hour_change() -> None:
    # America/New_York, 2026-11-01: 01:30 happens twice (05:30Z EDT, 06:30Z EST).
    assert local_day("30 1 * * *", "America/New_York", date(2026, 11, 1)) == [
        (utc(2026, 11, 1, 5, 30), "2026-11-01T01:30:00")
    ]
    # Australia/Lord_Howe moves by 30 minutes: 2026-10-04 02:15 does not exist → 02:45 (+11:00).
    assert local_day("15 2 * * *", "Australia/Lord_Howe", date(2026, 10, 4)) == [
        (
            datetime(2026, 10, 4, 2, 45, tzinfo=ZoneInfo("Australia/Lord_Howe")).astimezone(UTC),
            "2026-10-04T02:15:00",
        )
    ]


def test_next_firings_are_strictly_after_and_in_order() -> None:
    cron = parse_cron("0 9 * * 1-5")
    after = utc(2026, 12, 4, 8, 0)  # Friday 09:00 Paris is 08:00Z
    first = next_firing(cron, "Europe/Paris", after)
    assert first is not None and first.at == utc(2026, 12, 7, 8, 0)  # the following Monday
    three = next_firings(cron, "Europe/Paris", utc(2026, 12, 4, 7, 59), 3)
    assert [f.at for f in three] == [utc(2026, 12, 4, 8, 0), utc(2026, 12, 7, 8, 0), utc(2026, 12, 8, 8, 0)]


def test_a_rare_cron_is_found_years_ahead_and_an_impossible_one_never() -> None:
    leap = next_firings(parse_cron("0 0 29 2 *"), "UTC", utc(2026, 12, 3), 2)
    assert [f.at for f in leap] == [utc(2028, 2, 29), utc(2032, 2, 29)]
    assert next_firing(parse_cron("0 0 31 4 *"), "UTC", utc(2026, 12, 3)) is None


def test_an_instant_maps_back_to_its_nominal_local_time() -> None:
    cron = parse_cron("30 2 * * *")
    found = firing_at(cron, "Europe/Berlin", utc(2026, 10, 25, 0, 30))
    assert found is not None and found.key == "2026-10-25T02:30:00"
    # Temporal's own calendar fires 02:30 CET (the second occurrence): not an instant edgewise armed.
    assert firing_at(cron, "Europe/Berlin", utc(2026, 10, 25, 1, 30)) is None


# --- what is armed in Temporal --------------------------------------------------------------------------


def _expand(entries: list[ScheduleCalendarSpec]) -> set[datetime]:
    """The instants UTC calendar entries name (what Temporal fires, for fully specified entries)."""

    def values(ranges: Sequence[ScheduleRange]) -> list[int]:
        return [v for r in ranges for v in range(r.start, max(r.end, r.start) + 1, r.step or 1)]

    out: set[datetime] = set()
    for e in entries:
        for y in values(e.year):
            for mo in values(e.month):
                for d in values(e.day_of_month):
                    for h in values(e.hour):
                        for mi in values(e.minute):
                            for s in values(e.second):
                                out.add(utc(y, mo, d, h, mi, s))
    return out


def test_calendar_entries_name_exactly_the_instants_and_stay_few() -> None:
    cron = parse_cron("30 2 * * *")
    plan = plan_cron(cron, "Europe/Berlin", utc(2026, 3, 1), utc(2026, 3, 1))
    entries = calendar_entries(plan.instants)
    assert _expand(entries) == set(plan.instants)
    assert len(entries) <= 4  # March before and after the change, and April
    weekday_minutes = plan_cron(
        parse_cron("*/7 9-17 * * 1-5"), "America/New_York", utc(2026, 10, 20), utc(2026, 10, 20)
    )
    assert _expand(calendar_entries(weekday_minutes.instants)) == set(weekday_minutes.instants)


def test_a_plan_is_capped_for_frequent_crons_and_reaches_far_for_rare_ones() -> None:
    now = utc(2026, 12, 3, 19)
    every_minute = plan_cron(parse_cron("* * * * *"), "UTC", now, now)
    assert len(every_minute.instants) == ARM_MAX_FIRINGS
    assert every_minute.armed_until == every_minute.instants[-1] + timedelta(seconds=1)
    yearly = plan_cron(parse_cron("0 0 1 1 *"), "UTC", now, now)
    assert yearly.instants[:ARM_MIN_FIRINGS] == [utc(2027, 1, 1), utc(2028, 1, 1), utc(2029, 1, 1)]
    starts_later = plan_cron(parse_cron("0 9 * * *"), "UTC", utc(2027, 2, 1), now)
    assert starts_later.instants[0] == utc(2027, 2, 1, 9)


def test_a_one_shot_arms_its_second_and_a_window_renews_at_half_time() -> None:
    now = utc(2026, 12, 3, 19)
    once = plan_once(utc(2026, 12, 3, 19, 0, 5), now)
    assert once.instants == [utc(2026, 12, 3, 19, 0, 5)]
    assert build_spec(once, 0).time_zone_name == "UTC"
    assert not needs_rearm(now, now + timedelta(days=10), now + timedelta(days=4))
    assert needs_rearm(now, now + timedelta(days=10), now + timedelta(days=5))
    assert needs_rearm(None, None, now)


def test_a_one_shot_never_fires_before_its_instant() -> None:
    # Temporal's calendar is second-granular: 16:52:42.646 is armed at 16:52:43, never at 16:52:42.
    now = utc(2026, 12, 3, 16)
    for us in (1, 69_000, 646_000, 999_999):
        at = utc(2026, 12, 3, 16, 52, 42, us=us)
        once = plan_once(at, now)
        assert once.instants == [utc(2026, 12, 3, 16, 52, 43)]
        assert once.instants[0] >= at
        assert _expand(list(build_spec(once, 0).calendars)) == {utc(2026, 12, 3, 16, 52, 43)}
    # Rounding up carries over the minute, day and year.
    assert plan_once(utc(2026, 12, 31, 23, 59, 59, us=500_000), now).instants == [utc(2027, 1, 1)]


def test_nothing_is_armed_beyond_temporals_calendar() -> None:
    # Temporal refuses calendar years after 2100; a rare cron's next three firings would reach 2102.
    now = utc(2026, 12, 3, 19)
    yearly = plan_cron(parse_cron("0 0 1 1 *"), "UTC", utc(2098, 6, 1), now)
    assert yearly.instants == [utc(2099, 1, 1)]
    assert all(at < SCHEDULE_HORIZON for at in yearly.instants)
    assert yearly.armed_until == SCHEDULE_HORIZON
    daily = plan_cron(parse_cron("0 9 * * *"), "UTC", utc(2099, 12, 20), now)
    assert daily.instants[0] == utc(2099, 12, 20, 9) and daily.instants[-1] == utc(2099, 12, 31, 9)
    beyond = plan_cron(parse_cron("0 0 1 1 *"), "UTC", utc(2099, 3, 1), now)
    assert beyond.instants == [] and build_spec(beyond, 0).calendars[0].year == [ScheduleRange(2000)]
