"""The LinkedIn sandbox as an ASGI app: `create_app(state_dir, seed)`.

The world is generated from `seed` at start (never stored); what accounts do is kept in a SQLite file
under `state_dir`, so a restart on the same directory loses nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from linkedin.sandbox.context import Sandbox
from linkedin.sandbox.logins import Logins
from linkedin.sandbox.responses import Refusal
from linkedin.sandbox.routes import control, login, messaging, profiles, relationships, search
from linkedin.sandbox.store import Store
from linkedin.sandbox.world import build_world
from linkedin.sandbox.writes import Writes


def create_app(state_dir: Path, seed: int = 7, accounts_scale: int = 1) -> FastAPI:
    sb = Sandbox.build(build_world(seed, accounts_scale), Store(Path(state_dir)))
    writes = Writes(sb)
    logins = Logins(sb.world, sb.store, sb.clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        sb.store.close()

    app = FastAPI(
        title="edgewise LinkedIn sandbox",
        description="A LinkedIn emulator: Voyager-like routes, the login flow and a control API (/_sandbox).",
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry hook looks up providers (environment variables) on every request:
        # ~90 µs each, a third of the sandbox's time per profile read. The sandbox has nothing to trace.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.sandbox = sb

    async def on_refusal(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refusal)
        return exc.response

    app.add_exception_handler(Refusal, on_refusal)
    app.add_middleware(profiles.ProfileViewFastPath, sb=sb)
    app.include_router(profiles.router(sb, writes))
    app.include_router(search.router(sb))
    app.include_router(relationships.router(sb, writes))
    app.include_router(messaging.router(sb, writes))
    app.include_router(login.router(logins))
    app.include_router(control.router(sb, writes, logins))

    @app.get("/feed/", include_in_schema=False)
    async def feed(request: Request) -> Response:
        return sb.gate.page(request)

    return app
