"""The workspace (API.md §2): its summary, webhook URL and signing secret, and credit consumption."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from sqlalchemy import func
from sqlmodel import Session, select

from api.deps import AdminMember, CurrentMember, DbSession, KeyringDep, SettingsDep
from api.errors import error_responses
from api.schemas import (
    ConsumptionOut,
    SecretOut,
    WebhookIn,
    WebhookOut,
    WorkspaceOut,
    credits,
    workspace_out,
)
from db.models import LedgerEntry, Workspace
from edgewise import webhooks
from edgewise.errors import ApiError, bad_input
from edgewise.targets import validate_target_url
from edgewise.timeutil import iso_z, parse_rfc3339, utcnow
from edgewise.workspaces import workspace_secret

router = APIRouter(
    prefix="/v1/workspace", tags=["workspace"], responses=error_responses(400, 401, 403, 413, 415)
)


def _workspace(session: Session, uid: str, *, for_update: bool = False) -> Workspace:
    statement = select(Workspace).where(Workspace.uid == uid)
    if for_update:
        statement = statement.with_for_update()
    workspace = session.exec(statement).first()
    if workspace is None:  # the member's workspace always exists; be explicit anyway
        raise ApiError("NOT_FOUND", "workspace not found")
    return workspace


@router.get("", response_model=WorkspaceOut, summary="The caller's workspace")
def get_workspace(member: CurrentMember, session: DbSession) -> dict[str, Any]:
    return workspace_out(_workspace(session, member.workspace_uid))


@router.get("/webhook", response_model=WebhookOut, summary="Webhook URL and signing secret (admin)")
def get_webhook(member: AdminMember, session: DbSession, keyring: KeyringDep) -> dict[str, Any]:
    workspace = _workspace(session, member.workspace_uid)
    return {"url": workspace.webhook_url, "secret": workspace_secret(keyring, workspace)}


@router.put("/webhook", response_model=WebhookOut, summary="Set the webhook URL (admin)")
def put_webhook(
    body: WebhookIn, member: AdminMember, session: DbSession, keyring: KeyringDep, settings: SettingsDep
) -> dict[str, Any]:
    url = validate_target_url(body.url, settings, "url")
    workspace = _workspace(session, member.workspace_uid, for_update=True)
    workspace.webhook_url = url
    workspace.updated_at = utcnow()
    session.add(workspace)
    return {"url": workspace.webhook_url, "secret": workspace_secret(keyring, workspace)}


@router.delete("/webhook", status_code=204, response_class=Response, summary="Remove the webhook URL (admin)")
def delete_webhook(member: AdminMember, session: DbSession) -> Response:
    workspace = _workspace(session, member.workspace_uid, for_update=True)
    if workspace.webhook_url is not None:
        workspace.webhook_url = None
        workspace.updated_at = utcnow()
        session.add(workspace)
    return Response(status_code=204)


@router.post(
    "/webhook/rotate-secret",
    response_model=SecretOut,
    summary="Rotate the signing secret (admin); the previous one still signs for 24 h",
)
def rotate_secret(member: AdminMember, session: DbSession, keyring: KeyringDep) -> dict[str, Any]:
    workspace = _workspace(session, member.workspace_uid, for_update=True)
    secret = webhooks.rotate_secret(keyring, workspace)
    session.add(workspace)
    return {"secret": secret}


def _month_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _timestamp(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise bad_input(field, str(exc)) from None


@router.get(
    "/consumption",
    response_model=ConsumptionOut,
    summary="Credits used in a period (default: this calendar month, UTC), by action",
)
def consumption(
    member: CurrentMember,
    session: DbSession,
    from_: Annotated[
        str | None,
        Query(alias="from", description="RFC 3339 with offset; default: start of this month (UTC)"),
    ] = None,
    to: Annotated[
        str | None, Query(description="RFC 3339 with offset, exclusive; default: start of next month (UTC)")
    ] = None,
) -> dict[str, Any]:
    default_start, default_end = _month_bounds(utcnow())
    start = _timestamp(from_, "from") or default_start
    end = _timestamp(to, "to") or default_end
    if start >= end:
        raise bad_input("to", "must be after from")
    rows = session.exec(
        select(
            LedgerEntry.action_name,
            func.coalesce(func.sum(LedgerEntry.credits_cents), 0),
            func.coalesce(func.sum(LedgerEntry.results), 0),
        )
        .where(
            LedgerEntry.workspace_uid == member.workspace_uid,
            LedgerEntry.at >= start,  # type: ignore[operator]
            LedgerEntry.at < end,  # type: ignore[operator]
        )
        .group_by(LedgerEntry.action_name)
        .order_by(LedgerEntry.action_name)
    ).all()
    total_cents = sum(int(cents) for _, cents, _ in rows)
    return {
        "credits_used": credits(total_cents),
        "by_action": [
            {"action_name": name, "credits": credits(int(cents)), "results": int(results)}
            for name, cents, results in rows
        ],
        "period_start": iso_z(start),
        "period_end": iso_z(end),
    }
