"""Routes: runs — list, get, status, inputs and outputs (cursor-paged), stop and resume. API.md §5."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import update
from sqlmodel import Session, col, func, select

from activities.run_store import refresh_run
from api import run_service
from api.deps import CurrentMember, EngineDep, KeyringDep, SettingsDep, TemporalClientDep
from api.errors import error_responses
from api.openapi_components import ref
from api.run_bodies import RunInputOut, RunOut, RunOutputOut, RunStatusOut
from api.run_control import mark_stopped, signal_run
from api.run_schemas import input_out, output_out, run_out, run_status_out
from db.engine import session_scope
from db.models import Integration, Run, RunIdentity, RunInput, RunOutput
from edgewise.cursors import open_cursor, sign_cursor
from edgewise.errors import ApiError
from edgewise.runstate import TERMINAL_RUN_STATES
from edgewise.timeutil import utcnow

router = APIRouter(tags=["runs"])
log = logging.getLogger("edgewise.api.runs")

MAX_OFFSET = 2**31 - 1
RUN_STATUSES = (
    "CREATED",
    "QUEUED",
    "SCHEDULED",
    "RUNNING",
    "BLOCKED",
    "STOPPED",
    "SUCCEEDED",
    "FAILED",
    "PARTIAL_SUCCEEDED",
)


def _get_run(session: Session, workspace_uid: str, uid: str) -> Run:
    run = session.get(Run, uid)
    if run is None or run.workspace_uid != workspace_uid:
        raise ApiError("NOT_FOUND", f"run {uid} not found")
    return run


def _require_writer(member: Any) -> None:
    if member.role not in ("admin", "ops"):
        raise ApiError("FORBIDDEN", f"the {member.role} role may not change runs")


def _bad_query(field: str, message: str) -> ApiError:
    return run_service.validation_error([{"field": field, "message": message}])


@router.get(
    "/v1/runs",
    summary="List runs (newest first; total in X-Total-Count)",
    responses={
        200: {"content": {"application/json": {"schema": {"type": "array", "items": ref(RunOut)}}}},
        **error_responses(400, 401),
    },
)
def list_runs(
    member: CurrentMember,
    settings: SettingsDep,
    engine: EngineDep,
    status: list[str] | None = Query(default=None),
    action_name: list[str] | None = Query(default=None),
    execution_mode: list[str] | None = Query(default=None),
    identity_uid: list[str] | None = Query(default=None),
    schedule_uid: list[str] | None = Query(default=None),
    limit: int = Query(default=20),
    offset: int = Query(default=0),
    sort: str = Query(default="-created_at"),
) -> JSONResponse:
    if not 1 <= limit <= 100:
        raise _bad_query("limit", "must be between 1 and 100")
    if not 0 <= offset <= MAX_OFFSET:
        raise _bad_query("offset", f"must be between 0 and {MAX_OFFSET}")
    if sort not in ("created_at", "-created_at"):
        raise _bad_query("sort", "must be created_at or -created_at")
    for value in status or []:
        if value not in RUN_STATUSES:
            raise _bad_query("status", f"unknown status {value!r}")
    for value in execution_mode or []:
        if value not in ("LIVE", "ASYNC", "SCHEDULED"):
            raise _bad_query("execution_mode", f"unknown execution mode {value!r}")
    query = select(Run).where(Run.workspace_uid == member.workspace_uid)
    if status:
        query = query.where(col(Run.status).in_(status))
    if action_name:
        query = query.where(col(Run.action_name).in_(action_name))
    if execution_mode:
        query = query.where(col(Run.execution_mode).in_(execution_mode))
    if schedule_uid:
        query = query.where(col(Run.schedule_uid).in_(schedule_uid))
    if identity_uid:
        query = query.where(
            col(Run.uid).in_(
                select(RunIdentity.run_uid).where(col(RunIdentity.identity_uid).in_(identity_uid))
            )
        )
    with Session(engine) as session:
        total = session.exec(select(func.count()).select_from(query.subquery())).one()
        order = col(Run.created_at).asc() if sort == "created_at" else col(Run.created_at).desc()
        rows = session.exec(query.order_by(order, col(Run.uid)).offset(offset).limit(limit)).all()
        return JSONResponse([run_out(r) for r in rows], headers={"X-Total-Count": str(total)})


@router.get(
    "/v1/runs/{uid}",
    summary="One run",
    responses={200: {"content": {"application/json": {"schema": ref(RunOut)}}}, **error_responses(401, 404)},
)
def get_run(uid: str, member: CurrentMember, settings: SettingsDep, engine: EngineDep) -> dict[str, Any]:
    with Session(engine) as session:
        return run_out(_get_run(session, member.workspace_uid, uid))


@router.get(
    "/v1/runs/{uid}/status",
    summary="A run's progress",
    responses={
        200: {"content": {"application/json": {"schema": ref(RunStatusOut)}}},
        **error_responses(401, 404),
    },
)
def get_run_status(
    uid: str, member: CurrentMember, settings: SettingsDep, engine: EngineDep
) -> dict[str, Any]:
    with Session(engine) as session:
        return run_status_out(_get_run(session, member.workspace_uid, uid))


def _page(
    engine: Any,
    request: Request,
    member: Any,
    keyring: Any,
    settings: Any,
    uid: str,
    cursor: str | None,
    limit: int,
    model: type[RunInput] | type[RunOutput],
    render: Any,
) -> JSONResponse:
    if not 1 <= limit <= 500:
        raise _bad_query("limit", "must be between 1 and 500")
    with Session(engine) as session:
        # The run first: a cursor's 400 must not tell another workspace's run (or no run) from a 404.
        run = _get_run(session, member.workspace_uid, uid)
        after = 0
        if cursor is not None:
            try:
                pinned = open_cursor(keyring, member.workspace_uid, cursor)
            except ValueError as exc:
                raise _bad_query("cursor", str(exc)) from None
            if pinned.get("r") != uid or pinned.get("k") != model.__tablename__:
                raise _bad_query("cursor", "cursor was issued for another listing")
            after = int(pinned.get("after", 0))
        id_col = col(model.id)  # type: ignore[attr-defined,arg-type]
        rows = session.exec(
            select(model).where(model.run_uid == uid, id_col > after).order_by(id_col).limit(limit + 1)
        ).all()
        more = len(rows) > limit
        rows = rows[:limit]
        last = int(rows[-1].id) if rows else after  # type: ignore[attr-defined,arg-type]
        finished = run.status in TERMINAL_RUN_STATES or run.status == "STOPPED"
        headers: dict[str, str] = {}
        if more or not finished:
            token = sign_cursor(
                keyring, member.workspace_uid, {"r": uid, "k": model.__tablename__, "after": last}, None
            )
            base = settings.public_base_url.rstrip("/") or str(request.base_url).rstrip("/")
            headers["X-Pagination-Next"] = f"{base}{request.url.path}?cursor={quote(token)}&limit={limit}"
        managed = run.identity_mode == "managed"
        return JSONResponse([render(r, managed=managed) for r in rows], headers=headers)


@router.get(
    "/v1/runs/{uid}/inputs",
    summary="A run's input rows, in insertion order (cursor-paged; X-Pagination-Next)",
    responses={
        200: {"content": {"application/json": {"schema": {"type": "array", "items": ref(RunInputOut)}}}},
        **error_responses(400, 401, 404),
    },
)
def list_inputs(
    uid: str,
    request: Request,
    member: CurrentMember,
    keyring: KeyringDep,
    settings: SettingsDep,
    engine: EngineDep,
    cursor: str | None = Query(default=None),
    limit: int = Query(default=100),
) -> JSONResponse:
    return _page(engine, request, member, keyring, settings, uid, cursor, limit, RunInput, input_out)


@router.get(
    "/v1/runs/{uid}/outputs",
    summary="A run's output rows, in insertion order (cursor-paged; X-Pagination-Next)",
    responses={
        200: {"content": {"application/json": {"schema": {"type": "array", "items": ref(RunOutputOut)}}}},
        **error_responses(400, 401, 404),
    },
)
def list_outputs(
    uid: str,
    request: Request,
    member: CurrentMember,
    keyring: KeyringDep,
    settings: SettingsDep,
    engine: EngineDep,
    cursor: str | None = Query(default=None),
    limit: int = Query(default=100),
) -> JSONResponse:
    return _page(engine, request, member, keyring, settings, uid, cursor, limit, RunOutput, output_out)


@router.post(
    "/v1/runs/{uid}/stop",
    summary="Stop a run (resumable)",
    responses={
        200: {"content": {"application/json": {"schema": ref(RunOut)}}},
        **error_responses(401, 403, 404, 409),
    },
)
async def stop_run(
    uid: str, member: CurrentMember, settings: SettingsDep, engine: EngineDep, client: TemporalClientDep
) -> dict[str, Any]:
    _require_writer(member)
    await run_in_threadpool(_stop_rows, engine, member.workspace_uid, uid)
    await signal_run(client, uid, "stop")
    await run_in_threadpool(refresh_run, engine, uid)
    return await run_in_threadpool(_run_view, engine, member.workspace_uid, uid)


def _run_view(engine: Any, workspace_uid: str, uid: str) -> dict[str, Any]:
    with Session(engine) as session:
        return run_out(_get_run(session, workspace_uid, uid))


def _stop_rows(engine: Any, workspace_uid: str, uid: str) -> None:
    with session_scope(engine) as session:
        run = _get_run(session, workspace_uid, uid)
        if run.status in TERMINAL_RUN_STATES:
            raise ApiError("CONFLICT", f"run is {run.status}; a finished run cannot be stopped")
        mark_stopped(session, run)


@router.post(
    "/v1/runs/{uid}/resume",
    summary="Resume a STOPPED or BLOCKED run",
    responses={
        200: {"content": {"application/json": {"schema": ref(RunOut)}}},
        **error_responses(401, 403, 404, 409, 424),
    },
)
async def resume_run(
    uid: str, member: CurrentMember, settings: SettingsDep, engine: EngineDep, client: TemporalClientDep
) -> dict[str, Any]:
    _require_writer(member)
    await run_in_threadpool(_resume_rows, engine, member.workspace_uid, uid)
    await signal_run(client, uid, "resume")
    await run_in_threadpool(refresh_run, engine, uid)
    return await run_in_threadpool(_run_view, engine, member.workspace_uid, uid)


def _resume_rows(engine: Any, workspace_uid: str, uid: str) -> None:
    """Back to QUEUED, if some identity of the run can work on it (blocking: through the thread pool)."""
    with session_scope(engine) as session:
        run = _get_run(session, workspace_uid, uid)
        if run.status in TERMINAL_RUN_STATES:
            raise ApiError("CONFLICT", f"run is {run.status}; a finished run cannot be resumed")
        if run.status not in ("STOPPED", "BLOCKED") and not run.stopped:
            raise ApiError("CONFLICT", f"run is {run.status}; only STOPPED or BLOCKED runs resume")
        if run.identity_mode == "managed":
            from edgewise.catalog import CATALOG
            from edgewise.managed import pool_integrations

            valid = len(pool_integrations(session, CATALOG[run.action_name].required_level))
        else:
            valid = session.exec(
                select(func.count())
                .select_from(Integration)
                .where(
                    col(Integration.identity_uid).in_(run.identity_ids)
                    if run.identity_ids
                    else Integration.workspace_uid == run.workspace_uid,
                    Integration.status == "VALID",
                    col(Integration.deleted_at).is_(None),
                )
            ).one()
        if not valid:
            raise ApiError("INTEGRATION_INVALID", "no identity of this run has a VALID LinkedIn integration")
        run.stopped = False
        run.updated_at = utcnow()
        session.execute(
            update(RunInput)
            .where(col(RunInput.run_uid) == uid, col(RunInput.status).in_(["STOPPED", "BLOCKED"]))
            .values(status="QUEUED", error=None)
        )
        session.add(run)
