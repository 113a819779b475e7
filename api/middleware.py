"""Pure ASGI middlewares of the front door, outermost first:

- `MetricsMiddleware`: Prometheus request counts and latency by route template and status, and one access
  log line per request (method, path, status, duration — never the query string, which may carry a key or
  a cursor; uvicorn's own access log is off, see api/__main__.py).
- `HeadMiddleware`: HEAD on any GET route answers as GET would, without the body.
- `UnexpectedErrorMiddleware`: any exception no handler took → 500 INTERNAL_ERROR in the contract's shape
  (Starlette's ServerErrorMiddleware would answer plain text and re-raise).
- `BodyLimitMiddleware`: bodies over the limit → 413 PAYLOAD_TOO_LARGE, without buffering them, once the
  route reads its body (so an unknown route or action slug is still 404).
- `RequestCheckMiddleware`: what every route would otherwise check on its own, after routing (a path that
  matches no route is 404, a wrong method 405 with every method of the path in `Allow`):
    * NUL characters in the path → 404; in any query parameter → 400 naming it;
    * `Content-Encoding` other than `identity` → 415; a body labelled other than JSON → 415;
    * the body strictly: UTF-8, well-formed JSON, no NaN/Infinity or numbers beyond a double, no lone
      surrogate, nesting ≤ MAX_JSON_DEPTH → else 400 with `params.validation_errors` naming `body`;
    * routes without a body model take no body: nothing, or `{}` (an unknown field → 400 naming it).
  Routes that parse their own body (the run routes: they answer an unknown action slug with 404 before
  looking at the body) are left alone; they call `check_json_content_type(request)` and
  `load_json_body(raw)` themselves, right after their slug check.

Pure ASGI rather than BaseHTTPMiddleware: no extra task per request, and streaming bodies stay streaming.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import HEAD_SCOPE_KEY, api_error_response, error_response, unexpected_error_response
from edgewise.errors import ApiError

access_log = logging.getLogger("edgewise.api.access")

# 100,000 async inputs of a few hundred bytes each fit comfortably.
MAX_BODY_BYTES = 32 * 1024 * 1024
# Deeper JSON is refused up front: nothing edgewise takes nests anywhere near this, and code that walks a
# value recursively (validators, encoders) must never meet Python's recursion limit on client data.
MAX_JSON_DEPTH = 64

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _headers(scope: Scope, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope.get("headers", []) if key.lower() == name]


def _method(scope: Scope) -> str:
    return "HEAD" if scope.get(HEAD_SCOPE_KEY) else str(scope.get("method", ""))


# --- strict JSON bodies ---------------------------------------------------------------------------------


class _NotFinite(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def body_error(message: str) -> ApiError:
    """The contract's 400 about the body as a whole."""
    return ApiError(
        "BAD_INPUT", f"body: {message}", params={"validation_errors": [{"field": "body", "message": message}]}
    )


def _too_deep(data: Any) -> bool:
    """Whether containers nest deeper than MAX_JSON_DEPTH (breadth first: no recursion)."""
    level = [data] if isinstance(data, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            return True
        below: list[Any] = []
        for value in level:
            items = value.values() if type(value) is dict else value
            below.extend([item for item in items if type(item) is dict or type(item) is list])
        level = below
    return False


def _has_surrogate(data: Any) -> bool:
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def load_json_body(raw: bytes) -> Any:
    """Parse a request body strictly, or raise the contract's 400 naming `body`.

    Refused: bytes that are not UTF-8, malformed JSON, `NaN`/`Infinity`/`-Infinity` and numbers no double
    can hold (they would crash serialisation later), integers of more than 4300 digits, lone UTF-16
    surrogates (`"\\ud800"`: no UTF-8 can carry them out again) and nesting deeper than MAX_JSON_DEPTH.
    The extra checks only run when a cheap scan of the raw bytes says they could matter.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise body_error(f"not valid UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise body_error(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except _NotFinite as exc:
        raise body_error(f"{exc} is not a JSON number edgewise accepts (finite numbers only)") from None
    except json.JSONDecodeError as exc:
        raise body_error(f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except ValueError:  # an integer beyond Python's digit limit
        raise body_error("a number has too many digits") from None
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and _too_deep(data):
        raise body_error(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if _SURROGATE_ESCAPE.search(raw) and _has_surrogate(data):
        raise body_error("a string holds a lone UTF-16 surrogate (\\ud800–\\udfff), which is not text")
    return data


def check_no_body(raw: bytes) -> None:
    """A route without a body model takes nothing, whitespace or `{}`; anything else is a 400 (an object's
    fields are named as unknown)."""
    if not raw.strip(b" \t\r\n"):
        return
    data = load_json_body(raw)
    if data == {} and isinstance(data, dict):
        return
    if isinstance(data, dict):
        errors = [{"field": str(key), "message": "unknown field"} for key in list(data)[:100]]
        first = errors[0]["field"]
        message = f"{first}: unknown field" + (f" (and {len(data) - 1} more)" if len(data) > 1 else "")
        raise ApiError("BAD_INPUT", message, params={"validation_errors": errors})
    raise body_error("this route takes no body: send nothing or {}")


# --- media type and encoding ------------------------------------------------------------------------------


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _has_body(scope: Scope) -> bool:
    if (_header(scope, b"transfer-encoding") or "").strip().lower() == "chunked":
        return True
    length = (_header(scope, b"content-length") or "").strip()
    return length not in ("", "0")


def _media_type_refusal(scope: Scope) -> ApiError | None:
    """415 for a request with a Content-Encoding other than `identity`, or a body labelled other than JSON.

    A body without any Content-Type is read as JSON (curl-style clients forget it); an empty body is fine
    whatever its label.
    """
    encodings = [
        token.strip().lower() for value in _headers(scope, b"content-encoding") for token in value.split(",")
    ]
    refused = [token for token in encodings if token and token != "identity"]
    if refused:
        return ApiError(
            "UNSUPPORTED_MEDIA_TYPE",
            f"Content-Encoding {refused[0]!r} is not supported; send the body uncompressed",
            params={"content_encoding": refused[0]},
        )
    if scope.get("method") not in _BODY_METHODS:
        return None
    content_type = _header(scope, b"content-type")
    if content_type is None or _is_json(content_type) or not _has_body(scope):
        return None
    media = content_type.split(";", 1)[0].strip()
    return ApiError(
        "UNSUPPORTED_MEDIA_TYPE",
        f"Content-Type {media!r} is not supported; send application/json",
        params={"content_type": media},
    )


def check_json_content_type(request: Request) -> None:
    """For routes that parse their own body (call it once the route knows the request is for it, e.g. after
    the action slug is found, before reading the body): raises ApiError 415 UNSUPPORTED_MEDIA_TYPE for a
    Content-Encoding other than `identity`, or a non-empty body labelled other than JSON."""
    refusal = _media_type_refusal(request.scope)
    if refusal is not None:
        raise refusal


# --- routes ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteInfo:
    context: RouteContext
    matches: Callable[[Scope], tuple[Match, Scope]]  # the route's own matcher, looked up once
    is_api_route: bool  # a FastAPI route (not /docs, /openapi.json or a static mount)
    takes_body: bool  # FastAPI parses a body model
    parses_own_body: bool  # no body model, but documents one: it reads and checks its body itself
    authenticated: bool  # needs X-API-Key
    read_only_rule: bool  # `CurrentMember`: a `user` member may not write
    dependencies: frozenset[str] = frozenset()  # names of every dependency it calls (for the docs)


@dataclass(frozen=True)
class RouteMatch:
    route: RouteInfo | None  # the route that will answer, if one matches path and method
    allowed: frozenset[str]  # methods of every route matching the path (for 405's Allow)


def _calls(dependant: Dependant | None) -> set[str]:
    names: set[str] = set()
    stack = [dependant] if dependant is not None else []
    while stack:
        current = stack.pop()
        if current.call is not None:
            names.add(getattr(current.call, "__name__", ""))
        stack.extend(current.dependencies)
    return names


def _route_info(context: RouteContext) -> RouteInfo:
    if not isinstance(context.original_route, APIRoute):
        return RouteInfo(context, context.matches, False, False, False, False, False)
    calls = _calls(getattr(context, "dependant", None))
    takes_body = getattr(context, "body_field", None) is not None
    documented_body = "requestBody" in (getattr(context, "openapi_extra", None) or {})
    return RouteInfo(
        context=context,
        matches=context.matches,
        is_api_route=True,
        takes_body=takes_body,
        parses_own_body=not takes_body and documented_body,
        authenticated="authenticate" in calls,
        read_only_rule="get_current_member" in calls,
        dependencies=frozenset(calls),
    )


def route_index(app: Any) -> list[RouteInfo]:
    """Every route of the app (included routers flattened), in matching order; cached per app."""
    routes = app.routes
    cached = getattr(app.state, "edgewise_route_index", None)
    if cached is not None and cached[0] == len(routes):
        return list(cached[1])
    index = [_route_info(context) for context in iter_route_contexts(routes)]
    app.state.edgewise_route_index = (len(routes), index)
    return index


def match_route(app: Any, scope: Scope) -> RouteMatch:
    """The route the router will pick for this request, or the methods the path allows."""
    allowed: set[str] = set()
    for info in route_index(app):
        match, _ = info.matches(scope)
        if match == Match.FULL:
            return RouteMatch(info, frozenset())
        if match == Match.PARTIAL:
            allowed |= set(info.context.methods or ())
    if "GET" in allowed:
        allowed.add("HEAD")
    return RouteMatch(None, frozenset(allowed))


def allow_header(methods: frozenset[str] | set[str]) -> str:
    ordered = [m for m in _METHOD_ORDER if m in methods]
    return ", ".join(ordered + sorted(set(methods) - set(_METHOD_ORDER)))


def _nul_query_fields(scope: Scope) -> list[str]:
    query = scope.get("query_string", b"")
    if b"%00" not in query and b"\x00" not in query:
        return []
    fields: list[str] = []
    for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="utf-8"):
        if "\x00" in key or "\x00" in value:
            name = key.replace("\x00", "\\u0000")
            if name not in fields:
                fields.append(name)
    return fields


# --- middlewares -----------------------------------------------------------------------------------------


class HttpMetrics:
    """The API's Prometheus metrics, in a registry of their own (one per app, so tests can run several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "edgewise_http_requests_total",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "edgewise_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            # The template (`/v1/identities/{uid}`), never the raw path: bounded label cardinality.
            route = scope.get("route")
            template = getattr(route, "path_format", None) or getattr(route, "path", None) or "<unmatched>"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(elapsed)
            # The path only: the query string may carry a key or a cursor.
            path = scope.get("path", "")
            access_log.info(
                "%s %s → %s (%.1f ms)",
                method,
                path,
                status,
                elapsed * 1000,
                extra={
                    "method": method,
                    "path": path,
                    "route": template,
                    "status_code": status,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )


class HeadMiddleware:
    """HEAD is answered as GET (the routes declare GET only); the server sends no body for HEAD.

    The route runs on a copy of the scope (method GET, marked with HEAD_SCOPE_KEY): the server keeps seeing
    HEAD and leaves the body out while keeping the GET's headers. The route selected is copied back for the
    metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "HEAD":
            await self.app(scope, receive, send)
            return
        as_get = {**scope, "method": "GET", HEAD_SCOPE_KEY: True}

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(as_get, receive, send_without_body)
        finally:
            if "route" in as_get:
                scope["route"] = as_get["route"]


class UnexpectedErrorMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            if response_started:
                raise  # too late to answer; let the server close the connection
            response = unexpected_error_response(_method(scope), scope.get("path", ""))
            await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """413 once a body turns out larger than the limit: at the first read when Content-Length says so, or
    as soon as the bytes read pass it. Nothing is checked before the route reads: a request for no route,
    or for an unknown action slug, is answered 404 without its body being looked at."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _refuse(self, scope: Scope) -> Any:
        return error_response(
            "PAYLOAD_TOO_LARGE",
            f"request body exceeds {self.max_bytes} bytes",
            method=_method(scope),
            path=scope.get("path", ""),
            params={"max_bytes": self.max_bytes},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        declared_too_big = False
        if declared is not None:
            try:
                declared_too_big = int(declared) > self.max_bytes
            except ValueError:
                pass  # the server rejects a malformed Content-Length itself

        received = 0
        exceeded = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if declared_too_big:
                exceeded = True
                raise _TooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _TooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            # Once over the limit, whatever the app answers (FastAPI turns the read error into a 400)
            # is replaced by our 413.
            if not exceeded:
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded:
            await self._refuse(scope)(scope, receive, send)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None when the client went away."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # e.g. a disconnect, for whoever listens for one

    return replay


class RequestCheckMiddleware:
    """See the module docstring: routing first, then the query, the media type and the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope.get("app")
        if scope["type"] != "http" or app is None:
            await self.app(scope, receive, send)
            return
        method, path = _method(scope), scope.get("path", "")
        if "\x00" in path:  # no route or object has one; PostgreSQL could not even look it up
            await error_response("NOT_FOUND", "no such route or object", method=method, path=path)(
                scope, receive, send
            )
            return
        found = match_route(app, scope)
        if found.route is None:
            if found.allowed:
                response = error_response(
                    "METHOD_NOT_ALLOWED",
                    f"method {method} is not allowed on {path}",
                    method=method,
                    path=path,
                    params={"allowed": sorted(found.allowed)},
                    headers={"Allow": allow_header(found.allowed)},
                )
                await response(scope, receive, send)
                return
            await self.app(scope, receive, send)  # the router's 404
            return
        route = found.route
        if not route.is_api_route or route.parses_own_body:
            await self.app(scope, receive, send)
            return

        nul_fields = _nul_query_fields(scope)
        if nul_fields:
            refusal = ApiError(
                "BAD_INPUT",
                f"{nul_fields[0]}: must not contain NUL characters",
                params={
                    "validation_errors": [
                        {"field": name, "message": "must not contain NUL characters"} for name in nul_fields
                    ]
                },
            )
            await self._refuse(scope, receive, send, route, refusal)
            return
        media_refusal = _media_type_refusal(scope)
        if media_refusal is not None:
            await api_error_response(media_refusal, method, path)(scope, receive, send)
            return
        if scope.get("method") not in _BODY_METHODS or not _has_body(scope):
            await self.app(scope, receive, send)
            return

        body = await _read_body(receive)  # the limit is enforced outside (BodyLimitMiddleware)
        if body is None:
            return
        try:
            if not route.takes_body:
                check_no_body(body)
            elif body.strip(b" \t\r\n"):  # FastAPI answers a missing body itself
                load_json_body(body)
        except ApiError as exc:
            await self._refuse(scope, receive, send, route, exc)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, route: RouteInfo, exc: ApiError
    ) -> None:
        """Answer a 400 found before the route ran — unless the route's own dependencies would have refused
        the request first (no or an unknown key → 401; a `user` member writing → 403)."""
        refusal: ApiError | None = None
        if route.authenticated and getattr(scope["app"].state, "engine", None) is not None:
            from api.deps import check_request_auth

            request = Request(scope)
            refusal = await run_in_threadpool(
                check_request_auth, request, read_only_rule=route.read_only_rule
            )
        await api_error_response(refusal or exc, _method(scope), scope.get("path", ""))(scope, receive, send)
