"""An integration's LinkedIn session, for activities: load (decrypt) it, persist rotations, and record what
LinkedIn says about it (expired, restricted, restriction lifted) — each status change once, with its event,
and with the runs' work held or resumed to match (activities/blocked_work.py).

Cookies are AES-GCM ciphertext in `Integration.cookies_enc`, associated data = the integration uid, so a
blob copied onto another row does not decrypt. They never leave the activity that loaded them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import Session, select

from activities.blocked_work import hold_work, resume_blocked_work
from activities.deps import ActivityDeps
from db.engine import session_scope
from db.models import Integration
from edgewise.crypto import Keyring
from edgewise.events import emit_integration_event
from edgewise.timeutil import iso_z, utcnow
from edgewise.webhooks import activity_key, deterministic_id
from linkedin.protocol import AccountRestricted, CookieSink, SessionCookies, SessionExpired


def cookies_to_json(cookies: SessionCookies) -> dict[str, str]:
    """The stored (encrypted) shape: LinkedIn's cookie names; the user agent has its own column."""
    data = {"li_at": cookies.li_at, "JSESSIONID": cookies.jsessionid}
    if cookies.li_a:
        data["li_a"] = cookies.li_a
    return data


def encrypt_cookies(keyring: Keyring, integration_uid: str, cookies: SessionCookies) -> str:
    return keyring.encrypt_json(cookies_to_json(cookies), associated=integration_uid)


def decrypt_cookies(keyring: Keyring, integration: Integration) -> SessionCookies:
    if not integration.cookies_enc:
        raise SessionExpired("the integration holds no session")
    data = keyring.decrypt_json(integration.cookies_enc, associated=integration.uid)
    return SessionCookies(
        li_at=data["li_at"],
        jsessionid=data["JSESSIONID"],
        li_a=data.get("li_a"),
        user_agent=integration.user_agent,
    )


def _live_integration(session: Session, integration_uid: str, *, lock: bool = False) -> Integration | None:
    query = select(Integration).where(Integration.uid == integration_uid, Integration.deleted_at.is_(None))  # type: ignore[union-attr]
    if lock:
        query = query.with_for_update()
    return session.exec(query).one_or_none()


# --- loading a session ------------------------------------------------------------------------------------


def _load(deps: ActivityDeps, integration_uid: str, statuses: tuple[str, ...] = ("VALID",)) -> SessionCookies:
    with Session(deps.engine) as session:
        integration = _live_integration(session, integration_uid)
        if integration is None:
            raise SessionExpired("the integration was disconnected")
        if integration.status not in statuses:
            if integration.status == "RESTRICTED":
                raise AccountRestricted("LinkedIn restricted this account")
            raise SessionExpired(f"the integration is {integration.status}")
        return decrypt_cookies(deps.keyring, integration)


def _store_rotation(
    deps: ActivityDeps, integration_uid: str, previous_li_at: str, cookies: SessionCookies
) -> None:
    with session_scope(deps.engine) as session:
        integration = _live_integration(session, integration_uid, lock=True)
        if integration is None or not integration.cookies_enc:
            return
        current = decrypt_cookies(deps.keyring, integration)
        if current.li_at != previous_li_at:
            return  # reconnected meanwhile with another session: the new one wins
        integration.cookies_enc = encrypt_cookies(deps.keyring, integration.uid, cookies)
        integration.updated_at = utcnow()
        session.add(integration)


async def load_session(
    deps: ActivityDeps, integration_uid: str, *, statuses: tuple[str, ...] = ("VALID",)
) -> tuple[SessionCookies, CookieSink]:
    """The integration's cookies (decrypted) and a sink that persists a rotated JSESSIONID before the adapter
    call returns. Raises SessionExpired when the integration is gone, has no session or is not in `statuses`
    (AccountRestricted when it is RESTRICTED), so callers treat them as LinkedIn's own refusals. The health
    check passes `("VALID", "RESTRICTED")`: it probes a restricted account to see the restriction lift."""
    cookies = await asyncio.to_thread(_load, deps, integration_uid, statuses)
    li_at = cookies.li_at

    async def sink(rotated: SessionCookies) -> None:
        await asyncio.to_thread(_store_rotation, deps, integration_uid, li_at, rotated)

    return cookies, sink


# --- status changes ---------------------------------------------------------------------------------------


def _event_id(integration_uid: str, event: str) -> str:
    """Stable across retries of the calling activity (the same id events.py derives), else random."""
    key = activity_key()
    if key is None:
        return deterministic_id("session", event, integration_uid, utcnow().isoformat())
    return deterministic_id("event", key, integration_uid, event)


def _flip(
    deps: ActivityDeps,
    integration_uid: str,
    *,
    to_status: str,
    from_statuses: tuple[str, ...],
    last_error: dict[str, Any] | None,
    event_id: str,
    session_li_at: str | None,
) -> bool:
    """Move the integration to `to_status` if it is in `from_statuses`. True when this call (or an earlier
    attempt of the same activity, which recorded the same event id in `last_error`) changed it. A flip
    back to VALID clears `last_error` (so a retry of it is not recognised: its event may be lost, never
    doubled)."""
    with session_scope(deps.engine) as session:
        integration = _live_integration(session, integration_uid, lock=True)
        if integration is None:
            return False
        if integration.status == to_status:
            # A retry of the very call that flipped it (crashed before its event went out) owns it still.
            return (integration.last_error or {}).get("event_id") == event_id
        if integration.status not in from_statuses:
            return False
        if session_li_at is not None and integration.cookies_enc:
            if decrypt_cookies(deps.keyring, integration).li_at != session_li_at:
                return False  # the session that failed was replaced by a reconnect meanwhile
        integration.status = to_status
        integration.last_error = (
            None
            if last_error is None
            else {**last_error, "event_id": event_id, "occurred_at": iso_z(utcnow())}
        )
        integration.updated_at = utcnow()
        session.add(integration)
        return True


async def mark_session_expired(
    deps: ActivityDeps, integration_uid: str, *, reason: str, session: SessionCookies | None = None
) -> bool:
    """VALID → INVALID with `last_error`, and event AUTH_EXPIRED (RETRY_LOGIN) — once per expiry: True only
    for the call that flipped it (and its retries). Pass the `session` that failed to ignore an expiry of a
    session a reconnect has already replaced."""
    event_id = _event_id(integration_uid, "AUTH_EXPIRED")
    flipped = await asyncio.to_thread(
        _flip,
        deps,
        integration_uid,
        to_status="INVALID",
        from_statuses=("VALID",),
        last_error={
            "error_label": "INTEGRATION_INVALID",
            "message": reason[:500] or "LinkedIn session expired",
        },
        event_id=event_id,
        session_li_at=session.li_at if session is not None else None,
    )
    if flipped:
        await hold_work(deps, integration_uid, _held_error("INTEGRATION_INVALID", "the session expired"))
        await emit_integration_event(
            deps, integration_uid, "AUTH_EXPIRED", action_to_be_taken="RETRY_LOGIN", event_id=event_id
        )
    return flipped


async def mark_restricted(deps: ActivityDeps, integration_uid: str) -> bool:
    """VALID/INVALID → RESTRICTED and event RESTRICTED (WAIT), once; True for the call that changed it. The
    work is held (BLOCKED), not failed: `mark_restriction_lifted` resumes it."""
    event_id = _event_id(integration_uid, "RESTRICTED")
    flipped = await asyncio.to_thread(
        _flip,
        deps,
        integration_uid,
        to_status="RESTRICTED",
        from_statuses=("VALID", "INVALID", "PENDING"),
        last_error={"error_label": "INTEGRATION_RESTRICTED", "message": "LinkedIn restricted this account"},
        event_id=event_id,
        session_li_at=None,
    )
    if flipped:
        held = _held_error("INTEGRATION_RESTRICTED", "LinkedIn restricted the account")
        await hold_work(deps, integration_uid, held)
        await emit_integration_event(
            deps, integration_uid, "RESTRICTED", action_to_be_taken="WAIT", event_id=event_id
        )
    return flipped


async def mark_restriction_lifted(deps: ActivityDeps, integration_uid: str, session: SessionCookies) -> bool:
    """RESTRICTED → VALID when LinkedIn answers the account's session again (the health check saw it), with
    event AUTH_UPDATED (the contract's event for "VALID again on an existing integration"; RESTRICTED told the
    customer to WAIT, so this is what ends the wait), and its BLOCKED work resumed. Once per lifting."""
    event_id = _event_id(integration_uid, "AUTH_UPDATED")
    flipped = await asyncio.to_thread(
        _flip,
        deps,
        integration_uid,
        to_status="VALID",
        from_statuses=("RESTRICTED",),
        last_error=None,
        event_id=event_id,
        session_li_at=session.li_at,
    )
    if flipped:
        await emit_integration_event(deps, integration_uid, "AUTH_UPDATED", event_id=event_id)
    if flipped or await asyncio.to_thread(_is_valid, deps, integration_uid):
        # Also on a retry of the call that flipped it: the first attempt may have died before resuming.
        await resume_blocked_work(deps, integration_uid)
    return flipped


def _is_valid(deps: ActivityDeps, integration_uid: str) -> bool:
    with Session(deps.engine) as session:
        integration = _live_integration(session, integration_uid)
        return integration is not None and integration.status == "VALID"


def _held_error(label: str, message: str) -> dict[str, Any]:
    """The `error` a held (BLOCKED) input shows until its integration is VALID again."""
    message = f"{message}; the input waits until the integration is VALID again"
    return {"error_label": label, "message": message, "params": {}}
