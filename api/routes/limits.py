"""Smart Limits routes (API.md §7): limit overrides of the workspace and of an identity, and what an action's
limits look like for an identity right now.

- `GET|PUT /v1/workspace/limits` (admin) and `GET|PUT /v1/identities/{uid}/limits` (ops or admin; any member
  may GET an identity's): `{"limits": {"LK_MESSAGES_SENT": 50, "LK_PROFILE_VISITS": null}}`. A PUT changes
  the buckets it names (`null` removes an override) and answers all current overrides. Overrides may lower a
  default or raise it up to 2× — an identity's against its level's default (classic while none is
  connected), the workspace's against the highest default.
- `GET /v1/identities/{uid}/actions/{slug}/limits`: the action's buckets with the identity's effective
  (overridden, ramped) limits and the account's windows, from its per-account workflow — the same numbers
  the next request meets.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, WithJsonSchema
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from activities.accounts import query_limits
from api.deps import (
    AdminMember,
    CurrentMember,
    DbSession,
    EngineDep,
    OpsMember,
    get_or_404,
    get_temporal_client,
)
from api.errors import error_responses
from api.run_service import validation_error
from api.schemas import StrictModel, Timestamp
from db.models import Identity, Integration, Workspace
from edgewise import limits as sl
from edgewise.catalog import CATALOG
from edgewise.errors import ApiError
from edgewise.timeutil import iso_z, utcnow
from workflows.contracts import LimitsQuery

router = APIRouter(prefix="/v1", tags=["limits"], responses=error_responses(400, 401, 403, 404, 413, 415))

_BUCKET_NAMES = "Buckets: " + ", ".join(sl.BUCKETS) + "."

OverridesDoc = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "description": f"Bucket → override (an integer ≥ 0), or null to remove it. {_BUCKET_NAMES}",
            "propertyNames": {"enum": list(sl.BUCKETS)},
            "additionalProperties": {"type": ["integer", "null"], "minimum": 0},
            "examples": [{"LK_MESSAGES_SENT": 50, "LK_PROFILE_VISITS": None}],
        }
    ),
]


class LimitsIn(StrictModel):
    """Overrides to set (`null` removes one); buckets not named keep their override."""

    limits: OverridesDoc


class LimitsOut(BaseModel):
    limits: dict[str, int] = Field(
        description="The current overrides, bucket → limit (buckets without an override are absent).",
        examples=[{"LK_MESSAGES_SENT": 50}],
    )


class ActionLimitOut(BaseModel):
    slug: str = Field(examples=["LK_CONNECTION_REQUESTS"])
    max_limit: int | None = Field(description="Effective limit: overridden and ramped up; null = unlimited")
    consumed: int = Field(description="Counted in the sliding window now")
    remaining: int | None = Field(description="What the next requests may still use; null = unlimited")
    window_seconds: int
    has_reached_limit: bool
    available_at: Timestamp | None = Field(description="When the next unit frees, while the limit is reached")
    applies_when: str | None = Field(
        description="The condition under which the bucket counts, e.g. `parameters.message is set`"
    )


class ActionLimitsOut(BaseModel):
    identity_uid: str
    action_slug: str
    level: Literal["classic", "premium", "sales_navigator"]
    limits: list[ActionLimitOut]


# --- helpers ---------------------------------------------------------------------------------------------


def _account(session: Session, identity_uid: str) -> tuple[str, int | None]:
    """(level, LinkedIn account id) of the identity's live integration — classic and None while none is
    connected. Same rule as the permits' demand (activities/permits.py), so the numbers agree."""
    integrations = session.exec(
        select(Integration)
        .where(Integration.identity_uid == identity_uid, col(Integration.deleted_at).is_(None))
        .order_by(col(Integration.created_at))
    ).all()
    for integration in integrations:
        level = integration.level if integration.level in sl.LEVELS else "classic"
        return level, integration.linkedin_profile_id
    return "classic", None


def _check(changes: dict[str, Any], level: str | None, scope: sl.Scope) -> None:
    errors = sl.validate_overrides(changes, level, scope)
    if errors:
        raise validation_error(errors)


def _workspace(session: Session, uid: str, *, for_update: bool = False) -> Workspace:
    statement = select(Workspace).where(Workspace.uid == uid)
    if for_update:
        statement = statement.with_for_update()
    workspace = session.exec(statement).first()
    if workspace is None:
        raise ApiError("NOT_FOUND", "workspace not found")
    return workspace


def _identity(session: Session, uid: str, workspace_uid: str, *, for_update: bool = False) -> Identity:
    identity = get_or_404(session, Identity, uid, workspace_uid, what="identity")
    if for_update:
        locked = session.exec(select(Identity).where(Identity.uid == uid).with_for_update()).first()
        identity = locked or identity
    return identity


def _stored(value: dict[str, Any] | None) -> dict[str, int]:
    return sl.apply_overrides(value, {})


# --- overrides -------------------------------------------------------------------------------------------


@router.get("/workspace/limits", response_model=LimitsOut, summary="The workspace's limit overrides (admin)")
def get_workspace_limits(member: AdminMember, session: DbSession) -> dict[str, Any]:
    return {"limits": _stored(_workspace(session, member.workspace_uid).limits)}


@router.put(
    "/workspace/limits",
    response_model=LimitsOut,
    summary="Set workspace limit overrides (admin): up to 2× the highest default; null removes",
)
def put_workspace_limits(body: LimitsIn, member: AdminMember, session: DbSession) -> dict[str, Any]:
    _check(body.limits, None, "workspace")
    workspace = _workspace(session, member.workspace_uid, for_update=True)
    workspace.limits = sl.apply_overrides(workspace.limits, body.limits)
    workspace.updated_at = utcnow()
    session.add(workspace)
    return {"limits": dict(workspace.limits)}


@router.get("/identities/{uid}/limits", response_model=LimitsOut, summary="An identity's limit overrides")
def get_identity_limits(uid: str, member: CurrentMember, session: DbSession) -> dict[str, Any]:
    return {"limits": _stored(_identity(session, uid, member.workspace_uid).limits)}


@router.put(
    "/identities/{uid}/limits",
    response_model=LimitsOut,
    summary="Set an identity's limit overrides (ops): up to 2× its level's default; null removes",
)
def put_identity_limits(uid: str, body: LimitsIn, member: OpsMember, session: DbSession) -> dict[str, Any]:
    identity = _identity(session, uid, member.workspace_uid, for_update=True)
    level, _ = _account(session, uid)
    _check(body.limits, level, "identity")
    identity.limits = sl.apply_overrides(identity.limits, body.limits)
    identity.updated_at = utcnow()
    session.add(identity)
    return {"limits": dict(identity.limits)}


# --- an action's limits for an identity ------------------------------------------------------------------


def _load(
    engine: Engine, workspace_uid: str, uid: str
) -> tuple[str, int | None, dict[str, Any], dict[str, Any]]:
    """(level, account id, workspace overrides, identity overrides) in one short read (no transaction stays
    open while the account's workflow is asked)."""
    with Session(engine, expire_on_commit=False) as session:
        identity = get_or_404(session, Identity, uid, workspace_uid, what="identity")
        workspace = _workspace(session, workspace_uid)
        level, profile_id = _account(session, uid)
        return level, profile_id, dict(workspace.limits or {}), dict(identity.limits or {})


@router.get(
    "/identities/{uid}/actions/{slug}/limits",
    response_model=ActionLimitsOut,
    responses=error_responses(503),
    summary="An action's Smart Limits for an identity, as the next request would meet them",
)
async def get_action_limits(
    uid: str, slug: str, member: CurrentMember, engine: EngineDep, request: Request
) -> dict[str, Any]:
    spec = CATALOG.get(slug)
    if spec is None:
        raise ApiError("NOT_FOUND", f"no action {slug}", params={"slug": slug})
    level, profile_id, workspace_overrides, identity_overrides = await run_in_threadpool(
        _load, engine, member.workspace_uid, uid
    )
    settings = request.app.state.settings
    query = LimitsQuery(
        limits=sl.effective_limits(spec.limit_buckets, level, workspace_overrides, identity_overrides),
        profile=settings.safety_profile,
        at=utcnow(),
    )
    if profile_id is None:
        # No account yet: empty windows, and — once connected — a ramp-up that starts then.
        from workflows.account import limit_views

        assert query.at is not None
        views = limit_views(sl.LimitsState(first_seen_at=query.at), query, query.at)
    else:
        client = get_temporal_client(request)
        try:
            views = await query_limits(client, profile_id, query)
        except (RPCError, WorkflowQueryFailedError) as exc:
            raise ApiError(
                "SERVICE_UNAVAILABLE",
                "the account's limits cannot be read right now; retry shortly",
                headers={"Retry-After": "5"},
            ) from exc
    return {
        "identity_uid": uid,
        "action_slug": slug,
        "level": level,
        "limits": [
            {
                "slug": view.slug,
                "max_limit": view.max_limit,
                "consumed": view.consumed,
                "remaining": view.remaining,
                "window_seconds": view.window_seconds,
                "has_reached_limit": view.has_reached_limit,
                "available_at": iso_z(view.available_at),
                "applies_when": sl.APPLIES_WHEN.get(view.slug),
            }
            for view in views
        ],
    }
