"""A live call's result, handed from its page activity to the waiting API handler inside one process.

A live run starts eagerly, so its workflow task and its page (a local activity) run in the API process that
took the call. Once the page activity has written the outputs and given the account back, everything the
caller needs is known; waiting for the workflow to complete and for Temporal's long poll to report it would
add a workflow-task completion, a history write and a poll response to every live call (measured: the
largest share of the remaining overhead). So the activity also puts its result here, and the handler answers
from whichever comes first: this hand-off or the workflow's result. Nothing durable depends on it — the
outputs are in the database before the hand-off, and a run served by another process (the eager start was
refused, or a retry landed on a worker) simply completes through `handle.result()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from db.models import RunOutput
from workflows.contracts import LiveRunResult


@dataclass
class LivePage:
    """What the handler answers with, as the page activity committed it (saves reading it back)."""

    outputs: list[RunOutput] = field(default_factory=list)
    next_page_state: dict[str, Any] | None = None
    next_produced: int = 0


@dataclass
class HandOff:
    result: LiveRunResult
    page: LivePage | None = None  # None: read the page from the database


_waiting: dict[str, asyncio.Future[HandOff]] = {}


@contextmanager
def expect(run_uid: str) -> Iterator[asyncio.Future[HandOff]]:
    """Register interest in `run_uid`'s page result for the duration of the block."""
    future: asyncio.Future[HandOff] = asyncio.get_running_loop().create_future()
    _waiting[run_uid] = future
    try:
        yield future
    finally:
        if _waiting.get(run_uid) is future:
            del _waiting[run_uid]


def waiting(run_uid: str) -> bool:
    return run_uid in _waiting


def deliver(run_uid: str, result: LiveRunResult, page: LivePage | None = None) -> None:
    """Called by the page activity when it is done; a no-op when nobody here waits for this run."""
    future = _waiting.get(run_uid)
    if future is None or future.done():
        return
    loop = future.get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    handoff = HandOff(result, page)
    if running is loop:
        future.set_result(handoff)
    else:  # a threaded activity executor: hand it over on the handler's loop
        loop.call_soon_threadsafe(_set_if_pending, future, handoff)


def _set_if_pending(future: asyncio.Future[HandOff], handoff: HandOff) -> None:
    if not future.done():
        future.set_result(handoff)
