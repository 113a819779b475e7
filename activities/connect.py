"""Connect activities: verify submitted cookies against LinkedIn and attach them to the identity's
integration, in one transaction that also erases the stash they came in.

The cookies reach us through a SecretStash row (encrypted, associated data = its uid), never through
Temporal; what we return is a ConnectOutcome (uids, labels), never a secret.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.accounts import ensure_account_workflow
from activities.attach import attach_session, live_integration_of
from activities.deps import ActivityDeps
from db.engine import session_scope
from db.models import Integration, SecretStash
from edgewise.crypto import Keyring
from edgewise.events import emit_integration_event
from edgewise.timeutil import as_utc, utcnow
from linkedin.protocol import (
    AccountRestricted,
    CsrfFailed,
    LinkedInError,
    LinkedInUnavailable,
    Me,
    SessionCookies,
    SessionExpired,
    Throttled,
)
from workflows.connect import integration_uid_for_stash
from workflows.contracts import ConnectAnnouncement, ConnectInput, ConnectOutcome, DiscardStashInput

log = logging.getLogger("edgewise.connect")

STASH_TTL = timedelta(minutes=10)


# --- the stash (written by the API, read and erased here) -------------------------------------------------


def new_cookie_stash(keyring: Keyring, cookies: SessionCookies) -> SecretStash:
    """A SecretStash row holding `cookies` (and the user agent), encrypted; the caller adds and commits it."""
    now = utcnow()
    stash = SecretStash(kind="cookies", ciphertext="", expires_at=now + STASH_TTL, created_at=now)
    payload: dict[str, Any] = {"li_at": cookies.li_at, "JSESSIONID": cookies.jsessionid}
    if cookies.li_a:
        payload["li_a"] = cookies.li_a
    if cookies.user_agent:
        payload["user_agent"] = cookies.user_agent
    stash.ciphertext = keyring.encrypt_json(payload, associated=stash.uid)
    return stash


def read_cookie_stash(keyring: Keyring, stash: SecretStash) -> SessionCookies:
    data = keyring.decrypt_json(stash.ciphertext, associated=stash.uid)
    return SessionCookies(
        li_at=data["li_at"],
        jsessionid=data["JSESSIONID"],
        li_a=data.get("li_a"),
        user_agent=data.get("user_agent"),
    )


def delete_stash(session: Session, stash_uid: str) -> None:
    stash = session.get(SecretStash, stash_uid)
    if stash is not None:
        session.delete(stash)


async def who_is(deps: ActivityDeps, identity_uid: str, cookies: SessionCookies) -> Me:
    """LinkedIn's own answer about the session's account (id, name, level), asked through the identity's
    egress proxy. The check may rotate JSESSIONID: `cookies` is updated in place, so what gets stored is the
    latest."""

    async def on_rotate(rotated: SessionCookies) -> None:
        cookies.jsessionid = rotated.jsessionid
        cookies.li_at = rotated.li_at

    from activities.egress import linkedin_adapter  # through the identity's egress proxy

    adapter = await linkedin_adapter(deps, identity_uid, cookies, on_rotate)
    try:
        return await adapter.me()
    finally:
        await adapter.aclose()


class ConnectActivities:
    def __init__(self, deps: ActivityDeps):
        self.deps = deps

    # --- verify_and_attach_cookies -----------------------------------------------------------------------

    @activity.defn(name="verify_and_attach_cookies")
    async def verify_and_attach_cookies(self, input: ConnectInput) -> ConnectOutcome:
        first_scheduled = activity.info().scheduled_time if activity.in_activity() else utcnow()
        cookies = await asyncio.to_thread(self._read_stash, input.stash_uid)
        if cookies is None:
            # A retry after the first attempt committed (or the stash expired): answer from what is stored.
            return await asyncio.to_thread(self._answer_from_state, input, first_scheduled)

        refusal: str | None = None
        me: Me | None = None
        try:
            me = await self._me(cookies, input.identity_uid)
        except (SessionExpired, CsrfFailed):
            refusal = "LinkedIn rejected the session: log in again and submit fresh cookies"
        except AccountRestricted:
            refusal = "LinkedIn restricted this account"
        except Throttled as exc:
            raise ApplicationError(
                "LinkedIn throttled the session check",
                exc.retry_after_seconds,
                type="Throttled",
                non_retryable=True,
            )
        except LinkedInUnavailable as exc:
            raise ApplicationError(f"LinkedIn did not answer: {exc.message}", type="LinkedInUnavailable")
        except LinkedInError as exc:
            refusal = f"LinkedIn refused the session check: {exc.message}"

        if me is None or refusal is not None:
            await asyncio.to_thread(self._discard, input.stash_uid)
            return ConnectOutcome(outcome="INVALID", message=refusal)
        return await asyncio.to_thread(self._attach, input, me, first_scheduled)

    async def _me(self, cookies: SessionCookies, identity_uid: str) -> Me:
        return await who_is(self.deps, identity_uid, cookies)

    def _read_stash(self, stash_uid: str) -> SessionCookies | None:
        with Session(self.deps.engine) as session:
            stash = session.get(SecretStash, stash_uid)
            if stash is None:
                return None
            try:
                return read_cookie_stash(self.deps.keyring, stash)
            except Exception:  # unreadable (a key was removed): treat as gone, it cannot be verified
                log.warning("stash %s could not be decrypted", stash_uid)
                return None

    def _discard(self, stash_uid: str) -> None:
        with session_scope(self.deps.engine) as session:
            delete_stash(session, stash_uid)

    def _attach(self, input: ConnectInput, me: Me, first_scheduled: datetime) -> ConnectOutcome:
        with session_scope(self.deps.engine) as session:
            stash = session.get(SecretStash, input.stash_uid)
            if stash is None:
                # Consumed meanwhile (an earlier attempt of this same activity): answer from its work.
                return self._answer_from_state_in(session, input, first_scheduled)
            cookies = read_cookie_stash(self.deps.keyring, stash)
            session.delete(stash)  # erased in the same transaction that stores (or refuses) the session
            return attach_session(
                session,
                self.deps.keyring,
                workspace_uid=input.workspace_uid,
                identity_uid=input.identity_uid,
                new_integration_uid=integration_uid_for_stash(input.stash_uid),
                me=me,
                cookies=cookies,
            )

    def _answer_from_state(self, input: ConnectInput, first_scheduled: datetime) -> ConnectOutcome:
        with Session(self.deps.engine) as session:
            return self._answer_from_state_in(session, input, first_scheduled)

    @staticmethod
    def _answer_from_state_in(
        session: Session, input: ConnectInput, first_scheduled: datetime
    ) -> ConnectOutcome:
        created = session.get(Integration, integration_uid_for_stash(input.stash_uid))
        if created is not None and created.deleted_at is None and created.status == "VALID":
            return ConnectOutcome(
                outcome="VALID",
                integration_uid=created.uid,
                created=True,
                linkedin_profile_id=created.linkedin_profile_id,
            )
        current = live_integration_of(session, input.identity_uid)
        if (
            current is not None
            and current.status == "VALID"
            and current.linkedin_profile_id is not None
            and as_utc(current.updated_at) >= as_utc(first_scheduled)
        ):
            return ConnectOutcome(
                outcome="VALID",
                integration_uid=current.uid,
                created=False,
                linkedin_profile_id=current.linkedin_profile_id,
            )
        return ConnectOutcome(
            outcome="INVALID", message="The submitted session is no longer available; submit it again"
        )

    # --- after a successful connect ---------------------------------------------------------------------

    @activity.defn(name="announce_connected")
    async def announce_connected(self, input: ConnectAnnouncement) -> None:
        await emit_integration_event(self.deps, input.integration_uid, input.event, event_id=input.event_id)
        await ensure_account_workflow(
            self.deps.client, self.deps.settings.temporal_task_queue, input.linkedin_profile_id
        )
        # VALID (again): the work its expiry or restriction held (BLOCKED) carries on by itself.
        from activities.blocked_work import resume_blocked_work

        await resume_blocked_work(self.deps, input.integration_uid)

    @activity.defn(name="discard_stash")
    async def discard_stash(self, input: DiscardStashInput) -> None:
        await asyncio.to_thread(self._discard, input.stash_uid)
