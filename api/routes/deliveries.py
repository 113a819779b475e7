"""Routes: deliveries — webhook events and run callbacks, their state, and replays (API.md §3 Deliveries)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from api.deps import CurrentMember, DbSession, OpsMember, SettingsDep, TemporalClientDep
from api.errors import error_responses
from api.pagination import LIST_RESPONSES, PageDep, paginate
from api.schemas import Timestamp
from db.models import Delivery
from edgewise.errors import ApiError
from edgewise.timeutil import iso_z
from edgewise.webhooks import prepare_replay, start_delivery, supersede_previous

router = APIRouter(tags=["deliveries"])

Kind = Literal["event", "callback"]
Status = Literal["PENDING", "RUNNING", "SUCCEEDED", "FAILED"]


class DeliveryOut(BaseModel):
    """One webhook event (`kind: event`) or run callback (`kind: callback`). Every attempt carries the same
    `webhook-id` header (`webhook_id`: the event's `event_id` or the callback's `callback_uid`) and the same
    body bytes."""

    uid: str
    kind: Kind
    webhook_id: str = Field(description="The `webhook-id` header of every attempt")
    url: str
    status: Status = Field(
        description="PENDING (not attempted yet), RUNNING (attempting, or waiting for the next attempt), "
        "SUCCEEDED (a 2xx answer), FAILED (no 2xx answer within 24 h, or the target was refused)"
    )
    attempts: int
    last_http_status: int | None = Field(description="Status of the last answer; null when there was none")
    last_error: str | None
    next_attempt_at: Timestamp | None = Field(description="When the next attempt is due; null once settled")
    run_uid: str | None = Field(description="The run of a callback; null for events")
    created_at: Timestamp
    updated_at: Timestamp


def delivery_out(delivery: Delivery) -> dict[str, Any]:
    return {
        "uid": delivery.uid,
        "kind": delivery.kind,
        "webhook_id": delivery.webhook_id,
        "url": delivery.url,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_http_status": delivery.last_http_status,
        "last_error": delivery.last_error,
        "next_attempt_at": iso_z(delivery.next_attempt_at),
        "run_uid": delivery.run_uid,
        "created_at": iso_z(delivery.created_at),
        "updated_at": iso_z(delivery.updated_at),
    }


def _not_found(uid: str) -> ApiError:
    return ApiError("NOT_FOUND", f"no delivery {uid} in this workspace", params={"uid": uid})


def _load(session: Session, uid: str, workspace_uid: str, *, lock: bool = False) -> Delivery:
    statement = select(Delivery).where(Delivery.uid == uid, Delivery.workspace_uid == workspace_uid)
    delivery = session.exec(statement.with_for_update() if lock else statement).one_or_none()
    if delivery is None:
        raise _not_found(uid)
    return delivery


@router.get(
    "/v1/deliveries",
    response_model=list[DeliveryOut],
    summary="List webhook events and run callbacks",
    responses={**LIST_RESPONSES, **error_responses(400, 401)},
)
def list_deliveries(
    member: CurrentMember,
    session: DbSession,
    page: PageDep,
    response: Response,
    kind: Annotated[list[Kind] | None, Query(description="`event` or `callback` (repeatable)")] = None,
    status: Annotated[list[Status] | None, Query(description="Delivery status (repeatable)")] = None,
    run_uid: Annotated[list[str] | None, Query(description="Callbacks of this run (repeatable)")] = None,
) -> list[dict[str, Any]]:
    statement = select(Delivery).where(Delivery.workspace_uid == member.workspace_uid)
    if kind:
        statement = statement.where(col(Delivery.kind).in_(kind))
    if status:
        statement = statement.where(col(Delivery.status).in_(status))
    if run_uid:
        statement = statement.where(col(Delivery.run_uid).in_(run_uid))
    rows = paginate(session, statement, page, response, created_at=Delivery.created_at, tiebreak=Delivery.uid)
    return [delivery_out(d) for d in rows]


@router.get(
    "/v1/deliveries/{uid}",
    response_model=DeliveryOut,
    summary="One delivery",
    responses=error_responses(401, 404),
)
def get_delivery(uid: str, member: CurrentMember, session: DbSession) -> dict[str, Any]:
    return delivery_out(_load(session, uid, member.workspace_uid))


@router.post(
    "/v1/deliveries/{uid}/replay",
    response_model=DeliveryOut,
    status_code=202,
    summary="Send a delivery again (ops)",
    description="Sends the same `webhook-id` and the same body bytes again, with fresh timestamps and "
    "signatures, retried like a new delivery. A round still retrying is superseded. Roles: admin, ops.",
    responses=error_responses(401, 403, 404, 503),
)
async def replay_delivery(
    uid: str, member: OpsMember, session: DbSession, client: TemporalClientDep, settings: SettingsDep
) -> dict[str, Any]:
    delivery = _load(session, uid, member.workspace_uid, lock=True)
    replay = prepare_replay(session, delivery)
    # Committed before talking to Temporal: the new round's attempts read this row, and on SQLite the
    # transaction holds the write lock.
    session.commit()
    await supersede_previous(client, uid, replay)
    await start_delivery(client, settings, uid, replay=replay)
    return delivery_out(delivery)
