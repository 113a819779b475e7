"""Liveness, readiness and metrics — unauthenticated, for orchestrators and Prometheus — and the API's
documentation pages (/docs, /redoc), which load their assets from this server, never from a CDN."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, JSONResponse, Response

from api.errors import error_response, error_responses
from api.schemas import StatusOut
from edgewise.metrics import exposition
from edgewise.temporal import serving

router = APIRouter(tags=["health"])

_CHECK_TIMEOUT = 3.0


@router.get("/healthz", response_model=StatusOut, summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _check_database(request: Request) -> None:
    with request.app.state.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        conn.rollback()


async def _check_temporal(request: Request) -> str | None:
    client = getattr(request.app.state, "temporal_client", None)
    if client is None:
        return str(getattr(request.app.state, "temporal_error", None) or "not connected yet")
    try:
        healthy = await serving(client, _CHECK_TIMEOUT)
    except Exception as exc:
        return f"health check failed: {type(exc).__name__}"
    return None if healthy else "not serving"


@router.get(
    "/readyz",
    response_model=dict[str, str],
    summary="The database and Temporal are reachable",
    responses=error_responses(503),
)
async def readyz(request: Request) -> Response:
    checks: dict[str, Any] = {}
    try:
        await asyncio.wait_for(run_in_threadpool(_check_database, request), timeout=_CHECK_TIMEOUT)
        checks["database"] = "ok"
    except Exception as exc:
        # The exception text may carry the connection URL (with a password): name its type only.
        checks["database"] = f"unreachable: {type(exc).__name__}"
    temporal_problem = await _check_temporal(request)
    checks["temporal"] = "ok" if temporal_problem is None else f"unreachable: {temporal_problem}"
    if all(value == "ok" for value in checks.values()):
        return JSONResponse({"status": "ready", **checks})
    return error_response(
        "SERVICE_UNAVAILABLE",
        "not ready: " + ", ".join(f"{k} {v}" for k, v in checks.items() if v != "ok"),
        method=request.method,
        path=request.url.path,
        params=checks,
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}},
)
def metrics(request: Request) -> Response:
    # The API's HTTP metrics, then edgewise's events and the Temporal SDK's (edgewise/metrics.py).
    return Response(exposition(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


# --- documentation pages -----------------------------------------------------------------------------------

# Swagger UI 5 and ReDoc 2, as shipped by the PyPI package fastapi-offline (its assets only).
DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
DOCS_ASSETS_URL = "/docs/assets"


def install_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc, with their scripts, styles and icon served from /docs/assets: they
    render with no internet access. Create the app with `docs_url=None, redoc_url=None`."""
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS_DIR), name="docs-assets")

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        base = root(request)
        return get_swagger_ui_html(
            openapi_url=f"{base}{app.openapi_url}",
            title=f"{app.title} — API reference",
            swagger_js_url=f"{base}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{base}{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{base}{DOCS_ASSETS_URL}/favicon.png",
            # No online validator badge: nothing leaves the page.
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        base = root(request)
        return get_redoc_html(
            openapi_url=f"{base}{app.openapi_url}",
            title=f"{app.title} — API reference",
            redoc_js_url=f"{base}{DOCS_ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{base}{DOCS_ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
