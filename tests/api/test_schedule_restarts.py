"""Schedules live in Temporal and the database, not in an API or worker process: they survive both being
restarted, and a worker outage runs one of the firings it missed, not each.

The test runs its own API processes (one after the other) and its own worker, on a task queue of its own,
so stopping them does not disturb the session's.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from temporalio.client import Client

from api.app import create_app
from edgewise.config import Settings
from edgewise.crypto import Keyring
from edgewise.workspaces import create_workspace
from tests.support.servers import free_port, serve_in_thread
from worker import build_worker


def own_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"temporal_task_queue": f"sched-restart-{uuid.uuid4().hex[:8]}", "api_port": free_port()}
    )


async def until(read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + 45
    while True:
        value = await read()
        if done(value):
            return value
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}: {value}"
        await asyncio.sleep(0.2)


async def poll(client: httpx.AsyncClient, path: str, done: Callable[[Any], bool], what: str) -> Any:
    async def read() -> Any:
        return (await client.get(path)).json()

    return await until(read, done, what)


async def test_a_schedule_outlives_its_api_and_worker_and_an_outage_runs_one_missed_firing_not_each(
    settings: Settings, engine: Engine, keyring: Keyring, temporal_client: Client
) -> None:
    mine = own_settings(settings)
    workspace = create_workspace(engine, keyring, f"restart-{uuid.uuid4().hex[:6]}", "admin@restart.test")
    headers = {"X-API-Key": workspace.api_key}

    # API #1 creates the schedule; no worker serves its task queue yet.
    with serve_in_thread(create_app(mine), port=mine.api_port) as url:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as api:
            identity = (await api.post("/v1/identities", json={"name": "Restarted"})).json()
            created = await api.post(
                "/v1/actions/linkedin-extract-people/run/schedule",
                json={
                    "inputs": [{"linkedin_profile_url": "https://www.linkedin.com/in/restarted"}],
                    "identity_ids": [identity["uid"]],
                    "cron": "0 0 1 1 *",
                },
            )
            assert created.status_code == 201, created.text
            uid = created.json()["uid"]

    # The worker is down while two firings come due: Temporal starts the first (it waits for a worker) and,
    # with overlap SKIP, skips the next one.
    handle = temporal_client.get_schedule_handle(f"schedule:{uid}")

    async def info() -> Any:
        return (await handle.describe()).info

    await handle.trigger()
    await until(lambda: info(), lambda i: i.num_actions == 1, "the first firing to start")
    await handle.trigger()
    await until(
        lambda: info(), lambda i: i.num_actions_skipped_overlap == 1, "the second firing to be skipped"
    )

    # API #2 and a fresh worker: the schedule is all there, and the missed firing runs — once.
    mine = mine.model_copy(update={"api_port": free_port()})
    with serve_in_thread(create_app(mine), port=mine.api_port) as url:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as api:
            before = (await api.get(f"/v1/schedules/{uid}")).json()
            assert before["status"] == "ACTIVE" and before["runs_count"] == 0
            async with build_worker(temporal_client, mine):
                runs = await poll(
                    api, f"/v1/schedules/{uid}/runs", lambda r: len(r) == 1, "the missed firing's run"
                )
                assert runs[0]["execution_mode"] == "SCHEDULED" and runs[0]["schedule_uid"] == uid
                after = await poll(
                    api,
                    f"/v1/schedules/{uid}",
                    lambda s: s["runs_count"] == 1,
                    "the schedule to count its run",
                )
                assert after["skipped_count"] == 1
                assert len((await api.get(f"/v1/schedules/{uid}/runs")).json()) == 1
                # Still in working order: pausing reaches Temporal through the new API process.
                paused = await api.post(f"/v1/schedules/{uid}/pause")
                assert paused.status_code == 200 and paused.json()["status"] == "PAUSED"
                await api.post(f"/v1/schedules/{uid}/cancel")
