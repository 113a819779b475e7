"""Per-workspace API rate limits (API.md §1): token buckets kept in the database, shared by every replica.

Each workspace has two buckets:

- `live`:  `POST /v1/actions/{slug}/run/live` — `RATE_LIMIT_LIVE_PER_SECOND` (20) tokens/s, burst
           `RATE_LIMIT_LIVE_BURST` (100);
- `other`: every other `/v1` request with an API key — `RATE_LIMIT_PER_SECOND` (60), burst
           `RATE_LIMIT_BURST` (200).

0 in either setting of a bucket disables it. A request takes one token; with less than one left it is
answered 429 `RATE_LIMITED` (the contract's error body) without reaching the route, with `Retry-After`
(whole seconds until a token is back, at least 1; `params.retry_after_seconds` has the exact figure),
`X-RateLimit-Limit` (the bucket's burst: how many requests may come at once) and `X-RateLimit-Remaining`
(0). Every other answer to a counted request carries `X-RateLimit-Limit` and `X-RateLimit-Remaining` (whole
tokens left after this request).

Only authenticated requests count: the statement below finds the workspace through the key's hash in the
same statement that takes the token, so a missing or unknown key takes nothing (the route answers 401) and
no extra lookup is made. /healthz, /readyz, /metrics, /docs and /openapi.json are outside /v1: never
limited.

One statement per request, atomic across processes and replicas: an upsert that refills the bucket
(`min(burst, tokens + rate × elapsed)`) and takes one token only where at least one is there, returning
what is left. On PostgreSQL it runs in autocommit (the row lock of ON CONFLICT DO UPDATE serialises
concurrent requests, each seeing the previous one's result) on an UNLOGGED table (no WAL flush per
request); on SQLite in a `BEGIN IMMEDIATE` transaction (the write lock taken up front, as the engine does).
Elapsed time is measured on the database's clock (`statement_timestamp()` on PostgreSQL, the host's clock
via `julianday('now')` on SQLite), so the replicas' clocks never matter; a refill never goes backwards. A
refused request writes nothing; a second read on the same connection works out `Retry-After`.

If the database cannot be reached the request is let through uncounted (logged): the route then meets the
same database and answers for itself.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import State
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response
from edgewise.config import Settings
from edgewise.crypto import hash_api_key

log = logging.getLogger("edgewise.api")

LIVE_PATH = re.compile(r"^/v1/actions/[^/]+/run/live$")
WARN_EVERY = 60.0  # seconds between two "database unavailable" warnings of one app

# Epoch seconds on the database's clock. statement_timestamp() is fixed for the whole statement (now() would
# be the transaction's start; clock_timestamp() would change between its uses in one statement); SQLite's
# 'now' is fixed for one statement step (millisecond resolution: a refill is never lost, only quantised).
_NOW = {
    "postgresql": "CAST(EXTRACT(EPOCH FROM statement_timestamp()) AS DOUBLE PRECISION)",
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
}
_LEAST = {"postgresql": "LEAST", "sqlite": "min"}
_GREATEST = {"postgresql": "GREATEST", "sqlite": "max"}
# The drivers' own parameter styles (the statements run on the DBAPI connection, see take_token).
_PARAM = {"postgresql": "%({})s", "sqlite": ":{}"}


class RateLimitUnavailable(Exception):
    """The database could not be asked (the request is let through uncounted)."""

    def __init__(self, cause: BaseException) -> None:
        # The error's kind and first line only: SQLAlchemy's text would quote the parameters (the key's hash).
        first_line = (str(getattr(cause, "orig", None) or cause).strip().splitlines() or [""])[0]
        super().__init__(f"{type(cause).__name__}: {first_line[:200]}")


@dataclass(frozen=True)
class Bucket:
    name: str  # live | other
    per_second: float
    burst: int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int  # the bucket's burst
    remaining: int  # whole tokens left
    retry_after: float  # seconds until one token is back (0 when allowed)


@dataclass(frozen=True)
class _Statements:
    take: str  # refill and take one token; a row (tokens left) only when one was taken
    probe: str  # after a refusal: the tokens there now; no row when no member has the key


def _statements_for(dialect: str) -> _Statements:
    least, greatest, now = _LEAST[dialect], _GREATEST[dialect], _NOW[dialect]
    key_hash, bucket, burst, rate = (
        _PARAM[dialect].format(name) for name in ("key_hash", "bucket", "burst", "rate")
    )
    table = "rate_limit_buckets"

    def refilled(elapsed: str) -> str:
        return f"{least}({burst}, {table}.tokens + {rate} * {greatest}(0.0, {elapsed}))"

    take_refilled = refilled(f"excluded.refilled_at - {table}.refilled_at")
    take = f"""
        INSERT INTO {table} (workspace_uid, bucket, tokens, refilled_at)
        SELECT m.workspace_uid, {bucket}, {burst} - 1, {now}
        FROM members AS m WHERE m.key_hash = {key_hash}
        ON CONFLICT (workspace_uid, bucket) DO UPDATE
        SET tokens = {take_refilled} - 1,
            refilled_at = {greatest}({table}.refilled_at, excluded.refilled_at)
        WHERE {take_refilled} >= 1
        RETURNING tokens
    """
    probe = f"""
        SELECT {refilled(f"{now} - {table}.refilled_at")}
        FROM members AS m
        JOIN {table} ON {table}.workspace_uid = m.workspace_uid AND {table}.bucket = {bucket}
        WHERE m.key_hash = {key_hash}
    """
    return _Statements(take=take, probe=probe)


_STATEMENTS = {dialect: _statements_for(dialect) for dialect in _NOW}


def bucket_for(settings: Settings, method: str, path: str) -> Bucket | None:
    """The bucket a request counts against, or None (outside /v1, or that bucket is disabled)."""
    if path != "/v1" and not path.startswith("/v1/"):
        return None
    if method == "POST" and LIVE_PATH.match(path):
        bucket = Bucket("live", settings.rate_limit_live_per_second, settings.rate_limit_live_burst)
    else:
        bucket = Bucket("other", settings.rate_limit_per_second, settings.rate_limit_burst)
    if bucket.per_second <= 0 or bucket.burst <= 0:
        return None
    return bucket


def _whole(tokens: float) -> int:
    return max(0, math.floor(tokens + 1e-9))


def _take(cursor: Any, statements: _Statements, params: dict[str, Any], bucket: Bucket) -> Decision | None:
    cursor.execute(statements.take, params)
    row = cursor.fetchone()
    if row is not None:
        return Decision(True, bucket.burst, _whole(float(row[0])), 0.0)
    cursor.execute(statements.probe, params)
    row = cursor.fetchone()
    if row is None:
        return None  # no member has this key: not counted, the route answers 401
    retry_after = max(0.0, (1.0 - float(row[0])) / bucket.per_second)
    return Decision(False, bucket.burst, 0, retry_after)


def take_token(engine: Engine, key_hash: str, bucket: Bucket) -> Decision | None:
    """Take one token from the bucket of the workspace owning `key_hash`; None when no member has it.

    Blocking (run it in a worker thread): one short transaction on a pooled connection, used through its
    driver directly — SQLAlchemy's Connection would cost more than the statement itself.
    Raises RateLimitUnavailable when the database cannot be asked.
    """
    dialect = engine.dialect.name
    statements = _STATEMENTS.get(dialect)
    if statements is None:
        raise RuntimeError(f"rate limits are not implemented for {dialect}")
    params = {
        "key_hash": key_hash,
        "bucket": bucket.name,
        "burst": float(bucket.burst),
        "rate": float(bucket.per_second),
    }
    dbapi_errors = (SQLAlchemyError, engine.dialect.loaded_dbapi.Error)
    try:
        conn = engine.raw_connection()
    except dbapi_errors as exc:
        raise RateLimitUnavailable(exc) from exc
    try:
        cursor = conn.cursor()
        if dialect == "sqlite":
            # As the engine's "begin" hook does: take the write lock up front (no stale read to upgrade).
            cursor.execute("BEGIN IMMEDIATE")
            decision = _take(cursor, statements, params, bucket)
            conn.commit()
            return decision
        # One statement (two on a refusal) needs no transaction: autocommit spares BEGIN/COMMIT round trips.
        driver: Any = conn.driver_connection
        driver.autocommit = True
        try:
            return _take(cursor, statements, params, bucket)
        finally:
            driver.autocommit = False  # as the pool hands it out
    except dbapi_errors as exc:
        conn.invalidate()  # its state is unknown: the pool replaces it
        raise RateLimitUnavailable(exc) from exc
    finally:
        conn.close()  # back to the pool (which rolls back whatever is left open)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


class RateLimitMiddleware:
    """Pure ASGI: takes the token before the route runs; adds the X-RateLimit-* headers to the answer."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state  # the FastAPI app's state: settings, and the engine once started
        self._warned_at = -math.inf  # one warning per WARN_EVERY seconds while the database is away

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope.get("method", ""), scope.get("path", "")
        settings: Settings = self.state.settings
        bucket = bucket_for(settings, method, path)
        api_key = _header(scope, b"x-api-key") if bucket is not None else None
        engine: Engine | None = getattr(self.state, "engine", None)
        if bucket is None or not api_key or engine is None:
            await self.app(scope, receive, send)
            return
        try:
            decision = await anyio.to_thread.run_sync(take_token, engine, hash_api_key(api_key), bucket)
        except RateLimitUnavailable as exc:
            if time.monotonic() - self._warned_at >= WARN_EVERY:
                self._warned_at = time.monotonic()
                log.warning("rate limits not checked, requests let through: %s", exc)
            decision = None
        if decision is None:
            await self.app(scope, receive, send)
            return

        limit_headers = {
            "X-RateLimit-Limit": str(decision.limit),
            "X-RateLimit-Remaining": str(decision.remaining),
        }
        if not decision.allowed:
            response = error_response(
                "RATE_LIMITED",
                f"rate limit of this workspace's {bucket.name} requests reached ({bucket.per_second:g}/s, "
                f"burst {bucket.burst}); retry after {decision.retry_after:.3f}s",
                method=method,
                path=path,
                params={
                    "bucket": bucket.name,
                    "limit": bucket.burst,
                    "per_second": bucket.per_second,
                    "retry_after_seconds": round(decision.retry_after, 3),
                },
                headers={"Retry-After": str(max(1, math.ceil(decision.retry_after))), **limit_headers},
            )
            await response(scope, receive, send)
            return

        extra = [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in limit_headers.items()
        ]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- registration and OpenAPI ---------------------------------------------------------------------------

_LIMIT_HEADERS = {
    "X-RateLimit-Limit": {
        "description": "The workspace's burst for this kind of request (live runs, or everything else)",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests the workspace may still send at once (whole tokens left)",
        "schema": {"type": "integer"},
    },
}
_RATE_LIMITED = (
    "RATE_LIMITED: the workspace's API rate limit (token buckets: live runs, everything else); "
    "`Retry-After` says when to retry"
)


def _document(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the 429 RATE_LIMITED answer and the X-RateLimit-* headers to every /v1 operation."""
    for path, item in schema.get("paths", {}).items():
        if not path.startswith("/v1"):
            continue
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code, response in responses.items():
                if str(code).startswith("2"):
                    response.setdefault("headers", {}).update(_LIMIT_HEADERS)
            answer = responses.setdefault(
                "429",
                {
                    "description": _RATE_LIMITED,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
                },
            )
            if "RATE_LIMITED" not in answer.get("description", ""):
                answer["description"] = f"{answer.get('description', '')}; {_RATE_LIMITED}".lstrip("; ")
            retry_after = {"description": "Whole seconds to wait", "schema": {"type": "integer"}}
            answer.setdefault("headers", {}).update({"Retry-After": retry_after, **_LIMIT_HEADERS})
    return schema


def install_rate_limits(app: FastAPI) -> None:
    """Register the limiter as the innermost middleware (after the body and content-type checks, inside the
    metrics) and document it in the OpenAPI schema. Call it last in `create_app`."""
    app.user_middleware.append(Middleware(RateLimitMiddleware, state=app.state))
    build_schema = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(build_schema())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
