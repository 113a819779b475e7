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
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api import openapi_components
from api.errors import error_responses, install_error_handlers
from api.middleware import (
    BodyLimitMiddleware,
    HttpMetrics,
    JsonContentTypeMiddleware,
    MetricsMiddleware,
    UnexpectedErrorMiddleware,
)
from api.routes import actions, deliveries, health, identities, integrations, members, runs, workspace
from db.engine import make_engine
from db.migrate import upgrade
from edgewise.config import Settings, get_settings
from edgewise.crypto import load_keyring
from edgewise.logging import setup_logging
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
            app.state.temporal_client = await connect(settings)
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


def _lifespan(settings: Settings) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(upgrade, settings.resolved_database_url)
        setup_logging(settings)  # after Alembic, which configures logging of its own
        app.state.engine = make_engine(settings.resolved_database_url)
        app.state.keyring = load_keyring(settings)
        app.state.temporal_client = None
        app.state.temporal_error = "connecting"
        connector = asyncio.create_task(_connect_temporal(app, settings), name="temporal-connect")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(connector), timeout=TEMPORAL_STARTUP_WAIT)
        try:
            yield
        finally:
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
    )
    app.state.settings = settings
    app.state.metrics = HttpMetrics()
    app.state.temporal_client = None
    app.state.temporal_error = "not started"

    install_error_handlers(app)
    # add_middleware puts each one outside the previous: this order makes Metrics the outermost.
    app.add_middleware(JsonContentTypeMiddleware)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)

    app.include_router(health.router)
    for module in (workspace, members, identities, integrations, actions, runs, deliveries):
        app.include_router(module.router)

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
