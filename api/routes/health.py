"""Liveness, readiness and metrics — unauthenticated, for orchestrators and Prometheus."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from api.errors import error_response, error_responses
from api.schemas import StatusOut

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
        healthy = await client.service_client.check_health(timeout=timedelta(seconds=_CHECK_TIMEOUT))
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
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
