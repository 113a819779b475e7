"""Smart Limits arithmetic (edgewise/limits.py): the bucket table, overrides, ramp-up, sliding windows,
pacing and working hours — pure functions, so every case is a fixed instant."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from edgewise import limits as sl

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)  # a Thursday; a whole minute (slots are minutes)
DAY = timedelta(days=1)


# --- the table and overrides -----------------------------------------------------------------------------


def test_table_matches_the_contract() -> None:
    assert set(sl.BUCKETS) == {
        "LK_PROFILE_VISITS",
        "LK_CONNECTION_REQUESTS",
        "LK_CONNECTION_REQUESTS_WEEKLY",
        "LK_CONNECTION_NOTES",
        "LK_MESSAGES_SENT",
        "LK_INMAILS",
        "LK_PROFILE_ENRICHMENTS",
        "LK_SEARCH_RESULTS",
        "LK_INVITATION_ACTIONS",
    }
    assert sl.default_limit("LK_PROFILE_VISITS", "sales_navigator") == 150
    assert sl.default_limit("LK_CONNECTION_NOTES", "classic") == 5
    assert sl.default_limit("LK_CONNECTION_NOTES", "premium") is None
    assert sl.default_limit("LK_INMAILS", "classic") == 0
    assert sl.default_limit("LK_SEARCH_RESULTS", None) == 1000  # no level: classic
    assert sl.window_seconds("LK_CONNECTION_REQUESTS_WEEKLY") == 7 * 86400
    assert sl.window_seconds("LK_CONNECTION_NOTES") == 30 * 86400
    assert sl.window_seconds("LK_MESSAGES_SENT") == 86400
    assert set(sl.APPLIES_WHEN) == {"LK_CONNECTION_NOTES"}


def test_validate_identity_overrides() -> None:
    ok = {"LK_MESSAGES_SENT": 200, "LK_PROFILE_VISITS": None, "LK_CONNECTION_REQUESTS": 0}
    assert sl.validate_overrides(ok, "classic") == []
    errors = sl.validate_overrides(
        {
            "LK_MESSAGES_SENT": 201,
            "LK_PROFILE_VISITS": -1,
            "LK_SEARCH_RESULTS": 10.5,
            "LK_PROFILE_ENRICHMENTS": "100",
            "LK_INVITATION_ACTIONS": True,
            "LK_NOPE": 1,
        },
        "classic",
    )
    fields = [e["field"] for e in errors]
    assert fields == [
        "limits.LK_MESSAGES_SENT",
        "limits.LK_PROFILE_VISITS",
        "limits.LK_SEARCH_RESULTS",
        "limits.LK_PROFILE_ENRICHMENTS",
        "limits.LK_INVITATION_ACTIONS",
        "limits.LK_NOPE",
    ]
    assert "at most 200" in errors[0]["message"]
    assert sl.validate_overrides({"LK_NOPE": None}, "classic")[0]["field"] == "limits.LK_NOPE"
    # Checked against the identity's level; classic while none is connected.
    assert sl.validate_overrides({"LK_PROFILE_VISITS": 300}, "sales_navigator") == []
    assert sl.validate_overrides({"LK_PROFILE_VISITS": 300}, None) != []
    assert sl.validate_overrides({"LK_INMAILS": 1}, "classic") != []  # 2 × 0
    assert sl.validate_overrides({"LK_INMAILS": 30}, "premium") == []
    assert sl.validate_overrides({"LK_CONNECTION_NOTES": 10_000}, "premium") == []  # unlimited default


def test_validate_workspace_overrides_against_the_highest_default() -> None:
    assert sl.validate_overrides({"LK_PROFILE_VISITS": 300}, None, "workspace") == []
    assert sl.validate_overrides({"LK_PROFILE_VISITS": 301}, None, "workspace")[0]["field"] == (
        "limits.LK_PROFILE_VISITS"
    )
    assert sl.validate_overrides({"LK_INMAILS": 100}, None, "workspace") == []
    assert sl.validate_overrides({"LK_CONNECTION_NOTES": 500}, None, "workspace") == []
    assert sl.max_override("LK_SEARCH_RESULTS", None, "workspace") == 5000


def test_apply_overrides_merges_and_null_removes() -> None:
    current = {"LK_MESSAGES_SENT": 50, "LK_PROFILE_VISITS": 10}
    assert sl.apply_overrides(current, {"LK_PROFILE_VISITS": None, "LK_INMAILS": 0}) == {
        "LK_MESSAGES_SENT": 50,
        "LK_INMAILS": 0,
    }
    assert sl.apply_overrides(None, {"LK_PROFILE_VISITS": None}) == {}


def test_effective_limit() -> None:
    assert sl.effective_limit("LK_MESSAGES_SENT", "classic") == 100
    assert sl.effective_limit("LK_MESSAGES_SENT", "classic", {"LK_MESSAGES_SENT": 40}) == 40
    # Identity overrides win over the workspace's.
    assert (
        sl.effective_limit("LK_MESSAGES_SENT", "classic", {"LK_MESSAGES_SENT": 40}, {"LK_MESSAGES_SENT": 60})
        == 60
    )
    # Capped at 2× the level's default when applied (a workspace override checked against the highest).
    assert sl.effective_limit("LK_PROFILE_VISITS", "classic", {"LK_PROFILE_VISITS": 300}) == 160
    assert sl.effective_limit("LK_PROFILE_VISITS", "sales_navigator", {"LK_PROFILE_VISITS": 300}) == 300
    assert sl.effective_limit("LK_INMAILS", "classic", {"LK_INMAILS": 30}) == 0
    # An unlimited default takes an override as is.
    assert sl.effective_limit("LK_CONNECTION_NOTES", "premium") is None
    assert sl.effective_limit("LK_CONNECTION_NOTES", "premium", {}, {"LK_CONNECTION_NOTES": 7}) == 7
    assert sl.effective_limits(("LK_INMAILS", "LK_CONNECTION_NOTES"), None) == {
        "LK_INMAILS": 0,
        "LK_CONNECTION_NOTES": 5,
    }


# --- ramp-up ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "day", "expected"),
    [
        (25, 1, 5),
        (80, 1, 16),
        (100, 1, 20),
        (3, 1, 1),  # 0.6 rounds down to 0, but at least 1
        (1, 1, 1),
        (0, 1, 0),  # a limit of 0 stays 0
        (7, 1, 1),  # 1.4 → 1
        (7, 2, 2),  # 2.8 → 2
        (7, 3, 4),  # 4.2 → 4
        (7, 4, 5),  # 5.6 → 5
        (7, 5, 7),
        (25, 2, 10),
        (25, 3, 15),
        (25, 4, 20),
        (25, 5, 25),
        (25, 30, 25),
    ],
)
def test_ramp_up(limit: int, day: int, expected: int) -> None:
    first_seen = T0 - (day - 1) * DAY - timedelta(hours=1)
    assert sl.ramped(limit, first_seen, T0, "standard") == expected


def test_ramp_up_days_are_24_hours_from_first_seen() -> None:
    first_seen = T0
    assert sl.ramped(25, first_seen, T0 + DAY - timedelta(seconds=1), "standard") == 5
    assert sl.ramped(25, first_seen, T0 + DAY, "standard") == 10
    assert sl.next_ramp_step(first_seen, T0, "standard") == T0 + DAY
    assert sl.next_ramp_step(first_seen, T0 + 3.5 * DAY, "standard") == T0 + 4 * DAY
    assert sl.next_ramp_step(first_seen, T0 + 4 * DAY, "standard") is None
    assert sl.next_ramp_step(first_seen, T0, "test") is None


def test_no_ramp_up_outside_standard() -> None:
    for profile in ("test", "unlimited"):
        assert sl.ramped(25, T0, T0, profile) == 25
    assert sl.ramped(None, T0, T0, "standard") is None


# --- sliding windows -------------------------------------------------------------------------------------


def test_window_counts_and_expires() -> None:
    window = sl.SlidingWindow(86400)
    window.add(T0, 3)
    assert window.consumed(T0) == 3
    window.add(T0 + timedelta(hours=6), 2)
    assert window.consumed(T0 + timedelta(hours=7)) == 5
    # The first event leaves exactly one window after its slot.
    assert window.consumed(T0 + DAY - timedelta(seconds=1)) == 5
    assert window.consumed(T0 + DAY) == 2
    assert window.consumed(T0 + DAY + timedelta(hours=6)) == 0
    window.prune(T0 + DAY)
    assert window.events == [[sl.to_slot(T0 + timedelta(hours=6)), 2]]


def test_events_are_stored_per_minute_rounded_up() -> None:
    window = sl.SlidingWindow(86400)
    at = T0 + timedelta(seconds=10)
    slot = window.add(at, 1)
    assert slot == sl.to_slot(T0 + timedelta(minutes=1)) == int((T0 + timedelta(minutes=1)).timestamp())
    window.add(T0 + timedelta(seconds=50), 2)  # same minute: one event
    assert window.events == [[slot, 3]]
    # Never leaves early: still counted a full window after the real event.
    assert window.consumed(at + DAY - timedelta(seconds=1)) == 3
    assert window.consumed(at + DAY + timedelta(minutes=1)) == 0


def test_available_at() -> None:
    window = sl.SlidingWindow(86400)
    window.add(T0, 2)
    window.add(T0 + timedelta(hours=2), 2)
    window.add(T0 + timedelta(hours=4), 1)
    now = T0 + timedelta(hours=5)
    assert window.available_at(now, 1, 10) == now  # fits now
    assert window.available_at(now, 1, 5) == T0 + DAY  # the first event frees 2
    assert window.available_at(now, 3, 5) == T0 + timedelta(hours=2) + DAY  # needs 3 freed
    assert window.available_at(now, 1, 5, pending=2) == T0 + timedelta(hours=2) + DAY
    assert window.available_at(now, 6, 5) is None  # never fits
    assert window.available_at(now, 1, None) == now  # unlimited
    assert window.release_time(now, 5) == T0 + timedelta(hours=4) + DAY
    assert window.release_time(now, 6) is None
    assert window.oldest_expiry(now) == T0 + DAY
    assert sl.SlidingWindow(60).oldest_expiry(now) is None


def test_remove_and_add_at_slot_settle_a_reservation() -> None:
    window = sl.SlidingWindow(86400)
    slot = window.add(T0, 10)
    window.add(T0 + timedelta(minutes=5), 1)
    assert window.remove(slot, 4) == 4
    assert window.consumed(T0 + timedelta(minutes=5)) == 7
    assert window.remove(slot, 100) == 6  # at most what is there; the emptied event goes
    assert [e[0] for e in window.events] == [sl.to_slot(T0 + timedelta(minutes=5))]
    window.add_at_slot(slot, 2)  # an earlier slot stays in order
    assert [e[0] for e in window.events] == [slot, sl.to_slot(T0 + timedelta(minutes=5))]
    assert window.remove(slot - 60, 1) == 0


def test_limit_available_at_takes_the_ramp_into_account() -> None:
    first_seen = T0 - timedelta(hours=1)  # day 1: 25 → 5
    window = sl.SlidingWindow(86400)
    window.add(T0, 5)
    now = T0 + timedelta(minutes=30)
    # Full today; the ramp step at first_seen + 1 day (day 2: 10) frees room before the window does.
    assert sl.limit_available_at(window, 25, 1, 0, now, first_seen, "standard") == first_seen + DAY
    # Without ramp-up (test profile) the window decides: 5 of 5 used.
    assert sl.limit_available_at(window, 5, 1, 0, now, first_seen, "test") == T0 + DAY
    assert sl.limit_available_at(window, 0, 1, 0, now, first_seen, "standard") is None


def test_state_prunes_and_round_trips() -> None:
    state = sl.LimitsState(first_seen_at=T0)
    state.window("LK_MESSAGES_SENT").add(T0, 3)
    state.window("LK_CONNECTION_NOTES").add(T0, 1)
    state.exhausted["LK_CONNECTION_NOTES"] = T0 + timedelta(hours=1)
    state.throttled_until = T0 + timedelta(minutes=1)
    state.pace_ready_at["message"] = T0 + timedelta(seconds=30)
    assert state.peek("LK_PROFILE_VISITS").consumed(T0) == 0
    assert "LK_PROFILE_VISITS" not in state.windows  # peeking records nothing
    restored = sl.LimitsState.model_validate(state.model_dump(mode="json"))
    assert restored == state
    restored.prune(T0 + DAY + timedelta(minutes=1))
    assert "LK_MESSAGES_SENT" not in restored.windows  # its 24 h window passed
    assert restored.peek("LK_CONNECTION_NOTES").consumed(T0 + DAY) == 1  # 30-day window
    assert restored.exhausted == {} and restored.throttled_until is None and restored.pace_ready_at == {}


# --- pacing ----------------------------------------------------------------------------------------------


def test_pacing_gaps() -> None:
    assert sl.pace_range("invitation") == (45.0, 90.0)
    assert sl.pace_range("message") == (30.0, 60.0)
    assert sl.pace_range("visit") == (20.0, 40.0)
    assert sl.pace_range("invitation_action") == (10.0, 20.0)
    assert sl.pace_range("read") == (1.0, 3.0)
    rnd = random.Random(7)
    gaps = [sl.pace_gap("invitation", rnd) for _ in range(200)]
    assert all(45 <= g <= 90 for g in gaps) and max(gaps) - min(gaps) > 20
    assert sl.pace_gap("visit", random.Random(1)) == sl.pace_gap("visit", random.Random(1))  # deterministic


# --- working hours ---------------------------------------------------------------------------------------

WEEKDAYS = {"days": [1, 2, 3, 4, 5], "start": "08:00", "end": "19:00"}


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_working_hours_open_and_next() -> None:
    # Thursday 2026-12-03, Paris is UTC+1 in winter.
    assert sl.next_open(utc(2026, 12, 3, 12, 0), WEEKDAYS, "Europe/Paris") is None
    assert sl.next_open(utc(2026, 12, 3, 6, 0), WEEKDAYS, "Europe/Paris") == utc(2026, 12, 3, 7, 0)
    assert sl.next_open(utc(2026, 12, 3, 7, 0), WEEKDAYS, "Europe/Paris") is None  # start is inclusive
    assert sl.next_open(utc(2026, 12, 3, 18, 0), WEEKDAYS, "Europe/Paris") == utc(2026, 12, 4, 7, 0)  # end
    # Friday evening → Monday morning.
    assert sl.next_open(utc(2026, 12, 4, 19, 0), WEEKDAYS, "Europe/Paris") == utc(2026, 12, 7, 7, 0)
    assert sl.next_open(utc(2026, 12, 5, 12, 0), WEEKDAYS, "Europe/Paris") == utc(2026, 12, 7, 7, 0)
    assert sl.next_open(utc(2026, 12, 5, 12, 0), None, "Europe/Paris") is None  # any time
    # The local day decides: 23:30 UTC Sunday is already Monday 08:30 in Tokyo.
    assert sl.next_open(utc(2026, 12, 6, 23, 30), WEEKDAYS, "Asia/Tokyo") is None
    assert sl.next_open(utc(2026, 12, 6, 22, 0), WEEKDAYS, "Asia/Tokyo") == utc(2026, 12, 6, 23, 0)


def test_working_hours_across_daylight_saving() -> None:
    # Paris moves to CEST on Sunday 2026-03-29: 08:00 is 07:00 UTC before, 06:00 UTC after.
    every_day = {"days": [1, 2, 3, 4, 5, 6, 7], "start": "08:00", "end": "19:00"}
    assert sl.next_open(utc(2026, 3, 28, 20, 0), every_day, "Europe/Paris") == utc(2026, 3, 29, 6, 0)
    assert sl.next_open(utc(2026, 3, 27, 20, 0), every_day, "Europe/Paris") == utc(2026, 3, 28, 7, 0)
    # 18:30 UTC on the 29th is 20:30 CEST: closed (it would be 19:30 CET — closed too); 17:30 UTC is open.
    assert sl.next_open(utc(2026, 3, 29, 16, 30), every_day, "Europe/Paris") is None
    assert sl.next_open(utc(2026, 3, 29, 17, 30), every_day, "Europe/Paris") is not None
    # A start inside the spring-forward gap (02:30 does not exist that day) begins at the shifted instant.
    night = {"days": [7], "start": "02:30", "end": "05:00"}
    assert sl.next_open(utc(2026, 3, 28, 22, 0), night, "Europe/Paris") == utc(2026, 3, 29, 1, 30)
    # A start that exists twice (02:30 on 2026-10-25) begins at the first.
    assert sl.next_open(utc(2026, 10, 24, 22, 0), night, "Europe/Paris") == utc(2026, 10, 25, 0, 30)
    # New York: 08:00 EDT = 12:00 UTC in summer, 08:00 EST = 13:00 UTC in winter.
    assert sl.next_open(utc(2026, 7, 1, 5, 0), WEEKDAYS, "America/New_York") == utc(2026, 7, 1, 12, 0)
    assert sl.next_open(utc(2026, 12, 1, 5, 0), WEEKDAYS, "America/New_York") == utc(2026, 12, 1, 13, 0)


def test_working_hours_validation() -> None:
    with pytest.raises(ValueError):
        sl.parse_working_hours({"days": [], "start": "08:00", "end": "19:00"})
    with pytest.raises(ValueError):
        sl.parse_working_hours({"days": [8], "start": "08:00", "end": "19:00"})
    with pytest.raises(ValueError):
        sl.parse_working_hours({"days": [1], "start": "8:00", "end": "19:00"})
    with pytest.raises(ValueError):
        sl.parse_working_hours({"days": [1], "start": "19:00", "end": "08:00"})
    with pytest.raises(ValueError):
        sl.zone("CEST")
    assert sl.parse_working_hours(None) is None


def test_cool_down_is_two_hours() -> None:
    assert sl.COOL_DOWN_SECONDS == 7200
