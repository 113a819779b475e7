"""A real HTTP webhook receiver on loopback for delivery tests: records every request, answers per plan.

Each test posts to its own path (`receiver.url_for(...)`), so one receiver serves the whole session.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.servers import serve_in_thread


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Plan:
    # Status codes answered in order; once used up, `then` is answered.
    statuses: list[int] = field(default_factory=list)
    then: int = 200
    # Seconds to wait before answering (to provoke the sender's timeout).
    delay: float = 0.0


class Receiver:
    def __init__(self) -> None:
        self.base_url = ""
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._plans: dict[str, Plan] = {}

    def url_for(self, plan: Plan | None = None) -> tuple[str, str]:
        """A fresh path with its answer plan → (url, path)."""
        path = f"/hook/{uuid.uuid4().hex}"
        with self._lock:
            self._plans[path] = plan or Plan()
        return self.base_url + path, path

    def received(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self._received if r.path == path]

    async def wait_for(self, path: str, count: int, timeout: float = 20.0) -> list[Received]:
        return await wait_until(
            lambda: self.received(path) if len(self.received(path)) >= count else None,
            timeout,
            f"{count} requests on {path}",
        )

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        with self._lock:
            self._received.append(
                Received(path, {k.lower(): v for k, v in request.headers.items()}, body, time.monotonic())
            )
            plan = self._plans.get(path, Plan(then=404))
            status = plan.statuses.pop(0) if plan.statuses else plan.then
            delay = plan.delay
        if delay:
            await asyncio.sleep(delay)
        return Response(status_code=status)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])


T = TypeVar("T")


async def wait_until(probe: Callable[[], T | None], timeout: float = 20.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    with serve_in_thread(receiver.app()) as url:
        receiver.base_url = url
        yield receiver
