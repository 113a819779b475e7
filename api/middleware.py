"""Pure ASGI middlewares of the front door, outermost first:

- `MetricsMiddleware`: Prometheus request counts and latency by route template and status.
- `UnexpectedErrorMiddleware`: any exception no handler took → 500 INTERNAL_ERROR in the contract's shape
  (Starlette's ServerErrorMiddleware would answer plain text and re-raise).
- `BodyLimitMiddleware`: bodies over the limit → 413 PAYLOAD_TOO_LARGE, without buffering them.
- `JsonContentTypeMiddleware`: a body sent as anything but JSON → 415 UNSUPPORTED_MEDIA_TYPE.

Pure ASGI rather than BaseHTTPMiddleware: no extra task per request, and streaming bodies stay streaming.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response, unexpected_error_response

# 100,000 async inputs of a few hundred bytes each fit comfortably.
MAX_BODY_BYTES = 32 * 1024 * 1024

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


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
            # The template (`/v1/identities/{uid}`), never the raw path: bounded label cardinality.
            route = scope.get("route")
            template = getattr(route, "path_format", None) or getattr(route, "path", None) or "<unmatched>"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)


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
            response = unexpected_error_response(scope.get("method", ""), scope.get("path", ""))
            await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _refuse(self, scope: Scope) -> Any:
        return error_response(
            "PAYLOAD_TOO_LARGE",
            f"request body exceeds {self.max_bytes} bytes",
            method=scope.get("method", ""),
            path=scope.get("path", ""),
            params={"max_bytes": self.max_bytes},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False  # the server rejects a malformed Content-Length itself
            if too_big:
                await self._refuse(scope)(scope, receive, send)
                return

        received = 0
        exceeded = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
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


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class JsonContentTypeMiddleware:
    """Every edgewise route takes JSON: a body labelled otherwise is refused up front.

    A body without any Content-Type is read as JSON (curl-style clients forget it); an empty body is fine
    whatever its label (POST …/rotate-key has none).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        content_type = _header(scope, b"content-type")
        if content_type is None or _is_json(content_type):
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        chunked = (_header(scope, b"transfer-encoding") or "").lower() == "chunked"
        if not chunked and (length is None or length.strip() in ("", "0")):
            await self.app(scope, receive, send)
            return
        response = error_response(
            "UNSUPPORTED_MEDIA_TYPE",
            f"Content-Type {content_type.split(';', 1)[0].strip()!r} is not supported; send application/json",
            method=scope.get("method", ""),
            path=scope.get("path", ""),
        )
        await response(scope, receive, send)
