"""Sessions and the credentials login with its checkpoints, per account login behaviour (API.md §9).

none → a session at once; pin / 2fa → a code the member reads (control API: verification-code);
in_app → the member approves on their phone (control API: approve-in-app); captcha → a challenge that
cannot be solved through an API. A checkpoint lives 10 minutes (sandbox clock) and allows 3 wrong codes.

Every credentials login and every checkpoint answer is counted per account (`attempts`), so tests can
prove a platform asks LinkedIn to log in exactly once per request (repeated logins lock real accounts).
The counts live in memory: they start at zero with the sandbox process.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

from linkedin.sandbox import ids
from linkedin.sandbox.clock import Clock
from linkedin.sandbox.model import Account
from linkedin.sandbox.records import Challenge, Session
from linkedin.sandbox.store import Store
from linkedin.sandbox.world import World

CHALLENGE_TTL_MS = 10 * 60_000
CHALLENGE_ATTEMPTS = 3
CHALLENGE_TYPES = {"pin": "PIN", "2fa": "2FA", "in_app": "IN_APP_VALIDATION", "captcha": "CAPTCHA"}

Outcome = Literal[
    "PASS", "CHALLENGE", "BAD_CREDENTIALS", "PENDING", "WRONG_CODE", "FAILED", "EXPIRED", "CAPTCHA"
]


@dataclass
class LoginOutcome:
    outcome: Outcome
    session: Session | None = None
    challenge: Challenge | None = None


class Logins:
    def __init__(self, world: World, store: Store, clock: Clock):
        self._world = world
        self._store = store
        self._clock = clock
        # (account id, "logins" | "checkpoint_answers") → how many LinkedIn received.
        self._attempts: Counter[tuple[int, str]] = Counter()

    def account(self, account_id: int) -> Account | None:
        return self._world.account_by_id.get(account_id)

    def attempts(self, account: Account) -> dict[str, int]:
        """How many credentials logins and checkpoint answers this account received."""
        return {kind: self._attempts[(account.id, kind)] for kind in ("logins", "checkpoint_answers")}

    def new_session(self, account: Account) -> Session:
        session = Session(ids.new_li_at(), account.id, ids.new_jsessionid(), self._clock.now_ms())
        self._store.add_session(session)
        return session

    def authenticate(self, username: str, password: str) -> LoginOutcome:
        account = self._world.account_by_username.get(username.strip().lower())
        if account is not None:
            self._attempts[(account.id, "logins")] += 1
        if account is None or password != account.password:
            return LoginOutcome("BAD_CREDENTIALS")
        if account.login == "none":
            return LoginOutcome("PASS", session=self.new_session(account))
        now = self._clock.now_ms()
        kind = CHALLENGE_TYPES[account.login]
        challenge = Challenge(
            id=ids.new_challenge_id(),
            account_id=account.id,
            type=kind,
            code=ids.new_code() if kind in ("PIN", "2FA") else None,
            created_at=now,
            expires_at=now + CHALLENGE_TTL_MS,
            attempts_left=CHALLENGE_ATTEMPTS,
        )
        self._store.put_challenge(challenge)
        return LoginOutcome("CHALLENGE", challenge=challenge)

    def answer(self, challenge_id: str, code: str | None) -> LoginOutcome:
        """Submit a code (PIN/2FA) or re-check an in-app approval."""
        challenge = self._store.challenges.get(challenge_id)
        if challenge is not None:
            self._attempts[(challenge.account_id, "checkpoint_answers")] += 1
        if (
            challenge is None
            or challenge.state in ("passed", "failed")
            or self._clock.now_ms() > challenge.expires_at
        ):
            return LoginOutcome("EXPIRED", challenge=challenge)
        account = self._world.account_by_id[challenge.account_id]
        if challenge.type == "CAPTCHA":
            return LoginOutcome("CAPTCHA", challenge=challenge)
        if challenge.type == "IN_APP_VALIDATION":
            if challenge.state != "approved":
                return LoginOutcome("PENDING", challenge=challenge)
        elif (code or "").strip() != challenge.code:
            challenge.attempts_left -= 1
            if challenge.attempts_left <= 0:
                challenge.state = "failed"
            self._store.put_challenge(challenge)
            return LoginOutcome(
                "FAILED" if challenge.state == "failed" else "WRONG_CODE", challenge=challenge
            )
        challenge.state = "passed"
        self._store.put_challenge(challenge)
        return LoginOutcome("PASS", session=self.new_session(account), challenge=challenge)

    def pending(self, account: Account, kinds: tuple[str, ...]) -> Challenge | None:
        """The account's newest live checkpoint of one of `kinds`."""
        now = self._clock.now_ms()
        live = [
            c
            for c in self._store.challenges.values()
            if c.account_id == account.id
            and c.type in kinds
            and c.state in ("pending", "approved")
            and now <= c.expires_at
        ]
        return max(live, key=lambda c: c.created_at, default=None)

    def approve_in_app(self, account: Account) -> Challenge | None:
        challenge = self.pending(account, ("IN_APP_VALIDATION",))
        if challenge is not None:
            challenge.state = "approved"
            self._store.put_challenge(challenge)
        return challenge
