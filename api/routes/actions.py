"""Routes: the action catalog, and starting runs (live and async). API.md §4, §5."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from activities import live_handoff
from api import run_service
from api.deps import CurrentMember, EngineDep, KeyringDep, SettingsDep, TemporalClientDep
from api.errors import error_responses
from api.idempotency import IdempotencyDep
from api.middleware import check_json_content_type
from api.openapi_components import json_body, ref
from api.run_bodies import AsyncRunBody, LiveRunBody, RunOut, RunOutputOut
from api.run_schemas import output_out, run_out
from db.engine import session_scope
from db.models import Run, RunOutput
from edgewise.catalog import CATALOG, ActionSpec, InputError, normalize_input
from edgewise.config import Settings
from edgewise.cursors import open_cursor, sign_cursor
from edgewise.errors import ApiError
from edgewise.timeutil import iso_z, utcnow
from workflows import search_attributes as sa
from workflows.contracts import RunWorkflowInput, run_workflow_id

router = APIRouter(tags=["actions"])

LIVE_CURSOR_TTL_SECONDS = 24 * 3600
WRITE_ROLES = ("admin", "ops")


def _spec(slug: str) -> ActionSpec:
    spec = CATALOG.get(slug)
    if spec is None:
        raise ApiError("NOT_FOUND", f"no action {slug!r}")
    return spec


def _require_writer(member: Any) -> None:
    if member.role not in WRITE_ROLES:
        raise ApiError("FORBIDDEN", f"the {member.role} role may not start runs")


@router.get("/v1/actions", summary="The action catalog")
def list_actions(member: CurrentMember) -> list[dict[str, Any]]:
    return [spec.catalog_entry() for spec in CATALOG.values()]


@router.get("/v1/actions/{slug}", summary="One action of the catalog")
def get_action(slug: str, member: CurrentMember) -> dict[str, Any]:
    return _spec(slug).catalog_entry()


def _search_attributes(run: Run) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.WORKSPACE, run.workspace_uid),
            SearchAttributePair(sa.IDENTITIES, list(run.identity_ids)),
            SearchAttributePair(sa.ACTION, run.action_name),
            SearchAttributePair(sa.RUN_STATUS, run.status),
        ]
    )


async def start_run_workflow(client: Client, settings: Settings, run: Run, **live: Any) -> Any:
    """Live runs start eagerly on the live task queue (this process's live worker takes the first task at
    once); async runs go to the workers' queue."""
    from workflows.run import ActionRunWorkflow

    is_live = bool(live.get("live"))
    return await client.start_workflow(
        ActionRunWorkflow.run,
        RunWorkflowInput(
            run_uid=run.uid, batch_size=settings.run_batch_size, max_lanes=settings.run_max_lanes, **live
        ),
        id=run_workflow_id(run.uid),
        task_queue=settings.live_task_queue if is_live else settings.temporal_task_queue,
        search_attributes=_search_attributes(run),
        request_eager_start=is_live,
    )


async def _most_remaining_budget(
    client: Client,
    settings: Settings,
    engine: Any,
    spec: ActionSpec,
    parameters: dict[str, Any],
    targets: list[run_service.LiveTarget],
) -> run_service.LiveTarget:
    """Several identities could run this call: the one whose account has the most budget left for it."""
    from activities.accounts import query_limits
    from activities.permits import build_demand
    from workflows.contracts import LimitsQuery

    best, best_left = targets[0], -1
    for target in targets:
        assert target.integration.linkedin_profile_id is not None
        demand = await run_in_threadpool(
            build_demand, engine, settings, spec, parameters, target.identity_uid, live=True
        )
        if not demand.units:
            return targets[0]
        views = await query_limits(
            client,
            target.integration.linkedin_profile_id,
            LimitsQuery(limits=demand.limits, profile=settings.safety_profile),
        )
        left = min(
            (v.remaining if v.remaining is not None else 2**31) for v in views if v.slug in demand.units
        )
        if left > best_left:
            best, best_left = target, left
    return best


def _selection_key(body: LiveRunBody) -> str:
    """The identity selection a cursor was issued for: the next page must ask for the same."""
    return f"{body.identity_mode}:{','.join(sorted(body.identity_ids or []))}"


def _params_hash(parameters: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:16]


def _base_url(request: Request, settings: Settings) -> str:
    return settings.public_base_url.rstrip("/") or str(request.base_url).rstrip("/")


@router.post(
    "/v1/actions/{slug}/run/live",
    summary="Run an action live (synchronously) for one input",
    openapi_extra=json_body(LiveRunBody),
    responses={
        200: {
            "description": "The results (one page). Headers: `X-Run-Uid`; `X-Pagination-Next` (POST the same "
            "body to it for the next page) while more exist; `Server-Timing` (where the time went)",
            "content": {"application/json": {"schema": {"type": "array", "items": ref(RunOutputOut)}}},
        },
        202: {
            "description": "Still running after LIVE_TIMEOUT_SECONDS: the Run; it finishes durably",
            "content": {"application/json": {"schema": ref(RunOut)}},
        },
        **error_responses(400, 401, 403, 404, 409, 424, 429),
    },
)
async def run_live(
    slug: str,
    request: Request,
    member: CurrentMember,
    settings: SettingsDep,
    keyring: KeyringDep,
    client: TemporalClientDep,
    engine: EngineDep,
    idem: IdempotencyDep,
    cursor: str | None = Query(default=None, description="opaque cursor from X-Pagination-Next"),
) -> Response:
    spec = _spec(slug)
    _require_writer(member)
    check_json_content_type(request)  # after the slug: an unknown action is 404 whatever the body
    body = run_service.parse_body(LiveRunBody, await request.body())
    parameters = run_service.check_parameters(spec, body.parameters)
    try:
        item = normalize_input(spec, body.input, "input")
    except InputError as exc:
        raise run_service.validation_error([{"field": exc.field, "message": exc.message}]) from None
    selected, target, page_state, produced = await run_in_threadpool(
        _live_target_with_egress,
        engine,
        keyring,
        settings,
        member,
        spec,
        slug,
        body,
        item,
        parameters,
        cursor,
    )
    if len(target.usable) > 1:
        target = await _most_remaining_budget(client, settings, engine, spec, parameters, target.usable)
    with Session(engine, expire_on_commit=False) as session:  # db: thread pool only
        replay = await run_in_threadpool(idem.begin, session, member.workspace_uid)
        await run_in_threadpool(session.commit)  # the key stays claimed (pending) while the call runs
    if replay is not None:
        return replay
    try:
        response = await _execute_live(
            _LiveCall(
                request,
                member,
                settings,
                keyring,
                client,
                engine,
                spec,
                body,
                item,
                parameters,
                selected,
                target,
                page_state,
                produced,
            )
        )
    except ApiError as exc:
        await run_in_threadpool(_store_idempotent, engine, idem, exc.status_code, exc, exc.headers)
        raise
    except BaseException:
        await run_in_threadpool(_forget_idempotent, engine, idem)
        raise
    await run_in_threadpool(
        _store_idempotent, engine, idem, response.status_code, response, dict(response.headers)
    )
    return response


def _live_target_with_egress(
    engine: Any,
    keyring: Any,
    settings: Settings,
    member: Any,
    spec: ActionSpec,
    slug: str,
    body: LiveRunBody,
    item: Any,
    parameters: dict[str, Any],
    cursor: str | None,
) -> tuple[run_service.SelectedIdentities, run_service.LiveTarget, dict[str, Any] | None, int]:
    """`_live_target`; when egress is required and the named identities hold no proxy yet (one was freed
    since they were created), they get one now — in its own transaction — and the choice is made again."""
    args = (engine, keyring, settings, member, spec, slug, body, item, parameters, cursor)
    try:
        return _live_target(*args)
    except ApiError as exc:
        if exc.label != "NO_EGRESS_AVAILABLE" or cursor is not None or not body.identity_ids:
            raise
        from edgewise.egress import ensure_egress

        if not any([ensure_egress(engine, settings, uid) for uid in body.identity_ids]):
            raise
    return _live_target(*args)


def _live_target(
    engine: Any,
    keyring: Any,
    settings: Settings,
    member: Any,
    spec: ActionSpec,
    slug: str,
    body: LiveRunBody,
    item: Any,
    parameters: dict[str, Any],
    cursor: str | None,
) -> tuple[run_service.SelectedIdentities, run_service.LiveTarget, dict[str, Any] | None, int]:
    """Which identities the call may use (the cursor pins the first page's) and the one it runs as.
    Blocking database work: called through the thread pool, never on the event loop."""
    page_state: dict[str, Any] | None = None
    produced = 0
    with Session(engine) as session:
        selected = run_service.check_identities(
            session, member.workspace_uid, spec, body.identity_mode, body.identity_ids
        )
        if cursor is not None:
            try:
                pinned = open_cursor(keyring, member.workspace_uid, cursor)
            except ValueError as exc:
                raise run_service.validation_error([{"field": "cursor", "message": str(exc)}]) from None
            if (pinned.get("a"), pinned.get("t"), pinned.get("p"), pinned.get("sel")) != (
                slug,
                item.target_key,
                _params_hash(parameters),
                _selection_key(body),
            ):
                raise run_service.validation_error(
                    [
                        {
                            "field": "cursor",
                            "message": "cursor was issued for another action, input, parameters or identity",
                        }
                    ]
                )
            # The cursor pins the account of the first page; a managed call stays managed (pool, 1.5×).
            pinned_mode = "managed" if selected.mode == "managed" else "direct"
            selected = run_service.SelectedIdentities([str(pinned["i"])], pinned_mode)
            page_state, produced = pinned.get("s"), int(pinned.get("n", 0))
        target = run_service.choose_live_identity(session, member.workspace_uid, spec, selected, settings)
    return selected, target, page_state, produced


def _store_idempotent(engine: Any, idem: Any, status: int, outcome: Any, headers: dict[str, str]) -> None:
    """Keep what the live call answered (result, 202 Run, or error) for repeats with the same key."""
    if idem.key is None or idem._record is None:
        return
    if isinstance(outcome, ApiError):
        from api.errors import error_payload

        body = error_payload(
            outcome.label,
            outcome.message,
            params=outcome.params,
            status_code=outcome.status_code,
            scope=outcome.scope,
        )
    else:
        body = json.loads(bytes(outcome.body))
    keep = {k: v for k, v in headers.items() if k.lower().startswith("x-") or k.lower() == "retry-after"}
    with session_scope(engine) as session:
        idem.complete(session, status, body, headers=keep)


def _forget_idempotent(engine: Any, idem: Any) -> None:
    """An unexpected failure: free the key so the caller can retry."""
    if idem._record is not None:
        with session_scope(engine) as session:
            session.delete(session.merge(idem._record))


@dataclass(frozen=True)
class _LiveCall:
    """One live call, validated: who asks, as which identity, for what (one page)."""

    request: Request
    member: Any
    settings: Settings
    keyring: Any
    client: Client
    engine: Any
    spec: ActionSpec
    body: LiveRunBody
    item: Any
    parameters: dict[str, Any]
    selected: run_service.SelectedIdentities
    target: run_service.LiveTarget
    page_state: dict[str, Any] | None
    produced: int


async def _execute_live(call: _LiveCall) -> JSONResponse:
    """Take the account's lease, create the LIVE run, start its workflow and wait for the page."""
    client, settings, engine, spec, target = call.client, call.settings, call.engine, call.spec, call.target
    parameters = call.parameters
    assert target.integration.linkedin_profile_id is not None
    from activities.permits import build_demand
    from api.leases import acquire_live_lease
    from db.models import new_uid

    timing = LiveTiming()
    run_uid = new_uid()
    with timing.phase("permit"):
        demand = await run_in_threadpool(
            build_demand, engine, settings, spec, parameters, target.identity_uid, live=True
        )
        grant = await acquire_live_lease(
            client, settings, target.integration.linkedin_profile_id, f"live:{run_uid}", demand=demand
        )
    with live_handoff.expect(run_uid) as handed_over:
        return await _start_and_wait_live(call, run_uid, grant, timing, handed_over)


async def _start_and_wait_live(
    call: _LiveCall,
    run_uid: str,
    grant: Any,
    timing: LiveTiming,
    handed_over: asyncio.Future[live_handoff.HandOff],
) -> JSONResponse:
    from api.leases import release_live_lease

    request, member, settings, keyring, client = (
        call.request,
        call.member,
        call.settings,
        call.keyring,
        call.client,
    )
    engine, spec, body, item, selected, target = (
        call.engine,
        call.spec,
        call.body,
        call.item,
        call.selected,
        call.target,
    )
    parameters, page_state, produced = call.parameters, call.page_state, call.produced
    assert target.integration.linkedin_profile_id is not None
    try:
        with timing.phase("db"):
            run = await run_in_threadpool(
                _insert_live_run,
                engine,
                keyring,
                member.workspace_uid,
                spec,
                selected.mode,
                body,
                target.identity_uid,
                parameters,
                item,
                page_state,
                produced,
                run_uid,
            )
        with timing.phase("start"):
            handle = await start_run_workflow(
                client,
                settings,
                run,
                live=True,
                lease_id=grant.lease_id,
                linkedin_profile_id=target.integration.linkedin_profile_id,
                budget=grant.units,
            )
    except BaseException:
        await release_live_lease(client, target.integration.linkedin_profile_id, grant.lease_id or "")
        raise
    try:
        with timing.phase("workflow"):
            handoff = await asyncio.wait_for(
                _first_result(handed_over, handle), timeout=settings.live_timeout_seconds
            )
    except TimeoutError:
        fresh, _ = await run_in_threadpool(_read_live_run, engine, run_uid)
        return JSONResponse(run_out(fresh), status_code=202, headers={"X-Run-Uid": run_uid})
    headers = {"X-Run-Uid": run_uid}
    result = handoff.result
    timing.inner = dict(result.timing or {})
    if result.error is not None:
        raise _live_error(result.error, {**headers, "Server-Timing": timing.header()})
    if handoff.page is not None:
        rows, next_state, next_produced = (
            handoff.page.outputs,
            handoff.page.next_page_state,
            handoff.page.next_produced,
        )
    else:
        with timing.phase("db"):
            fresh, rows = await run_in_threadpool(_read_live_run, engine, run_uid)
        next_state = (fresh.live_page or {}).get("next_page_state")
        next_produced = int((fresh.live_page or {}).get("next_produced", 0))
    if next_state is not None:
        token = sign_cursor(
            keyring,
            member.workspace_uid,
            {
                "a": spec.slug,
                "sel": _selection_key(body),
                "t": item.target_key,
                "p": _params_hash(parameters),
                "i": target.identity_uid,
                "s": next_state,
                "n": next_produced,
            },
            LIVE_CURSOR_TTL_SECONDS,
        )
        headers["X-Pagination-Next"] = (
            f"{_base_url(request, settings)}/v1/actions/{spec.slug}/run/live?cursor={quote(token)}"
        )
    headers["Server-Timing"] = timing.header()
    managed = selected.mode == "managed"
    return JSONResponse([output_out(r, managed=managed) for r in rows], status_code=200, headers=headers)


# When the run started eagerly here, its page runs in this process and hands its result over: Temporal's
# result long poll (a history read on the server) is only opened if the hand-off is late — a failing page
# (the workflow fails once its retries are spent) or a slow LinkedIn.
_RESULT_POLL_AFTER_SECONDS = 1.0


async def _first_result(
    handed_over: asyncio.Future[live_handoff.HandOff], handle: Any
) -> live_handoff.HandOff:
    """The page activity's hand-off in this process (activities/live_handoff.py), or the workflow's own
    result when the run was served elsewhere — whichever comes first."""
    if getattr(handle, "__temporal_eagerly_started", False):
        done, _ = await asyncio.wait({handed_over}, timeout=_RESULT_POLL_AFTER_SECONDS)
        if done:
            return handed_over.result()
    completed = asyncio.ensure_future(handle.result())
    try:
        done, _ = await asyncio.wait({handed_over, completed}, return_when=asyncio.FIRST_COMPLETED)
        if handed_over in done:
            return handed_over.result()
        return live_handoff.HandOff(completed.result())
    finally:
        if not completed.done():
            completed.cancel()
        elif not completed.cancelled():
            completed.exception()  # retrieved: a failure after the hand-off is the workflow's to report


def _insert_live_run(
    engine: Any,
    keyring: Any,
    workspace_uid: str,
    spec: ActionSpec,
    mode: str,
    body: LiveRunBody,
    identity_uid: str,
    parameters: dict[str, Any],
    item: Any,
    page_state: dict[str, Any] | None,
    produced: int,
    run_uid: str,
) -> Run:
    with session_scope(engine) as session:
        return run_service.create_run(
            session,
            keyring,
            workspace_uid=workspace_uid,
            spec=spec,
            mode=mode,
            body=body,
            identity_ids=[identity_uid],
            parameters=parameters,
            inputs=[item],
            live_page={"page_state": page_state, "produced": produced},
            run_uid=run_uid,
        )


def _read_live_run(engine: Any, run_uid: str) -> tuple[Run, list[RunOutput]]:
    with Session(engine) as session:
        fresh = session.get(Run, run_uid)
        assert fresh is not None
        rows = session.exec(
            select(RunOutput).where(RunOutput.run_uid == run_uid).order_by(col(RunOutput.id))
        ).all()
        return fresh, list(rows)


class LiveTiming:
    """Where a live call's time goes, as a `Server-Timing` header (milliseconds).

    API-side phases: permit (the account's lease), db (run rows in, results out), start (workflow start),
    workflow (start → result). Inside the workflow the activity reports `activity`, `linkedin` (the
    adapter's HTTP calls) and `activity_db`; `dispatch` = workflow − activity is Temporal's task dispatch.
    """

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self.inner: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + (time.perf_counter() - started) * 1000

    def header(self) -> str:
        values = dict(self.phases)
        values.update({k: float(v) for k, v in self.inner.items()})
        if "workflow" in values and "activity" in values:
            values["dispatch"] = max(values["workflow"] - values["activity"], 0.0)
        return ", ".join(f"{name};dur={value:.1f}" for name, value in values.items())


def _validate_async_body(spec: ActionSpec, raw: bytes) -> tuple[AsyncRunBody, dict[str, Any], list[Any]]:
    body = run_service.parse_body(AsyncRunBody, raw)
    parameters = run_service.check_parameters(spec, body.parameters)
    return body, parameters, run_service.normalize_inputs(spec, body.inputs)


def _live_error(error: dict[str, Any], headers: dict[str, str]) -> ApiError:
    label = str(error.get("error_label") or "LK_ERROR")
    params = dict(error.get("params") or {})
    if label == "LIMIT_REACHED":
        retry = float(params.pop("retry_after_seconds", 60))
        params.setdefault("postponed_until", iso_z(utcnow() + timedelta(seconds=retry)))
        headers = {**headers, "Retry-After": str(int(retry))}
    return ApiError(label, str(error.get("message") or label), params=params, headers=headers)


@router.post(
    "/v1/actions/{slug}/run/async",
    status_code=202,
    summary="Run an action asynchronously over many inputs",
    openapi_extra=json_body(AsyncRunBody),
    responses={
        202: {"description": "The Run", "content": {"application/json": {"schema": ref(RunOut)}}},
        **error_responses(400, 401, 403, 404, 409),
    },
)
async def run_async(
    slug: str,
    request: Request,
    member: CurrentMember,
    settings: SettingsDep,
    keyring: KeyringDep,
    client: TemporalClientDep,
    engine: EngineDep,
    idem: IdempotencyDep,
) -> Response:
    spec = _spec(slug)
    _require_writer(member)
    check_json_content_type(request)  # after the slug: an unknown action is 404 whatever the body
    raw = await request.body()
    # Up to 100,000 inputs: parse and normalise off the event loop, so other requests are not held up.
    body, parameters, inputs = await run_in_threadpool(_validate_async_body, spec, raw)
    callback_url: str | None = None
    if body.callback is not None:
        from edgewise.targets import validate_target_url

        callback_url = validate_target_url(body.callback.url, settings, "callback.url")

    def prepare(session: Session) -> Response | Run:
        replay = idem.begin(session, member.workspace_uid)
        if replay is not None:
            return replay
        selected = run_service.check_identities(
            session, member.workspace_uid, spec, body.identity_mode, body.identity_ids
        )
        run = run_service.create_run(
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
        idem.complete(session, 202, run_out(run))
        return run

    # The rows commit only once Temporal has accepted the workflow: a failed start leaves nothing behind,
    # and the workflow's first activity waits (retries) until it can see its run.
    with Session(engine, expire_on_commit=False) as session:  # db: thread pool only
        try:
            prepared = await run_in_threadpool(prepare, session)
            if isinstance(prepared, Response):
                await run_in_threadpool(session.rollback)
                return prepared
            await start_run_workflow(client, settings, prepared)
            await run_in_threadpool(session.commit)
        except BaseException:
            await run_in_threadpool(session.rollback)
            raise
    return JSONResponse(run_out(prepared), status_code=202)
