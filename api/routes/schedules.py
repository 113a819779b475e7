"""Routes: schedules — create (`run/schedule`), list, get, their runs, pause, resume, cancel. API.md §6.

A schedule is a database row (its inputs as rows) plus a Temporal Schedule `schedule:{uid}`; creating one
writes the rows, creates the Temporal Schedule, then commits — a failure of either leaves nothing (the
Temporal Schedule is deleted again if the commit fails). State changes follow the same order. The database
status is what firings obey, so a schedule paused or cancelled here makes no run even if Temporal fires.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session, col, func, select
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api import run_service, schedule_service
from api.deps import CurrentMember, EngineDep, KeyringDep, SettingsDep, TemporalClientDep
from api.errors import error_responses
from api.idempotency import IdempotencyDep
from api.middleware import check_json_content_type
from api.openapi_components import json_body, ref
from api.run_bodies import RunOut
from api.run_schemas import run_out
from api.schedule_bodies import ScheduleOut, ScheduleRunBody
from db.models import Run, Schedule
from edgewise import schedules
from edgewise.catalog import CATALOG, ActionSpec
from edgewise.config import Settings
from edgewise.errors import ApiError
from edgewise.timeutil import utcnow

router = APIRouter(tags=["schedules"])
log = logging.getLogger("edgewise.api.schedules")

STATUSES = ("ACTIVE", "PAUSED", "CANCELLED", "COMPLETED")
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
MAX_OFFSET = 2**31 - 1


@contextmanager
def _temporal_answers() -> Iterator[None]:
    """Temporal unreachable: 503 with Retry-After (the request stored nothing). Temporal refusing what
    edgewise asked (INVALID_ARGUMENT: a request edgewise should not have built) would fail the same way
    again: 500 INTERNAL_ERROR, logged with its error_ref, without the advice to retry."""
    try:
        yield
    except RPCError as exc:
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            log.error("Temporal refused a schedule operation edgewise built: %s", exc.message)
            raise ApiError(
                "INTERNAL_ERROR", "the workflow engine refused the schedule edgewise built; nothing changed"
            ) from None
        log.warning("Temporal did not answer a schedule operation: %s", exc.message)
        raise ApiError(
            "SERVICE_UNAVAILABLE",
            "the workflow engine (Temporal) did not answer; nothing was changed, retry shortly",
            headers={"Retry-After": "5"},
        ) from None


def _require_writer(member: Any) -> None:
    if member.role not in ("admin", "ops"):
        raise ApiError("FORBIDDEN", f"the {member.role} role may not change schedules")


def _bad_query(field: str, message: str) -> ApiError:
    return run_service.validation_error([{"field": field, "message": message}])


def _validate(spec: ActionSpec, raw: bytes) -> tuple[ScheduleRunBody, dict[str, Any], list[Any]]:
    body = run_service.parse_body(ScheduleRunBody, raw)
    if body.cron is None and body.schedule_at is None:
        message = "give `cron`, `schedule_at`, or both"
        raise run_service.validation_error(
            [{"field": "cron", "message": message}, {"field": "schedule_at", "message": message}]
        )
    late = body.never_fires_in_time()
    if late is not None:
        raise run_service.validation_error([late])
    parameters = run_service.check_parameters(spec, body.parameters)
    return body, parameters, run_service.normalize_inputs(spec, body.inputs)


@router.post(
    "/v1/actions/{slug}/run/schedule",
    status_code=201,
    summary="Schedule an action: recurring (`cron`) or once (`schedule_at`)",
    openapi_extra=json_body(ScheduleRunBody),
    responses={
        201: {"description": "The Schedule", "content": {"application/json": {"schema": ref(ScheduleOut)}}},
        **error_responses(400, 401, 403, 404, 409),
    },
)
async def run_schedule(
    slug: str,
    request: Request,
    member: CurrentMember,
    settings: SettingsDep,
    keyring: KeyringDep,
    client: TemporalClientDep,
    engine: EngineDep,
    idem: IdempotencyDep,
) -> Response:
    spec = CATALOG.get(slug)
    if spec is None:
        raise ApiError("NOT_FOUND", f"no action {slug!r}")
    _require_writer(member)
    check_json_content_type(request)  # after the slug: an unknown action is 404 whatever the body
    raw = await request.body()
    body, parameters, inputs = await run_in_threadpool(_validate, spec, raw)
    callback_url: str | None = None
    if body.callback is not None:
        from edgewise.targets import validate_target_url

        callback_url = validate_target_url(body.callback.url, settings, "callback.url")

    def prepare(session: Session) -> Response | tuple[Schedule, Any, dict[str, Any]]:
        replay = idem.begin(session, member.workspace_uid)
        if replay is not None:
            return replay
        selected = run_service.check_identities(
            session, member.workspace_uid, spec, body.identity_mode, body.identity_ids
        )
        schedule = schedule_service.create_schedule(
            session,
            keyring,
            workspace_uid=member.workspace_uid,
            spec=spec,
            mode=selected.mode,
            body=body,
            identity_ids=selected.identity_ids,
            parameters=parameters,
            inputs=inputs,
            callback_url=callback_url,
        )
        plan = schedules.plan_now(schedule, 0, utcnow())
        schedule.armed_at, schedule.armed_until = plan.armed_at, plan.armed_until
        session.add(schedule)
        session.flush()
        out = schedule_service.schedule_out(schedule)
        idem.complete(session, 201, out)
        return schedule, plan, out

    # The rows commit only once Temporal holds the schedule; if the commit then fails, the Temporal Schedule
    # is deleted again (a firing that came first finds no row and makes no run).
    with Session(engine, expire_on_commit=False) as session:  # db: thread pool only
        try:
            prepared = await run_in_threadpool(prepare, session)
            if isinstance(prepared, Response):
                await run_in_threadpool(session.rollback)
                return prepared
            schedule, plan, out = prepared
            with _temporal_answers():
                await schedules.create(client, settings, schedule, plan)
            try:
                await run_in_threadpool(session.commit)
            except BaseException:
                await schedules.delete(client, schedule.uid)
                raise
        except BaseException:
            await run_in_threadpool(session.rollback)
            raise
    if schedule.cron is None:
        with _temporal_answers():
            await schedules.fire_if_missed(client, schedule.uid)
    return JSONResponse(out, status_code=201)


@router.get(
    "/v1/schedules",
    summary="List schedules (newest first; total in X-Total-Count)",
    responses={
        200: {"content": {"application/json": {"schema": {"type": "array", "items": ref(ScheduleOut)}}}},
        **error_responses(400, 401),
    },
)
async def list_schedules(
    request: Request,
    member: CurrentMember,
    engine: EngineDep,
    status: list[str] | None = Query(default=None),
    action_name: list[str] | None = Query(default=None),
    limit: int = Query(default=20),
    offset: int = Query(default=0),
    sort: str = Query(default="-created_at"),
) -> JSONResponse:
    _check_page(limit, offset, sort)
    for value in status or []:
        if value not in STATUSES:
            raise _bad_query("status", f"unknown status {value!r}")
    query = select(Schedule).where(Schedule.workspace_uid == member.workspace_uid)
    if status:
        query = query.where(col(Schedule.status).in_(status))
    if action_name:
        query = query.where(col(Schedule.action_name).in_(action_name))

    def read() -> tuple[int, list[Schedule]]:
        with Session(engine, expire_on_commit=False) as session:
            total = session.exec(select(func.count()).select_from(query.subquery())).one()
            order = (
                col(Schedule.created_at).asc() if sort == "created_at" else col(Schedule.created_at).desc()
            )
            rows = session.exec(query.order_by(order, col(Schedule.uid)).offset(offset).limit(limit)).all()
            return int(total), list(rows)

    total, rows = await run_in_threadpool(read)
    await schedule_service.refresh_skips(request.app.state.temporal_client, engine, rows)
    now = utcnow()
    body = [schedule_service.schedule_out(s, now) for s in rows]
    return JSONResponse(body, headers={"X-Total-Count": str(total)})


def _check_page(limit: int, offset: int, sort: str) -> None:
    if not 1 <= limit <= 100:
        raise _bad_query("limit", "must be between 1 and 100")
    if not 0 <= offset <= MAX_OFFSET:
        raise _bad_query("offset", f"must be between 0 and {MAX_OFFSET}")
    if sort not in ("created_at", "-created_at"):
        raise _bad_query("sort", "must be created_at or -created_at")


def _read(engine: Any, workspace_uid: str, uid: str) -> Schedule:
    with Session(engine, expire_on_commit=False) as session:
        return schedule_service.get_schedule(session, workspace_uid, uid)


@router.get(
    "/v1/schedules/{uid}",
    summary="One schedule",
    responses={
        200: {"content": {"application/json": {"schema": ref(ScheduleOut)}}},
        **error_responses(401, 404),
    },
)
async def get_schedule(
    uid: str, request: Request, member: CurrentMember, engine: EngineDep
) -> dict[str, Any]:
    schedule = await run_in_threadpool(_read, engine, member.workspace_uid, uid)
    await schedule_service.refresh_skips(request.app.state.temporal_client, engine, [schedule])
    return schedule_service.schedule_out(schedule)


@router.get(
    "/v1/schedules/{uid}/runs",
    summary="The runs a schedule made (newest first; total in X-Total-Count)",
    responses={
        200: {"content": {"application/json": {"schema": {"type": "array", "items": ref(RunOut)}}}},
        **error_responses(400, 401, 404),
    },
)
def list_schedule_runs(
    uid: str,
    member: CurrentMember,
    engine: EngineDep,
    status: list[str] | None = Query(default=None),
    limit: int = Query(default=20),
    offset: int = Query(default=0),
    sort: str = Query(default="-created_at"),
) -> JSONResponse:
    _check_page(limit, offset, sort)
    for value in status or []:
        if value not in RUN_STATUSES:
            raise _bad_query("status", f"unknown status {value!r}")
    with Session(engine) as session:
        schedule_service.get_schedule(session, member.workspace_uid, uid)
        query = select(Run).where(Run.workspace_uid == member.workspace_uid, Run.schedule_uid == uid)
        if status:
            query = query.where(col(Run.status).in_(status))
        total = session.exec(select(func.count()).select_from(query.subquery())).one()
        order = col(Run.created_at).asc() if sort == "created_at" else col(Run.created_at).desc()
        rows = session.exec(query.order_by(order, col(Run.uid)).offset(offset).limit(limit)).all()
        return JSONResponse([run_out(r) for r in rows], headers={"X-Total-Count": str(total)})


# --- pause, resume, cancel ------------------------------------------------------------------------------

# What each transition allows: the statuses it acts on, the status it leads to, those where it is a no-op
# (200 as is), and the rest are 409. Cancel is final: pausing or resuming a cancelled schedule is 409.
_TRANSITIONS: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    "pause": (("ACTIVE",), "PAUSED", ("PAUSED",)),
    "resume": (("PAUSED",), "ACTIVE", ("ACTIVE",)),
    "cancel": (("ACTIVE", "PAUSED"), "CANCELLED", ("CANCELLED",)),
}


def _one_shot_overdue(schedule: Schedule, now: datetime) -> bool:
    """A one-shot that has not fired and whose time has come (it came due while paused)."""
    return (
        schedule.cron is None
        and schedule.runs_count == 0
        and schedule.schedule_at is not None
        and schedule.schedule_at <= now + schedules.ONE_SHOT_LEAD
    )


async def _transition(
    action: str, uid: str, member: Any, settings: Settings, engine: Any, client: Client
) -> dict[str, Any]:
    """Change the status, then make Temporal agree — under the row's lock (schedules are changed one change at
    a time, edgewise/schedules.py says why) and before the commit, so a refusal from Temporal changes
    nothing."""
    _require_writer(member)
    acts_on, target, idempotent = _TRANSITIONS[action]
    overdue = False
    with Session(engine, expire_on_commit=False) as session:  # db: thread pool only
        try:
            schedule = await run_in_threadpool(
                schedule_service.get_schedule, session, member.workspace_uid, uid, lock=True
            )
            if schedule.status in idempotent:
                unchanged = schedule_service.schedule_out(schedule)  # before the rollback expires it
                await run_in_threadpool(session.rollback)
                return unchanged
            if schedule.status not in acts_on:
                raise ApiError(
                    "CONFLICT", f"schedule is {schedule.status}; it cannot be {action}d", params={"uid": uid}
                )
            now = utcnow()
            schedule.status = target
            schedule.updated_at = now
            with _temporal_answers():
                if action == "cancel":
                    await schedules.delete(client, schedule.uid)
                else:
                    # A fresh window from now (firings missed while paused stay missed); a one-shot that came
                    # due while paused fires once resumed, by a trigger after the commit.
                    overdue = action == "resume" and _one_shot_overdue(schedule, now)
                    plan = schedules.plan_now(schedule, schedule.runs_count, now)
                    await schedules.apply(client, settings, schedule, plan, paused=target != "ACTIVE")
                    schedule.armed_at, schedule.armed_until = plan.armed_at, plan.armed_until
            session.add(schedule)
            await run_in_threadpool(session.commit)
        except BaseException:
            await run_in_threadpool(session.rollback)
            raise
    if overdue:
        with _temporal_answers():
            await schedules.trigger(client, schedule.uid)  # the firing sees the committed ACTIVE
    return schedule_service.schedule_out(schedule)


def _transition_route(action: str, summary: str) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def route(
        uid: str, member: CurrentMember, settings: SettingsDep, engine: EngineDep, client: TemporalClientDep
    ) -> dict[str, Any]:
        return await _transition(action, uid, member, settings, engine, client)

    route.__name__ = f"{action}_schedule"
    router.add_api_route(
        f"/v1/schedules/{{uid}}/{action}",
        route,
        methods=["POST"],
        summary=summary,
        responses={
            200: {"content": {"application/json": {"schema": ref(ScheduleOut)}}},
            **error_responses(401, 403, 404, 409),
        },
    )
    return route


pause_schedule = _transition_route("pause", "Pause a schedule (no firing until resumed)")
resume_schedule = _transition_route("resume", "Resume a paused schedule")
cancel_schedule = _transition_route("cancel", "Cancel a schedule (final)")
