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
    from edgewise.wiring import live_components, live_worker_options

    workflows, activities = _components(client, settings)
    # On shutdown, running activities get this long to finish before they are cancelled (a cancelled batch
    # is retried elsewhere and re-claims its own rows; writes carry de-duplicating tokens).
    grace = timedelta(seconds=settings.worker_shutdown_grace_seconds)
    worker = Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=workflows,
        activities=activities,
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=grace,
    )
    live_workflows, live_activities = live_components(client, settings)
    live = Worker(
        client,
        task_queue=settings.live_task_queue,
        workflows=live_workflows,
        activities=live_activities,
        graceful_shutdown_timeout=grace,
        **live_worker_options(),
    )
    async with worker, live:
        try:
            yield worker
        finally:
            # Both drain at once: leaving the `async with` would shut them down one after the other.
            await asyncio.gather(worker.shutdown(), live.shutdown())


async def main() -> None:
    from db.migrate import upgrade
    from edgewise.logging import setup_logging
    from edgewise.metrics import serve as serve_metrics
    from edgewise.namespace_setup import ensure_search_attributes
    from edgewise.safety import ensure_profile_allowed
    from linkedin.http_adapter import close_pools

    settings = get_settings()
    setup_logging(settings)
    ensure_profile_allowed(settings)  # test/unlimited profiles only against a sandbox
    upgrade(settings.resolved_database_url)
    client = await connect(settings)
    log = logging.getLogger("edgewise.worker")
    await ensure_search_attributes(client, settings.temporal_namespace)
    # Prometheus scrapes edgewise's and the Temporal SDK's metrics here (WORKER_METRICS_PORT; 0 = none).
    metrics_server = (
        serve_metrics(settings.worker_metrics_host, settings.worker_metrics_port)
        if settings.worker_metrics_port
        else None
    )
    # SIGTERM (an orchestrator) and SIGINT (Ctrl-C) both drain: the worker stops polling, lets running
    # activities finish (up to WORKER_SHUTDOWN_GRACE_SECONDS), then exits 0.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with build_worker(client, settings):
            log.info(
                "worker started on task queues %s and %s",
                settings.temporal_task_queue,
                settings.live_task_queue,
                extra={"metrics_port": metrics_server.port if metrics_server else None},
            )
            await stop.wait()
            log.info(
                "worker draining: no new tasks; running activities get up to %.0f s to finish",
                settings.worker_shutdown_grace_seconds,
            )
    finally:
        await close_pools()
        if metrics_server is not None:
            metrics_server.close()
    log.info("worker stopped")


if __name__ == "__main__":
    asyncio.run(main())
