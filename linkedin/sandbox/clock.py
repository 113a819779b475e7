"""The sandbox's injectable clock: real time plus a persisted offset.

Every window the sandbox enforces (request rate, invitation and message tolerances, the note limit,
checkpoint expiry) reads this clock, so tests can simulate days or weeks in seconds. An in-process caller
may also freeze it at an instant (`freeze`), as the Smart Limits simulation does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime


def ms_to_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Clock:
    def __init__(self, offset_ms: int = 0, on_change: Callable[[int], None] | None = None):
        self._offset_ms = offset_ms
        self._on_change = on_change
        self._frozen_ms: int | None = None

    @property
    def offset_ms(self) -> int:
        return self._offset_ms

    def now_ms(self) -> int:
        frozen = self._frozen_ms
        return frozen if frozen is not None else int(time.time() * 1000) + self._offset_ms

    def freeze(self, at_ms: int | None) -> None:
        """Stop the clock at `at_ms` (epoch milliseconds); None lets it run again. In memory only (nothing is
        persisted), for a simulation that drives an in-process sandbox (edgewise/simulation): every request
        then sees exactly the simulated instant, however long the real one takes, and setting it costs no
        request and no write. Setting, advancing or resetting the clock unfreezes it."""
        self._frozen_ms = at_ms

    def set_now(self, when: datetime) -> None:
        self._set_offset(int(when.timestamp() * 1000) - int(time.time() * 1000))

    def advance(self, seconds: float) -> None:
        self._set_offset(self._offset_ms + int(seconds * 1000))

    def reset(self) -> None:
        self._set_offset(0)

    def _set_offset(self, offset_ms: int) -> None:
        self._frozen_ms = None  # setting, advancing or resetting the clock lets it run again
        self._offset_ms = offset_ms
        if self._on_change is not None:
            self._on_change(offset_ms)
