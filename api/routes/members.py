"""Members of the workspace and their API keys (API.md §2).

Keys are shown once (creation, rotation) and stored as SHA-256 hashes. A workspace always keeps at least
one admin: removing or demoting the last one → 409. Role changes and removals lock the workspace row so two
concurrent demotions cannot both pass the "another admin remains" check.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from api.deps import AdminMember, AnyMember, CurrentMember, DbSession, get_or_404
from api.errors import error_responses
from api.idempotency import IdempotencyDep
from api.pagination import LIST_RESPONSES, PageDep, paginate
from api.schemas import ApiKeyOut, MemberCreate, MemberCreatedOut, MemberOut, MemberUpdate, member_out
from db.models import Member, Workspace
from edgewise.crypto import hash_api_key, new_api_key
from edgewise.errors import ApiError
from edgewise.timeutil import utcnow

router = APIRouter(
    prefix="/v1/members", tags=["members"], responses=error_responses(400, 401, 403, 404, 413, 415)
)


def _lock_workspace(session: Session, workspace_uid: str) -> None:
    session.exec(select(Workspace).where(Workspace.uid == workspace_uid).with_for_update()).first()


def _other_admins(session: Session, workspace_uid: str, member_uid: str) -> int:
    count = session.exec(
        select(func.count()).where(
            Member.workspace_uid == workspace_uid, Member.role == "admin", Member.uid != member_uid
        )
    ).one()
    return int(count)


def _last_admin_conflict(what: str) -> ApiError:
    return ApiError(
        "CONFLICT", f"cannot {what} the last admin of the workspace", params={"reason": "LAST_ADMIN"}
    )


@router.get("", response_model=list[MemberOut], responses=LIST_RESPONSES, summary="List members")
def list_members(
    member: CurrentMember, session: DbSession, page: PageDep, response: Response
) -> list[dict[str, Any]]:
    statement = select(Member).where(Member.workspace_uid == member.workspace_uid)
    rows = paginate(session, statement, page, response, created_at=Member.created_at, tiebreak=Member.uid)
    return [member_out(m) for m in rows]


@router.get("/{uid}", response_model=MemberOut, summary="One member")
def get_member(uid: str, member: CurrentMember, session: DbSession) -> dict[str, Any]:
    return member_out(get_or_404(session, Member, uid, member.workspace_uid, what="member"))


@router.post(
    "",
    status_code=201,
    response_model=MemberCreatedOut,
    responses=error_responses(409),
    summary="Add a member (admin); its api_key is shown once",
)
def create_member(
    body: MemberCreate, admin: AdminMember, session: DbSession, idem: IdempotencyDep
) -> Response:
    if (replay := idem.begin(session, admin.workspace_uid)) is not None:
        return replay
    duplicate = session.exec(
        select(Member).where(Member.workspace_uid == admin.workspace_uid, Member.email == body.email)
    ).first()
    if duplicate is not None:
        raise ApiError(
            "CONFLICT", f"{body.email} is already a member of this workspace", params={"email": body.email}
        )
    api_key = new_api_key()
    new = Member(
        workspace_uid=admin.workspace_uid, email=body.email, role=body.role, key_hash=hash_api_key(api_key)
    )
    try:
        with session.begin_nested():
            session.add(new)
    except IntegrityError:  # a concurrent creation of the same email won
        raise ApiError(
            "CONFLICT", f"{body.email} is already a member of this workspace", params={"email": body.email}
        )
    # The key is shown once: an idempotent repeat replays the creation without it.
    return idem.respond(session, 201, member_out(new, api_key), stored_body=member_out(new))


@router.patch(
    "/{uid}", response_model=MemberOut, responses=error_responses(409), summary="Change a role (admin)"
)
def update_member(uid: str, body: MemberUpdate, admin: AdminMember, session: DbSession) -> dict[str, Any]:
    _lock_workspace(session, admin.workspace_uid)
    target = get_or_404(session, Member, uid, admin.workspace_uid, what="member")
    if (
        target.role == "admin"
        and body.role != "admin"
        and _other_admins(session, admin.workspace_uid, uid) == 0
    ):
        raise _last_admin_conflict("demote")
    if target.role != body.role:
        target.role = body.role
        target.updated_at = utcnow()
        session.add(target)
    return member_out(target)


@router.delete(
    "/{uid}",
    status_code=204,
    response_class=Response,
    responses=error_responses(409),
    summary="Remove (admin)",
)
def delete_member(uid: str, admin: AdminMember, session: DbSession) -> Response:
    _lock_workspace(session, admin.workspace_uid)
    target = get_or_404(session, Member, uid, admin.workspace_uid, what="member")
    if target.role == "admin" and _other_admins(session, admin.workspace_uid, uid) == 0:
        raise _last_admin_conflict("remove")
    session.delete(target)
    return Response(status_code=204)


@router.post(
    "/{uid}/rotate-key",
    response_model=ApiKeyOut,
    summary="Issue a new API key (admins: anyone's; every member: their own); the old key stops working",
)
def rotate_key(uid: str, member: AnyMember, session: DbSession) -> dict[str, Any]:
    target = get_or_404(session, Member, uid, member.workspace_uid, what="member")
    if target.uid != member.uid and member.role != "admin":
        raise ApiError(
            "FORBIDDEN", "only admins may rotate another member's key", params={"role": member.role}
        )
    api_key = new_api_key()
    target.key_hash = hash_api_key(api_key)
    target.updated_at = utcnow()
    session.add(target)
    return {"api_key": api_key}
