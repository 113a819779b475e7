"""What LinkedIn tolerates before it throttles or restricts an account (API.md §9).

The request-rate counter lives in memory (a restart forgives the current minute, as it would cost a DB
write per request otherwise); the write windows are counted from the persisted outbox. All windows read
the sandbox clock. `PUT /_sandbox/tolerances {"enabled": false}` turns the throttling and restriction
rules off for benchmarks; the note limit is a LinkedIn product rule and always applies.
"""

from __future__ import annotations

from dataclasses import dataclass

from linkedin.sandbox.clock import Clock
from linkedin.sandbox.model import Account
from linkedin.sandbox.records import OutboxKind
from linkedin.sandbox.store import Store

MINUTE_MS = 60_000
DAY_MS = 86_400_000

REQUESTS_PER_MINUTE = 120
NOTES_PER_30_DAYS_CLASSIC = 3


@dataclass(frozen=True)
class WindowRule:
    kinds: tuple[OutboxKind, ...]
    limit: int
    window_ms: int
    reason: str


# Beyond any of these the account is restricted (the write that would exceed it is refused).
RESTRICTION_RULES: tuple[WindowRule, ...] = (
    WindowRule(("invitation",), 40, DAY_MS, "more than 40 invitations in 24 hours"),
    WindowRule(("invitation",), 150, 7 * DAY_MS, "more than 150 invitations in 7 days"),
    WindowRule(("message", "inmail"), 150, DAY_MS, "more than 150 messages in 24 hours"),
    WindowRule(("visit",), 250, DAY_MS, "more than 250 profile visits in 24 hours"),
)


class Tolerances:
    def __init__(self, store: Store, clock: Clock):
        self._store = store
        self._clock = clock
        self._minute_counts: dict[int, tuple[int, int]] = {}  # account id → (minute, requests)

    @property
    def enabled(self) -> bool:
        return self._store.tolerances_enabled

    def throttle(self, account_id: int) -> int | None:
        """Count one request; seconds until the minute ends when it is over the rate, else None."""
        if not self._store.tolerances_enabled:
            return None
        now = self._clock.now_ms()
        minute = now // MINUTE_MS
        seen_minute, count = self._minute_counts.get(account_id, (minute, 0))
        count = count + 1 if seen_minute == minute else 1
        self._minute_counts[account_id] = (minute, count)
        if count <= REQUESTS_PER_MINUTE:
            return None
        return max(1, -(-((minute + 1) * MINUTE_MS - now) // 1000))

    def reset_rate(self) -> None:
        self._minute_counts.clear()

    def violation(self, account: Account, kind: OutboxKind) -> str | None:
        """The rule one more write of `kind` would break, if any (tolerances on)."""
        if not self._store.tolerances_enabled:
            return None
        now = self._clock.now_ms()
        entries = self._store.outbox.get(account.id, [])
        for rule in RESTRICTION_RULES:
            if kind not in rule.kinds:
                continue
            since = now - rule.window_ms
            used = sum(1 for e in entries if e.kind in rule.kinds and since < e.at <= now)
            if used + 1 > rule.limit:
                return rule.reason
        return None

    def note_allowed(self, account: Account) -> bool:
        """Classic accounts may add a note to 3 invitations per 30 days."""
        if account.level != "classic":
            return True
        now = self._clock.now_ms()
        since = now - 30 * DAY_MS
        used = sum(
            1
            for e in self._store.outbox.get(account.id, [])
            if e.kind == "invitation" and e.note and since < e.at <= now
        )
        return used < NOTES_PER_30_DAYS_CLASSIC
