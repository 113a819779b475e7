"""The action-run workflow under pressure: continue-as-new for long runs, exactly-once writes when LinkedIn
answers past the timeout. Each test runs its own worker (own task queue, own settings)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.engine import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from api.routes.actions import start_run_workflow
from edgewise.config import Settings
from edgewise.crypto import Keyring
from tests.conftest import AccountPool
from tests.support.flows import connected_identity, sandbox_latency
from tests.support.runs import direct_run
from worker import build_worker
from workflows.contracts import LiveRunResult, RunWorkflowInput, run_workflow_id

pytestmark = pytest.mark.usefixtures("worker")


@pytest_asyncio.fixture
async def own_worker(settings: Settings, temporal_client: Client) -> AsyncIterator[Settings]:
    """A worker on a task queue of its own, with a LinkedIn timeout short enough to provoke."""
    own = settings.model_copy(
        update={"temporal_task_queue": f"runs-{uuid.uuid4().hex[:8]}", "linkedin_timeout_seconds": 1.0}
    )
    async with build_worker(temporal_client, own):
        yield own


async def test_a_long_run_continues_as_new_and_loses_nothing(
    own_worker: Settings,
    temporal_client: Client,
    engine: Engine,
    keyring: Keyring,
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    new_workspace: Any,
) -> None:
    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    targets = (await sandbox.get("/_sandbox/people", params={"limit": 60, "offset": 2000})).json()
    run = direct_run(
        engine,
        keyring,
        new_workspace.workspace_uid,
        "linkedin-extract-people",
        identity["uid"],
        [{"linkedin_profile_url": t["linkedin_profile_url"]} for t in targets],
    )
    await sandbox.put("/_sandbox/tolerances", json={"enabled": False})
    try:
        first = await temporal_client.start_workflow(
            "ActionRun",
            RunWorkflowInput(run_uid=run.uid, batch_size=5, max_lanes=1, rollover_after_batches=3),
            id=run_workflow_id(run.uid),
            task_queue=own_worker.temporal_task_queue,
            result_type=LiveRunResult,
        )
        result = await first.result()
    finally:
        await sandbox.put("/_sandbox/tolerances", json={"enabled": True})
    assert result.status == "SUCCEEDED"
    history = await temporal_client.get_workflow_handle(
        run_workflow_id(run.uid), run_id=first.result_run_id
    ).fetch_history()
    assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    runs = (await client.get(f"/v1/runs/{run.uid}")).json()
    assert runs["output_count"] == 60 and runs["inputs_done"] == 60
    outputs = (await client.get(f"/v1/runs/{run.uid}/outputs", params={"limit": 500})).json()
    assert sorted(o["linkedin_profile_id"] for o in outputs) == sorted(
        t["linkedin_profile_id"] for t in targets
    )


async def test_a_message_answered_past_the_timeout_is_sent_exactly_once(
    own_worker: Settings,
    temporal_client: Client,
    engine: Engine,
    keyring: Keyring,
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    new_workspace: Any,
) -> None:
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    friends = (
        await sandbox.get("/_sandbox/people", params={"connected_to": account["id"], "limit": 2})
    ).json()
    run = direct_run(
        engine,
        keyring,
        new_workspace.workspace_uid,
        "linkedin-message-profile",
        identity["uid"],
        [{"linkedin_profile_url": f["linkedin_profile_url"]} for f in friends],
        {"message": "once, please"},
    )
    # Writes answer after 1.6 s; the adapter gives up after 1 s and the step is retried.
    async with sandbox_latency(sandbox, account["id"], 1600, "writes"):
        handle = await start_run_workflow(temporal_client, own_worker, run)
        result = await handle.result()
    assert result.status == "SUCCEEDED", (await client.get(f"/v1/runs/{run.uid}/inputs")).json()
    outbox = (await sandbox.get(f"/_sandbox/accounts/{account['id']}/outbox")).json()
    assert sorted(m["to_urn"] for m in outbox["messages"]) == sorted(
        f["linkedin_profile_urn"] for f in friends
    )
    outputs = (await client.get(f"/v1/runs/{run.uid}/outputs")).json()
    assert len(outputs) == 2 and len({o["linkedin_message_id"] for o in outputs}) == 2
