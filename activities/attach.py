"""Attaching a verified LinkedIn session to an identity's integration — shared by the cookie connect and
the credentials login, so both apply the same rules (API.md §3):

- one LinkedIn account belongs to one identity at a time (another identity holds it → CONFLICT);
- a reconnect must be the same account as the one connected (another account → CONFLICT);
- the first connect creates the integration; a reconnect keeps its uid; `created` is True when the
  integration becomes VALID for the first time (201 and AUTH_SUCCESS, else 200 and AUTH_UPDATED);
- the level, name and ids come from LinkedIn's own answer about the account (`Me`), never from the caller.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session, select

from activities.sessions import encrypt_cookies
from db.models import Identity, Integration
from edgewise.crypto import Keyring
from edgewise.timeutil import utcnow
from linkedin.protocol import Me, SessionCookies
from workflows.contracts import ConnectOutcome

LEVELS = ("classic", "premium", "sales_navigator")


def live_integration_of(session: Session, identity_uid: str, *, lock: bool = False) -> Integration | None:
    """The identity's current (non-deleted) integration."""
    query = select(Integration).where(
        Integration.identity_uid == identity_uid,
        Integration.deleted_at.is_(None),  # type: ignore[union-attr]
    )
    if lock:
        query = query.with_for_update()
    return session.exec(query.order_by(Integration.created_at.desc())).first()  # type: ignore[attr-defined]


def lock_identity(session: Session, workspace_uid: str, identity_uid: str) -> Identity | None:
    """The identity, row-locked for this transaction; None when gone or not in this workspace."""
    query = select(Identity).where(Identity.uid == identity_uid).with_for_update()
    identity = session.exec(query).one_or_none()
    if identity is None or identity.deleted_at is not None or identity.workspace_uid != workspace_uid:
        return None
    return identity


def attach_session(
    session: Session,
    keyring: Keyring,
    *,
    workspace_uid: str,
    identity_uid: str,
    new_integration_uid: str,
    me: Me,
    cookies: SessionCookies,
) -> ConnectOutcome:
    """Store `cookies` (encrypted) on the identity's integration, in the caller's transaction, unless a rule
    above forbids it (then nothing is written)."""
    if session.get_bind().dialect.name == "postgresql":
        # One connect at a time per LinkedIn account (across identities), so two identities cannot both
        # take it; SQLite's BEGIN IMMEDIATE already serialises every write.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": me.linkedin_profile_id})
    identity = lock_identity(session, workspace_uid, identity_uid)
    if identity is None:
        return ConnectOutcome(outcome="INVALID", message="the identity no longer exists")
    current = live_integration_of(session, identity.uid, lock=True)
    holder = session.exec(
        select(Integration)
        .join(Identity, Identity.uid == Integration.identity_uid)  # type: ignore[arg-type]
        .where(
            Integration.linkedin_profile_id == me.linkedin_profile_id,
            Integration.identity_uid != identity.uid,
            Integration.deleted_at.is_(None),  # type: ignore[union-attr]
            Identity.deleted_at.is_(None),  # type: ignore[union-attr]
        )
    ).first()
    if holder is not None:
        return ConnectOutcome(
            outcome="CONFLICT",
            linkedin_profile_id=me.linkedin_profile_id,
            message="This LinkedIn account is already connected to another identity",
        )
    if (
        current is not None
        and current.linkedin_profile_id is not None
        and current.linkedin_profile_id != me.linkedin_profile_id
    ):
        return ConnectOutcome(
            outcome="CONFLICT",
            integration_uid=current.uid,
            linkedin_profile_id=me.linkedin_profile_id,
            message="This session belongs to a different LinkedIn account than the one connected",
        )

    now = utcnow()
    # An integration that was never VALID (a login that failed or still waits) becomes VALID for the first
    # time: that is the first connect, whatever row already stood for it.
    created = current is None or current.connected_at is None
    integration = current or Integration(
        uid=new_integration_uid,
        workspace_uid=identity.workspace_uid,
        identity_uid=identity.uid,
        type="linkedin",
        created_at=now,
    )
    integration.status = "VALID"
    integration.level = me.level if me.level in LEVELS else "classic"
    integration.account_name = f"{me.first_name} {me.last_name}".strip()[:255] or me.public_identifier
    integration.linkedin_profile_id = me.linkedin_profile_id
    integration.linkedin_profile_urn = me.linkedin_profile_urn
    integration.public_identifier = me.public_identifier
    integration.cookies_enc = encrypt_cookies(keyring, integration.uid, cookies)
    integration.user_agent = cookies.user_agent
    integration.checkpoint = None
    integration.last_error = None
    integration.connected_at = integration.connected_at or now
    integration.updated_at = now
    session.add(integration)
    return ConnectOutcome(
        outcome="VALID",
        integration_uid=integration.uid,
        created=created,
        linkedin_profile_id=me.linkedin_profile_id,
    )
