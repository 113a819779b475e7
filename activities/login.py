"""Credentials login activities (API.md §3): the one login attempt, the answers to its checkpoint, and the
end of the flow.

The password reaches `login_with_credentials` through the PendingLogin row (encrypted, associated data =
the row's uid) and is erased there, in its own committed transaction, *before* LinkedIn is asked: a crash
afterwards cannot lead to a second login (the activity also runs at most once — repeated logins lock
LinkedIn accounts). A checkpoint's pre-login cookie is kept encrypted on the same row until the flow ends.
What these activities return is a LoginAnswer (uids, labels, numbers), never a secret.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session
from temporalio import activity

from activities.attach import attach_session, live_integration_of, lock_identity
from activities.connect import who_is
from activities.deps import ActivityDeps
from db.engine import session_scope
from db.models import Integration, PendingLogin
from edgewise.egress import NoEgressAvailable
from edgewise.events import emit_integration_event
from edgewise.timeutil import as_utc, iso_z, utcnow
from linkedin.auth import LinkedInLogin, LoginChallenge, LoginResult
from linkedin.protocol import LinkedInError, LinkedInUnavailable, Me, SessionCookies, Throttled
from workflows.login_contracts import (
    RETRY_LOGIN,
    SOLVE_CHALLENGE_IN_BROWSER,
    CheckpointStepInput,
    EndLoginInput,
    LoginAnswer,
    LoginEvent,
    LoginStepInput,
)

log = logging.getLogger("edgewise.login")

# LinkedIn's reason → what the customer should do next, and the message they read.
_FAILURES: dict[str, tuple[str, str]] = {
    "BAD_CREDENTIALS": (RETRY_LOGIN, "LinkedIn refused the username or password"),
    "CAPTCHA": (SOLVE_CHALLENGE_IN_BROWSER, "LinkedIn asks for a challenge that only a browser can solve"),
    "TOO_MANY_ATTEMPTS": (RETRY_LOGIN, "Too many wrong verification codes: log in again"),
    "EXPIRED": (RETRY_LOGIN, "The verification checkpoint expired: log in again"),
    "UNEXPECTED": (RETRY_LOGIN, "LinkedIn answered the login unexpectedly: log in again"),
}
# The session check after a successful login is an ordinary read: retried on a hiccup (it is not a login).
_ME_ATTEMPTS = 3


@dataclass
class _Credentials:
    username: str
    password: str
    user_agent: str | None

    def __repr__(self) -> str:  # never in a log line or a traceback
        return f"_Credentials(username=<{len(self.username)} chars>)"


def password_payload(username: str, password: str) -> dict[str, str]:
    """What the API encrypts into `PendingLogin.password_enc`."""
    return {"username": username, "password": password}


class LoginActivities:
    def __init__(self, deps: ActivityDeps):
        self.deps = deps

    # --- the one login attempt ---------------------------------------------------------------------------

    @activity.defn(name="login_with_credentials")
    async def login_with_credentials(self, input: LoginStepInput) -> LoginAnswer:
        pending = await asyncio.to_thread(self._pending_identity, input.pending_uid)
        if pending is None:
            return _gone()
        identity_uid, user_agent = pending
        try:
            client = await self._client(identity_uid, user_agent)
        except NoEgressAvailable as exc:
            return LoginAnswer(outcome="NO_EGRESS", message=exc.message)
        credentials = await asyncio.to_thread(self._take_password, input.pending_uid)
        if credentials is None:
            return _gone()
        try:
            result = await client.login(credentials.username, credentials.password)
        except Throttled as exc:
            return LoginAnswer(
                outcome="THROTTLED", retry_after_seconds=exc.retry_after_seconds, message=exc.message
            )
        except LinkedInUnavailable as exc:
            return LoginAnswer(outcome="UNAVAILABLE", message=exc.message)
        finally:
            del credentials
        if result.outcome == "PASS" and result.cookies is not None:
            return await self._connect(input.pending_uid, identity_uid, result.cookies)
        if result.outcome == "CHALLENGE" and result.challenge is not None:
            return await asyncio.to_thread(
                self._hold_checkpoint, input.pending_uid, result.challenge, input.checkpoint_ttl_seconds
            )
        return await asyncio.to_thread(self._fail, input.pending_uid, result.reason or "UNEXPECTED")

    async def _client(self, identity_uid: str, user_agent: str | None) -> LinkedInLogin:
        from activities.egress import login_client  # through the identity's egress proxy

        return await login_client(self.deps, identity_uid, user_agent)

    def _pending_identity(self, pending_uid: str) -> tuple[str, str | None] | None:
        with Session(self.deps.engine) as session:
            pending = session.get(PendingLogin, pending_uid)
            return (pending.identity_uid, pending.user_agent) if pending is not None else None

    def _take_password(self, pending_uid: str) -> _Credentials | None:
        """Read and erase the password in one committed transaction, before LinkedIn is asked."""
        with session_scope(self.deps.engine) as session:
            pending = session.get(PendingLogin, pending_uid)
            if pending is None or pending.password_enc is None:
                return None  # abandoned, or already attempted: never a second login
            data = self.deps.keyring.decrypt_json(pending.password_enc, associated=pending.uid)
            pending.password_enc = None
            session.add(pending)
            return _Credentials(data["username"], data["password"], pending.user_agent)

    # --- the checkpoint ----------------------------------------------------------------------------------

    @activity.defn(name="answer_checkpoint")
    async def answer_checkpoint(self, input: CheckpointStepInput) -> LoginAnswer:
        loaded = await asyncio.to_thread(self._challenge_of, input.pending_uid)
        if loaded is None:
            return _gone()
        identity_uid, user_agent, challenge = loaded
        try:
            client = await self._client(identity_uid, user_agent)
        except NoEgressAvailable as exc:
            return LoginAnswer(outcome="NO_EGRESS", message=exc.message)
        try:
            result = await client.answer_challenge(challenge, input.code)
        except Throttled as exc:
            return LoginAnswer(
                outcome="THROTTLED", retry_after_seconds=exc.retry_after_seconds, message=exc.message
            )
        except LinkedInUnavailable as exc:
            return LoginAnswer(outcome="UNAVAILABLE", message=exc.message)
        return await self._after_answer(input.pending_uid, identity_uid, result)

    async def _after_answer(self, pending_uid: str, identity_uid: str, result: LoginResult) -> LoginAnswer:
        if result.outcome == "PASS" and result.cookies is not None:
            return await self._connect(pending_uid, identity_uid, result.cookies)
        if result.outcome == "PENDING":
            return await asyncio.to_thread(self._still_pending, pending_uid)
        if result.outcome == "WRONG_CODE" and result.challenge is not None:
            return await asyncio.to_thread(self._wrong_code, pending_uid, result.challenge)
        return await asyncio.to_thread(self._fail, pending_uid, result.reason or "UNEXPECTED")

    def _challenge_of(self, pending_uid: str) -> tuple[str, str | None, LoginChallenge] | None:
        with Session(self.deps.engine) as session:
            pending = session.get(PendingLogin, pending_uid)
            if pending is None or pending.challenge_enc is None:
                return None
            data = self.deps.keyring.decrypt_json(pending.challenge_enc, associated=pending.uid)
            return pending.identity_uid, pending.user_agent, LoginChallenge(**data)

    def _hold_checkpoint(
        self, pending_uid: str, challenge: LoginChallenge, ttl_seconds: float
    ) -> LoginAnswer:
        """LinkedIn asks for verification: the integration is PENDING with its checkpoint, the pre-login
        cookie kept encrypted until the flow ends."""
        with session_scope(self.deps.engine) as session:
            pending = session.get(PendingLogin, pending_uid)
            if pending is None or lock_identity(session, pending.workspace_uid, pending.identity_uid) is None:
                return _gone()
            now = utcnow()
            expires_at = now + timedelta(seconds=ttl_seconds)
            attempts = challenge.attempts_left if challenge.attempts_left is not None else 3
            integration = live_integration_of(session, pending.identity_uid, lock=True)
            if integration is None:
                integration = _new_integration(pending)
            else:
                pending.previous_status = integration.status
            integration.status = "PENDING"
            integration.checkpoint = {
                "type": challenge.type,
                "expires_at": iso_z(expires_at),
                "attempts_left": attempts,
            }
            integration.last_error = None
            integration.updated_at = now
            session.add(integration)
            pending.integration_uid = integration.uid
            pending.challenge_enc = self.deps.keyring.encrypt_json(vars(challenge), associated=pending.uid)
            pending.expires_at = expires_at
            session.add(pending)
            return LoginAnswer(
                outcome="PENDING",
                integration_uid=integration.uid,
                checkpoint_type=challenge.type,
                expires_at=expires_at,
                attempts_left=attempts,
            )

    def _still_pending(self, pending_uid: str) -> LoginAnswer:
        """An in-app validation not approved yet: nothing changes."""
        with Session(self.deps.engine) as session:
            pending = session.get(PendingLogin, pending_uid)
            integration = session.get(Integration, pending.integration_uid) if pending else None
            if integration is None or not integration.checkpoint:
                return _gone()
            return _pending_answer(integration)

    def _wrong_code(self, pending_uid: str, challenge: LoginChallenge) -> LoginAnswer:
        """A wrong code uses up an attempt (API.md §1's one exception to "a 400 stores nothing")."""
        with session_scope(self.deps.engine) as session:
            pending = session.get(PendingLogin, pending_uid)
            integration = session.get(Integration, pending.integration_uid) if pending else None
            if pending is None or integration is None or not integration.checkpoint:
                return _gone()
            attempts = max(0, challenge.attempts_left or 0)
            integration.checkpoint = {**integration.checkpoint, "attempts_left": attempts}
            integration.updated_at = utcnow()
            session.add(integration)
            pending.challenge_enc = self.deps.keyring.encrypt_json(vars(challenge), associated=pending.uid)
            session.add(pending)
            answer = _pending_answer(integration)
            answer.outcome = "WRONG_CODE"
            return answer

    # --- outcomes that end the flow ----------------------------------------------------------------------

    async def _connect(self, pending_uid: str, identity_uid: str, cookies: SessionCookies) -> LoginAnswer:
        """LinkedIn handed out a session: learn whose it is, then attach it like a cookie connect."""
        me: Me | None = None
        for attempt in range(_ME_ATTEMPTS):
            try:
                me = await who_is(self.deps, identity_uid, cookies)
                break
            except LinkedInUnavailable:
                if attempt + 1 == _ME_ATTEMPTS:
                    break
                await asyncio.sleep(0.5 * (attempt + 1))
            except LinkedInError as exc:
                log.warning("a fresh login session was refused by LinkedIn: %s", exc.message)
                break
        if me is None:
            return await asyncio.to_thread(self._fail, pending_uid, "UNEXPECTED")
        return await asyncio.to_thread(self._attach, pending_uid, me, cookies)

    def _attach(self, pending_uid: str, me: Me, cookies: SessionCookies) -> LoginAnswer:
        with session_scope(self.deps.engine) as session:
            pending = session.get(PendingLogin, pending_uid)
            if pending is None:
                return _gone()  # disconnected while LinkedIn answered: keep nothing
            cookies.user_agent = pending.user_agent
            outcome = attach_session(
                session,
                self.deps.keyring,
                workspace_uid=pending.workspace_uid,
                identity_uid=pending.identity_uid,
                new_integration_uid=pending.integration_uid,
                me=me,
                cookies=cookies,
            )
            failed = False
            if outcome.outcome == "CONFLICT":
                failed = _undo_checkpoint(session, pending, outcome.message or "conflict")
            session.delete(pending)  # the flow is over: its secrets go with the row
            if outcome.outcome == "VALID":
                return LoginAnswer(
                    outcome="VALID",
                    integration_uid=outcome.integration_uid,
                    created=outcome.created,
                    linkedin_profile_id=outcome.linkedin_profile_id,
                )
            if outcome.outcome == "CONFLICT":
                return LoginAnswer(
                    outcome="CONFLICT",
                    integration_uid=pending.integration_uid,
                    message=outcome.message,
                    integration_failed=failed,
                    action_to_be_taken=RETRY_LOGIN,
                )
            return _gone()

    def _fail(self, pending_uid: str, reason: str) -> LoginAnswer:
        """The login or its verification failed: the integration is INVALID (created so when this was a
        first connect: AUTH_FAILED needs an integration to report), the flow's secrets erased."""
        action, message = _FAILURES.get(reason, _FAILURES["UNEXPECTED"])
        with session_scope(self.deps.engine) as session:
            pending = session.get(PendingLogin, pending_uid)
            if pending is None:
                return _gone()
            integration_uid = _invalidate(session, pending, reason, action, message)
            session.delete(pending)
            return LoginAnswer(
                outcome="FAILED",
                integration_uid=integration_uid,
                reason=reason,
                action_to_be_taken=action,
                attempts_left=0 if reason == "TOO_MANY_ATTEMPTS" else None,
                message=message,
                integration_failed=integration_uid is not None,
            )

    @activity.defn(name="end_login")
    async def end_login(self, input: EndLoginInput) -> LoginAnswer:
        """Erase the flow's row (idempotent). A checkpoint still pending can no longer be answered: its
        integration fails (INVALID; `expired`: because its deadline passed)."""
        return await asyncio.to_thread(self._end, input)

    def _end(self, input: EndLoginInput) -> LoginAnswer:
        with session_scope(self.deps.engine) as session:
            pending = session.get(PendingLogin, input.pending_uid)
            if pending is None:
                return _gone()
            integration_uid: str | None = None
            reason = "EXPIRED" if input.expired else "UNEXPECTED"
            integration = session.get(Integration, pending.integration_uid)
            if integration is not None and integration.deleted_at is None and integration.status == "PENDING":
                action, message = _FAILURES[reason]
                integration_uid = _invalidate(session, pending, reason, action, message)
            session.delete(pending)
            return LoginAnswer(
                outcome="FAILED",
                integration_uid=integration_uid,
                reason=reason if integration_uid else "GONE",
                action_to_be_taken=RETRY_LOGIN,
                integration_failed=integration_uid is not None,
            )

    @activity.defn(name="announce_login_event")
    async def announce_login_event(self, input: LoginEvent) -> None:
        await emit_integration_event(
            self.deps,
            input.integration_uid,
            input.event,
            action_to_be_taken=input.action_to_be_taken,
            event_id=input.event_id,
        )


# --- helpers (in the caller's transaction) -----------------------------------------------------------------


def _gone() -> LoginAnswer:
    """The flow was abandoned meanwhile (disconnected, identity deleted, or already over)."""
    return LoginAnswer(outcome="FAILED", reason="GONE", message="This login is no longer pending")


def _new_integration(pending: PendingLogin) -> Integration:
    now = utcnow()
    return Integration(
        uid=pending.integration_uid,
        workspace_uid=pending.workspace_uid,
        identity_uid=pending.identity_uid,
        type="linkedin",
        created_at=now,
        updated_at=now,
    )


def _pending_answer(integration: Integration) -> LoginAnswer:
    checkpoint: dict[str, Any] = integration.checkpoint or {}
    expires = checkpoint.get("expires_at")
    return LoginAnswer(
        outcome="PENDING",
        integration_uid=integration.uid,
        checkpoint_type=checkpoint.get("type"),
        expires_at=as_utc(datetime.fromisoformat(expires.replace("Z", "+00:00"))) if expires else None,
        attempts_left=checkpoint.get("attempts_left"),
    )


def _invalidate(
    session: Session, pending: PendingLogin, reason: str, action: str, message: str
) -> str | None:
    """Mark the flow's integration INVALID (creating it on a first connect); None if the identity is gone."""
    if lock_identity(session, pending.workspace_uid, pending.identity_uid) is None:
        return None
    integration = live_integration_of(session, pending.identity_uid, lock=True) or _new_integration(pending)
    integration.status = "INVALID"
    integration.checkpoint = None
    integration.last_error = {
        "error_label": "INTEGRATION_INVALID",
        "message": message,
        "reason": reason,
        "action_to_be_taken": action,
        "occurred_at": iso_z(utcnow()),
    }
    integration.updated_at = utcnow()
    session.add(integration)
    return integration.uid


def _undo_checkpoint(session: Session, pending: PendingLogin, message: str) -> bool:
    """The login turned out to be an account this identity may not take (API.md §3: 409). A reconnect's
    integration returns to what it was before its checkpoint; a first connect's (never VALID) fails.
    True when the integration became INVALID (AUTH_FAILED)."""
    integration = session.get(Integration, pending.integration_uid)
    if integration is None or integration.status != "PENDING" or integration.deleted_at is not None:
        return False
    if pending.previous_status is not None and integration.connected_at is not None:
        integration.status = pending.previous_status
        integration.checkpoint = None
        integration.updated_at = utcnow()
        session.add(integration)
        return False
    _invalidate(session, pending, "CONFLICT", RETRY_LOGIN, message)
    return True
