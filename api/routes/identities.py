"""Identities (API.md §3): the people whose LinkedIn accounts edgewise acts as.

Deleting an identity is a soft delete (`deleted_at`): runs, outputs and the ledger keep pointing at it.
Its integration is marked deleted with its cookies erased, then `api.hooks.on_identity_deleted` runs
(events, runs, schedules) after the commit.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from api import hooks
from api.deps import CurrentMember, DbSession, OpsMember, SettingsDep, get_or_404
from api.errors import error_responses
from api.idempotency import IdempotencyDep
from api.login_service import abandon
from api.pagination import LIST_RESPONSES, PageDep, paginate
from api.schemas import DEFAULT_WORKING_HOURS, IdentityCreate, IdentityOut, IdentityUpdate, identity_out
from db.models import Identity, Integration, PendingLogin
from edgewise.egress import assign_egress, load_pool, release_egress
from edgewise.errors import bad_input
from edgewise.timeutil import utcnow

router = APIRouter(
    prefix="/v1/identities", tags=["identities"], responses=error_responses(400, 401, 403, 404, 413, 415)
)


def live_integrations(session: Session, identity_uids: list[str]) -> dict[str, list[Integration]]:
    """Non-deleted integrations of these identities, by identity uid (one query for a whole page)."""
    found: dict[str, list[Integration]] = {uid: [] for uid in identity_uids}
    if not identity_uids:
        return found
    rows = session.exec(
        select(Integration)
        .where(col(Integration.identity_uid).in_(identity_uids), col(Integration.deleted_at).is_(None))
        .order_by(col(Integration.created_at))
    ).all()
    for row in rows:
        found[row.identity_uid].append(row)
    return found


def _out(session: Session, identity: Identity) -> dict[str, Any]:
    return identity_out(identity, live_integrations(session, [identity.uid])[identity.uid])


@router.post("", status_code=201, response_model=IdentityOut, summary="Create an identity (ops)")
def create_identity(
    body: IdentityCreate, member: OpsMember, session: DbSession, idem: IdempotencyDep, settings: SettingsDep
) -> Response:
    if (replay := idem.begin(session, member.workspace_uid)) is not None:
        return replay
    working_hours = (
        body.working_hours.model_dump()
        if body.working_hours is not None
        else None
        if "working_hours" in body.model_fields_set
        else dict(DEFAULT_WORKING_HOURS)
    )
    identity = Identity(
        workspace_uid=member.workspace_uid,
        name=body.name,
        timezone=body.timezone,
        working_hours=working_hours,
    )
    session.add(identity)
    session.flush()
    assign_egress(session, identity, load_pool(settings))  # its own proxy for life, when one is free
    return idem.respond(session, 201, identity_out(identity, []))


@router.get("", response_model=list[IdentityOut], responses=LIST_RESPONSES, summary="List identities")
def list_identities(
    member: CurrentMember,
    session: DbSession,
    page: PageDep,
    response: Response,
    query: Annotated[
        str | None, Query(max_length=255, description="Name contains (case-insensitive)")
    ] = None,
) -> list[dict[str, Any]]:
    statement = select(Identity).where(
        Identity.workspace_uid == member.workspace_uid, col(Identity.deleted_at).is_(None)
    )
    if query:
        statement = statement.where(col(Identity.name).icontains(query, autoescape=True))
    rows = paginate(session, statement, page, response, created_at=Identity.created_at, tiebreak=Identity.uid)
    integrations = live_integrations(session, [i.uid for i in rows])
    return [identity_out(i, integrations[i.uid]) for i in rows]


@router.get("/{uid}", response_model=IdentityOut, summary="One identity")
def get_identity(uid: str, member: CurrentMember, session: DbSession) -> dict[str, Any]:
    return _out(session, get_or_404(session, Identity, uid, member.workspace_uid, what="identity"))


@router.put("/{uid}", response_model=IdentityOut, summary="Update name, timezone or working hours (ops)")
def update_identity(uid: str, body: IdentityUpdate, member: OpsMember, session: DbSession) -> dict[str, Any]:
    identity = get_or_404(session, Identity, uid, member.workspace_uid, what="identity")
    fields = body.model_fields_set
    for name in ("name", "timezone"):
        if name in fields and getattr(body, name) is None:
            raise bad_input(name, "must not be null")
    if "name" in fields and body.name is not None:
        identity.name = body.name
    if "timezone" in fields and body.timezone is not None:
        identity.timezone = body.timezone
    if "working_hours" in fields:
        identity.working_hours = body.working_hours.model_dump() if body.working_hours is not None else None
    if fields:
        identity.updated_at = utcnow()
        session.add(identity)
        session.flush()
    return _out(session, identity)


def _soft_delete(session: Session, uid: str, workspace_uid: str) -> str | None:
    """Delete the identity, erase its integration's session and end a login in progress (its password and
    checkpoint cookie go with its row). Returns that login's workflow id, to be told it is over."""
    identity = get_or_404(session, Identity, uid, workspace_uid, what="identity")
    now = utcnow()
    identity.deleted_at = now
    identity.updated_at = now
    release_egress(session, identity, now)  # not handed to another identity for 30 days
    session.add(identity)
    for integration in live_integrations(session, [uid])[uid]:
        integration.deleted_at = now
        integration.updated_at = now
        integration.cookies_enc = None  # erased, not just hidden
        integration.user_agent = None
        integration.checkpoint = None
        session.add(integration)
    pending = session.exec(select(PendingLogin).where(PendingLogin.identity_uid == uid)).first()
    login_workflow_id = pending.workflow_id if pending is not None else None
    if pending is not None:
        session.delete(pending)
    # Committed before the hook, so what it starts (events, stopping runs) sees the deletion.
    session.commit()
    return login_workflow_id


@router.delete(
    "/{uid}",
    status_code=204,
    response_class=Response,
    summary="Delete an identity (ops): disconnects its integration, stops its runs, cancels its schedules",
)
async def delete_identity(uid: str, member: OpsMember, session: DbSession, request: Request) -> Response:
    login_workflow_id = await run_in_threadpool(_soft_delete, session, uid, member.workspace_uid)
    if login_workflow_id is not None and request.app.state.temporal_client is not None:
        await abandon(request.app.state.temporal_client, login_workflow_id)
    await hooks.on_identity_deleted(request.app.state, member.workspace_uid, uid)
    return Response(status_code=204)
