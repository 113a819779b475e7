"""The sandbox's injectable clock: real time plus a persisted offset.

Every window the sandbox enforces (request rate, invitation and message tolerances, the note limit,
checkpoint expiry) reads this clock, so tests can simulate days or weeks in seconds.
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

    @property
    def offset_ms(self) -> int:
        return self._offset_ms

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self._offset_ms

    def set_now(self, when: datetime) -> None:
        self._set_offset(int(when.timestamp() * 1000) - int(time.time() * 1000))

    def advance(self, seconds: float) -> None:
        self._set_offset(self._offset_ms + int(seconds * 1000))

    def reset(self) -> None:
        self._set_offset(0)

    def _set_offset(self, offset_ms: int) -> None:
        self._offset_ms = offset_ms
        if self._on_change is not None:
            self._on_change(offset_ms)
