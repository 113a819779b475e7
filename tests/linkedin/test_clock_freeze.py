"""The sandbox clock can be frozen in process (the Smart Limits simulation stamps every write exactly at its
simulated instant); any change through the control API lets it run again."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from linkedin.sandbox.clock import Clock


def test_a_frozen_clock_stands_still_until_thawed_or_changed() -> None:
    persisted: list[int] = []
    clock = Clock(on_change=persisted.append)
    at = int(datetime(2027, 3, 1, 8, tzinfo=UTC).timestamp() * 1000)
    clock.freeze(at)
    time.sleep(0.01)
    assert clock.now_ms() == at
    assert persisted == []  # in memory only: a restart never comes back frozen
    clock.freeze(None)
    assert abs(clock.now_ms() - time.time() * 1000) < 1000

    clock.freeze(at)
    clock.advance(60)
    assert clock.now_ms() != at and abs(clock.now_ms() - (time.time() * 1000 + 60_000)) < 1000
    clock.freeze(at)
    clock.reset()
    assert abs(clock.now_ms() - time.time() * 1000) < 1000
