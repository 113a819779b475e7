"""The FastAPI front door: `create_app(settings)`.

On start (lifespan) it applies migrations, builds the database engine and the keyring, and connects to
Temporal. If Temporal is not reachable yet it keeps trying in the background: routes that need it answer
503 SERVICE_UNAVAILABLE meanwhile and /readyz says why.

`app.state` holds what the dependencies in api/deps.py hand out:
    settings, engine, keyring, temporal_client (None until connected), temporal_error, metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api import openapi_components
from api.errors import document_error_answers, error_responses, install_error_handlers
from api.middleware import (
    BodyLimitMiddleware,
    HeadMiddleware,
    HttpMetrics,
    MetricsMiddleware,
    RequestCheckMiddleware,
    UnexpectedErrorMiddleware,
)
from api.ratelimit import install_rate_limits
from api.routes import actions, deliveries, health, identities, integrations, members, runs, workspace
from api.routes import codec as codec_routes
from api.routes import limits as limit_routes
from api.routes import schedules as schedule_routes
from db.engine import make_engine
from db.migrate import upgrade
from edgewise.config import Settings, get_settings
from edgewise.crypto import load_keyring
from edgewise.egress import assign_missing
from edgewise.logging import setup_logging
from edgewise.managed import provision_on_start
from edgewise.safety import ensure_profile_allowed
from edgewise.temporal import connect

log = logging.getLogger("edgewise.api")

# How long start-up waits for Temporal before serving anyway (it keeps connecting in the background).
TEMPORAL_STARTUP_WAIT = 5.0
TEMPORAL_RETRY_MAX = 10.0

DESCRIPTION = """\
edgewise runs LinkedIn actions for other software through one REST API.

Authenticate every `/v1` call with header `X-API-Key`. Every non-2xx answer has the body
`{error_label, error_scope, error_ref, message, status_code, params}`.
"""


async def _connect_temporal(app: FastAPI, settings: Settings) -> None:
    """Connect, retrying with backoff until it works (Temporal may start after the API)."""
    delay = 0.5
    while True:
        try:
            client = await connect(settings)
            app.state.live_worker = _start_live_worker(client, settings)
            app.state.temporal_client = client
            app.state.temporal_error = None
            log.info("connected to Temporal at %s", settings.temporal_address)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            app.state.temporal_error = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("Temporal not reachable at %s; retrying in %.1fs", settings.temporal_address, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, TEMPORAL_RETRY_MAX)


def _report_live_worker_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("live worker stopped: %s", task.exception())


def _start_live_worker(client: Any, settings: Settings) -> Any:
    """A small worker for the live task queue inside this API process: live runs start eagerly here, so a
    live call costs one local round trip instead of Temporal's task dispatch (measured: ~49 ms → ~16 ms for
    the workflow part). The workers poll the same queue, so a run never depends on this process."""
    from temporalio.worker import Worker

    from edgewise.wiring import live_components, live_worker_options

    workflows, activities = live_components(client, settings)
    worker = Worker(
        client,
        task_queue=settings.live_task_queue,
        workflows=workflows,
        activities=activities,
        graceful_shutdown_timeout=timedelta(seconds=5),
        **live_worker_options(),
    )
    task = asyncio.create_task(worker.run(), name="live-worker")
    task.add_done_callback(_report_live_worker_end)
    return worker


def _lifespan(settings: Settings) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(ensure_profile_allowed, settings)  # test/unlimited only against a sandbox
        await asyncio.to_thread(upgrade, settings.resolved_database_url)
        setup_logging(settings)  # after Alembic, which configures logging of its own
        app.state.engine = make_engine(settings.resolved_database_url)
        app.state.keyring = load_keyring(settings)
        # The egress pool: a bad configuration stops the start; identities without a proxy get one.
        await asyncio.to_thread(assign_missing, app.state.engine, settings)
        app.state.temporal_client = None
        app.state.temporal_error = "connecting"
        app.state.live_worker = None
        connector = asyncio.create_task(_connect_temporal(app, settings), name="temporal-connect")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(connector), timeout=TEMPORAL_STARTUP_WAIT)
        # The operator's managed pool (no-op unless configured); it waits for Temporal itself.
        pool = asyncio.create_task(provision_on_start(app), name="managed-pool")
        try:
            yield
        finally:
            pool.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pool
            if app.state.live_worker is not None:
                with contextlib.suppress(Exception):
                    await app.state.live_worker.shutdown()
            connector.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await connector
            app.state.engine.dispose()

    return lifespan


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI documents a 422 on every route with parameters; edgewise never answers 422 (400 instead)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].pop("422", None)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    # Routes that parse their bodies by hand register their schemas separately.
    components.update(openapi_components.components())
    document_error_answers(schema, app)  # 400/401/403/404/413/415/429/503 where they apply; list headers
    app.openapi_schema = schema
    return schema


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="edgewise",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=_lifespan(settings),
        # `/v1/identities/` is 404, not a redirect without the error body.
        redirect_slashes=False,
        # A JSON body sent without Content-Type is read as JSON; other types are 415 (middleware).
        strict_content_type=False,
        responses=error_responses(500),
        docs_url=None,  # /docs and /redoc serve their assets themselves (health.install_docs)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = HttpMetrics()
    app.state.temporal_client = None
    app.state.temporal_error = "not started"

    install_error_handlers(app)
    # add_middleware puts each one outside the previous: this order makes Metrics the outermost.
    app.add_middleware(RequestCheckMiddleware)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(HeadMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)

    health.install_docs(app)
    app.include_router(health.router)
    for module in (workspace, members, identities, integrations, actions, runs, deliveries):
        app.include_router(module.router)
    app.include_router(limit_routes.router)  # Smart Limits: overrides and an action's limits
    app.include_router(codec_routes.router)  # the Temporal UI's payload codec endpoint
    app.include_router(schedule_routes.router)  # schedules: run/schedule and /v1/schedules

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    install_rate_limits(app)  # per-workspace rate limits: the innermost middleware; documents 429
    return app
