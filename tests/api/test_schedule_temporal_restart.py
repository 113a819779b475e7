"""Schedules live in Temporal's persistence: they survive the Temporal server itself being restarted.

The test runs a Temporal dev server of its own on a database file (tests/cluster/stack.py, the same search
attributes and tuning as `make dev`), an API and a worker pointed at it (the session's test database and
sandbox, a task queue of its own), so stopping that server does not disturb the session's. Across a SIGTERM
and a start on the same file, the recurring schedule is still there — in the API and as the same Temporal
Schedule, with the same armed firings — and fires; the one-shot armed before the restart fires after it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from temporalio.client import Client, ScheduleActionStartWorkflow

from api.app import create_app
from edgewise.config import Settings
from edgewise.crypto import Keyring
from edgewise.temporal import connect
from edgewise.workspaces import create_workspace
from tests.api.test_schedule_restarts import own_settings, poll, until
from tests.cluster.stack import Stack
from tests.support.servers import serve_in_thread
from worker import build_worker

CRON, TIMEZONE = "30 9 * * 1-5", "Europe/Berlin"
# How far ahead of its creation the one-shot is due: after the restart has begun. Should the restart take
# longer, Temporal's catch-up window starts it right after — from the persisted schedule all the same.
ONE_SHOT_AHEAD = timedelta(seconds=8)


async def healthy_client(settings: Settings) -> Client:
    """A client of the freshly started server, once it answers its health check."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        try:
            client = await connect(settings)
            if await client.service_client.check_health():
                return client
        except Exception as exc:  # not listening or not serving yet
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"Temporal at {settings.temporal_address} never became healthy") from exc
        await asyncio.sleep(0.3)


async def test_a_schedule_survives_a_temporal_server_restart(
    settings: Settings, engine: Engine, keyring: Keyring, tmp_path: Path
) -> None:
    stack = Stack(tmp_path, settings.database_url, settings.encryption_key)
    try:
        await asyncio.to_thread(stack.start_temporal)
        mine = own_settings(settings).model_copy(update={"temporal_address": stack.temporal_address})
        client = await healthy_client(mine)
        workspace = create_workspace(engine, keyring, f"tr-{uuid.uuid4().hex[:6]}", "admin@restart.test")
        headers = {"X-API-Key": workspace.api_key}

        with serve_in_thread(create_app(mine), port=mine.api_port) as url:
            async with (
                httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as api,
                build_worker(client, mine),
            ):
                identity = (await api.post("/v1/identities", json={"name": "Temporal restart"})).json()

                async def schedule(**when: Any) -> str:
                    created = await api.post(
                        "/v1/actions/linkedin-extract-people/run/schedule",
                        json={
                            "inputs": [{"linkedin_profile_url": "https://www.linkedin.com/in/t-restart"}],
                            "identity_ids": [identity["uid"]],
                            **when,
                        },
                    )
                    assert created.status_code == 201, created.text
                    return str(created.json()["uid"])

                recurring = await schedule(cron=CRON, timezone=TIMEZONE)
                at = (datetime.now(UTC) + ONE_SHOT_AHEAD).isoformat()
                one_shot = await schedule(schedule_at=at)
                before = (await api.get(f"/v1/schedules/{recurring}")).json()
                described = await client.get_schedule_handle(f"schedule:{recurring}").describe()
                one_shot_before = await client.get_schedule_handle(f"schedule:{one_shot}").describe()
                assert one_shot_before.info.num_actions == 0, "the one-shot fired before the restart"
                stopped_at = datetime.now(UTC)
                assert stopped_at < datetime.fromisoformat(at), "the one-shot came due before the restart"

                # SIGTERM to the dev server, then a start on the same database file.
                await asyncio.to_thread(stack.restart_temporal)
                await healthy_client(mine)

                # The same Temporal Schedule (not one made again), its armed firings and action intact.
                handle = client.get_schedule_handle(f"schedule:{recurring}")
                after = await handle.describe()
                assert after.info.created_at == described.info.created_at
                assert after.info.next_action_times == described.info.next_action_times
                assert after.info.next_action_times, "the recurring schedule has no firing armed"
                assert after.schedule.spec == described.schedule.spec
                assert after.schedule.state.paused is False and after.info.num_actions == 0
                action = after.schedule.action
                assert isinstance(action, ScheduleActionStartWorkflow)
                assert action.workflow == "ScheduleFire" and action.task_queue == mine.temporal_task_queue

                # The API still shows it as it was.
                again = (await api.get(f"/v1/schedules/{recurring}")).json()
                assert again["status"] == "ACTIVE"
                assert (again["cron"], again["timezone"]) == (CRON, TIMEZONE)
                assert again["next_execution_at"] == before["next_execution_at"]
                assert again["runs_count"] == 0

                # A firing after the restart makes its run.
                await handle.trigger()
                runs = await poll(
                    api, f"/v1/schedules/{recurring}/runs", lambda r: len(r) == 1, "the firing's run"
                )
                assert runs[0]["execution_mode"] == "SCHEDULED" and runs[0]["schedule_uid"] == recurring
                fired = await until(
                    lambda: handle.describe(), lambda d: d.info.num_actions == 1, "its count in Temporal"
                )
                assert fired.info.created_at == described.info.created_at

                # The one-shot armed before the restart fires after it, on its own.
                shot = await poll(
                    api, f"/v1/schedules/{one_shot}/runs", lambda r: len(r) == 1, "the one-shot's run"
                )
                assert shot[0]["execution_mode"] == "SCHEDULED" and shot[0]["schedule_uid"] == one_shot
                assert datetime.fromisoformat(shot[0]["created_at"]) > stopped_at

                await api.post(f"/v1/schedules/{recurring}/cancel")
                await api.post(f"/v1/schedules/{one_shot}/cancel")
    finally:
        await asyncio.to_thread(stack.stop)
