"""Prometheus metrics: edgewise's own events and the Temporal SDK's, one exposition per process.

- edgewise's counters live in `REGISTRY` and are fed by one-line calls where the events happen: LinkedIn
  action steps by slug and outcome (activities/runs.py), LinkedIn HTTP latency (linkedin/http_adapter.py),
  Smart Limits refusals (activities/accounts.py), delivery attempts by outcome (activities/deliveries.py).
- The Temporal SDK's metrics (workflow/activity task latencies, poll counts, slots, …) come from its Rust
  core: `temporal_runtime()` is a process-wide Runtime whose Prometheus exporter listens on a private
  loopback port. `exposition()` appends that text to ours, so Prometheus scrapes one URL per process: the
  API's `/metrics`, and the worker's `WORKER_METRICS_PORT` (`serve()`).

Label values are bounded sets (slugs, error labels, HTTP status codes, limit names), never ids or URLs.
"""

from __future__ import annotations

import logging
import socket
import threading
import urllib.request
from collections.abc import Awaitable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

log = logging.getLogger("edgewise.metrics")

T = TypeVar("T")

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # RSS, CPU seconds, open fds of this process

ACTIONS = Counter(
    "edgewise_actions_total",
    "LinkedIn action steps executed (one page or one write, each attempt), by action slug and outcome "
    "(`succeeded`, or the error label: LK_ERROR, NOT_CONNECTED, LIMIT_REACHED, …)",
    ["action", "outcome"],
    registry=REGISTRY,
)
LINKEDIN_LATENCY = Histogram(
    "edgewise_linkedin_request_duration_seconds",
    "LinkedIn HTTP requests (answered ones) by method and status code",
    ["method", "status"],
    registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20),
)
LIMIT_REFUSALS = Counter(
    "edgewise_limit_refusals_total",
    "Smart Limits refusals of a lease or batch permit, by limit (a bucket, COOL_DOWN, WORKING_HOURS, "
    "PACING, LINKEDIN_THROTTLED) and kind (`live` or `batch`); an account merely busy is not counted",
    ["limit", "kind"],
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "edgewise_delivery_attempts_total",
    "Webhook event and run callback delivery attempts, by outcome (`succeeded`, `retrying`, `failed`)",
    ["outcome"],
    registry=REGISTRY,
)

# Refusal reasons that are not a limit: the account is only busy (a queue), or the run went away.
_NOT_LIMITS = frozenset({"ACCOUNT_BUSY", "GONE"})
_DELIVERY_OUTCOMES = {"SUCCEEDED": "succeeded", "RUNNING": "retrying", "FAILED": "failed"}


# --------------------------------------------------------------------------------------------- recording


async def observe_action(action: str, step: Awaitable[T]) -> T:
    """Await one action step and count it under its outcome; exceptions pass through unchanged."""
    try:
        result = await step
    except BaseException as exc:
        label = getattr(exc, "label", None)
        ACTIONS.labels(action, label if isinstance(label, str) else type(exc).__name__).inc()
        raise
    ACTIONS.labels(action, "succeeded").inc()
    return result


def linkedin_request(method: str, status: int, seconds: float) -> None:
    LINKEDIN_LATENCY.labels(method.upper(), str(status)).observe(seconds)


def count_refusal(grant: T, kind: str) -> T:
    """Count a lease/permit answer (`kind`: live or batch) that a Smart Limit refused; return the answer
    unchanged, so a call can be wrapped in one line."""
    reason = getattr(grant, "reason", None)
    if not getattr(grant, "granted", True) and reason and reason not in _NOT_LIMITS:
        LIMIT_REFUSALS.labels(str(reason), kind).inc()
    return grant


def delivery_attempt(status: str) -> None:
    """One recorded delivery attempt, by the status it left the delivery in."""
    DELIVERIES.labels(_DELIVERY_OUTCOMES.get(status, status.lower())).inc()


# --------------------------------------------------------------------------------------------- Temporal SDK

_runtime_lock = threading.Lock()
_runtime: Runtime | None = None
_sdk_metrics_url: str | None = None


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def temporal_runtime() -> Runtime:
    """The process's Temporal Runtime with the SDK's Prometheus exporter on a private loopback port.

    Created once, on the first connection (clients and workers of one process share it). Should no port be
    bindable, the SDK's default runtime is used and its metrics are simply absent."""
    global _runtime, _sdk_metrics_url
    with _runtime_lock:
        if _runtime is not None:
            return _runtime
        for _ in range(3):  # the port was free a moment ago; another process may take it meanwhile
            port = _free_loopback_port()
            try:
                _runtime = Runtime(
                    telemetry=TelemetryConfig(
                        metrics=PrometheusConfig(
                            bind_address=f"127.0.0.1:{port}",
                            counters_total_suffix=True,
                            unit_suffix=True,
                            durations_as_seconds=True,
                        )
                    )
                )
            except Exception as exc:
                log.warning("Temporal SDK metrics: could not listen on 127.0.0.1:%s (%s)", port, exc)
                continue
            _sdk_metrics_url = f"http://127.0.0.1:{port}/metrics"
            return _runtime
        _runtime = Runtime.default()
        return _runtime


def _sdk_exposition() -> bytes:
    if _sdk_metrics_url is None:
        return b""
    try:
        with urllib.request.urlopen(_sdk_metrics_url, timeout=2) as answer:
            text: bytes = answer.read()
    except OSError as exc:
        log.warning("Temporal SDK metrics unavailable: %s", exc)
        return b""
    return text if text.endswith(b"\n") or not text else text + b"\n"


def exposition(*registries: CollectorRegistry) -> bytes:
    """Prometheus text: the given registries (e.g. the API's HTTP metrics), edgewise's, then the SDK's."""
    return b"".join([*(generate_latest(r) for r in registries), generate_latest(REGISTRY), _sdk_exposition()])


# --------------------------------------------------------------------------------------------- HTTP server


class MetricsServer:
    """`GET /metrics` (and `GET /healthz`) on its own thread: the worker's scrape target."""

    def __init__(self, host: str, port: int) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._answer(200, exposition(), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    self._answer(200, b'{"status": "ok"}', "application/json")
                else:
                    self._answer(404, b"not found\n", "text/plain")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # scrapes every few seconds would drown the worker's log

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve(host: str, port: int) -> MetricsServer:
    """Start serving metrics on host:port (port 0: any free port, see `.port`)."""
    return MetricsServer(host, port)
