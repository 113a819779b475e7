"""The edgewise Temporal worker: `python worker.py` (or `edgewise worker`) runs every workflow and activity.

Workflows never touch the database or the network; activity classes get their dependencies (engine,
keyring, adapter factory, Temporal client) from their constructors, built here.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from edgewise.config import Settings, get_settings
from edgewise.temporal import connect


def _components(client: Client, settings: Settings) -> tuple[list[type], list[Any]]:
    """Workflow classes and activity callables, wired to their dependencies."""
    from edgewise.wiring import components

    return components(client, settings)


@asynccontextmanager
async def build_worker(client: Client, settings: Settings) -> AsyncIterator[Worker]:
    """The main worker, plus a worker on the live task queue (live runs whose API process went away)."""
    from edgewise.wiring import live_components

    workflows, activities = _components(client, settings)
    worker = Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=workflows,
        activities=activities,
        max_concurrent_activities=200,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
    live_workflows, live_activities = live_components(client, settings)
    live = Worker(
        client,
        task_queue=settings.live_task_queue,
        workflows=live_workflows,
        activities=live_activities,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
    async with worker, live:
        yield worker


async def main() -> None:
    from db.migrate import upgrade
    from edgewise.logging import setup_logging
    from edgewise.safety import ensure_profile_allowed
    from linkedin.http_adapter import close_pools

    settings = get_settings()
    setup_logging(settings)
    ensure_profile_allowed(settings)  # test/unlimited profiles only against a sandbox
    upgrade(settings.resolved_database_url)
    client = await connect(settings)
    log = logging.getLogger("edgewise.worker")
    # SIGTERM (an orchestrator) and SIGINT (Ctrl-C) both drain: the worker stops polling, lets running
    # activities finish (up to the graceful timeout), then exits 0.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with build_worker(client, settings):
        log.info("worker started on task queue %s", settings.temporal_task_queue)
        await stop.wait()
        log.info("worker draining")
    await close_pools()
    log.info("worker stopped")


if __name__ == "__main__":
    asyncio.run(main())
