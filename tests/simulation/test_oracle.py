"""The simulation's yardstick (edgewise/simulation/oracle.py): the most actions API.md §7 allows, worked out
by hand for small cases — windows, the 5-day ramp-up, working hours across a daylight-saving change."""

from __future__ import annotations

from datetime import UTC, datetime

from edgewise.simulation.oracle import (
    DAY_MS,
    Rule,
    in_periods,
    most_actions,
    ramped_limit,
    to_ms,
    working_periods,
)

MONDAY = to_ms(datetime(2027, 3, 1, tzinfo=UTC))
WEEKDAYS = {"days": [1, 2, 3, 4, 5], "start": "08:00", "end": "19:00"}
INVITATIONS = (Rule(25, DAY_MS), Rule(100, 7 * DAY_MS))


def anytime(days: int, start: int = MONDAY) -> list[tuple[int, int]]:
    return working_periods(None, "UTC", start, start + days * DAY_MS)


def test_ramp_up_is_a_fifth_more_each_day_rounded_down_and_at_least_one() -> None:
    assert [ramped_limit(25, MONDAY, MONDAY + d * DAY_MS) for d in range(6)] == [5, 10, 15, 20, 25, 25]
    assert ramped_limit(3, MONDAY, MONDAY) == 1  # 3 × 20 % = 0.6, at least 1
    assert ramped_limit(0, MONDAY, MONDAY) == 0


def test_an_established_account_sends_its_daily_limit_every_day() -> None:
    established = MONDAY - 90 * DAY_MS
    assert len(most_actions((Rule(100, DAY_MS),), established, anytime(7), 10_000)) == 700


def test_a_new_account_ramps_up_over_five_days() -> None:
    # 20 + 40 + 60 + 80 + 100 messages: each day's events leave the window exactly as the next day begins.
    assert len(most_actions((Rule(100, DAY_MS),), MONDAY, anytime(5), 10_000)) == 300


def test_the_weekly_bucket_caps_invitations_until_its_window_frees() -> None:
    established = MONDAY - 90 * DAY_MS
    times = most_actions(INVITATIONS, established, anytime(14), 10_000)
    # 25 a day for four days fill the week; the next go when Monday's leave the window, seven days later.
    assert len(times) == 200
    assert times[99] < MONDAY + 4 * DAY_MS <= MONDAY + 7 * DAY_MS == times[100]


def test_the_work_asked_bounds_the_allowance() -> None:
    assert len(most_actions(INVITATIONS, MONDAY - 90 * DAY_MS, anytime(14), 42)) == 42


def test_working_hours_follow_the_zone_across_daylight_saving() -> None:
    # Paris moves to summer time on Sunday 28 March 2027: 08:00 local is 07:00 UTC before, 06:00 after.
    start = to_ms(datetime(2027, 3, 26, tzinfo=UTC))
    periods = working_periods(WEEKDAYS, "Europe/Paris", start, start + 4 * DAY_MS)
    assert [(p[0] - start) // 3_600_000 for p in periods] == [7, 3 * 24 + 6]  # Friday, then Monday
    assert all(p[1] - p[0] == 11 * 3_600_000 for p in periods)
    assert in_periods(periods, periods[0][0]) and not in_periods(periods, periods[0][1])
    assert in_periods(periods, periods[0][1], slack_ms=1)


def test_only_working_hours_count() -> None:
    established = MONDAY - 90 * DAY_MS
    week = working_periods(WEEKDAYS, "UTC", MONDAY, MONDAY + 7 * DAY_MS)
    times = most_actions((Rule(100, DAY_MS),), established, week, 10_000)
    assert len(times) == 500 and all(in_periods(week, t) for t in times)
