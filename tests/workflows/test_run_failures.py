"""Faults inside edgewise never leave work RUNNING for ever, nor hold an account retrying what cannot succeed.

- A step that raises something unforeseen (here: a step that crashes on one target, standing in for a bug or
  an answer the parser cannot read) fails that input with INTERNAL_ERROR and an `error_ref` at once — no
  activity retry — and the run goes on with the others; a live call answers 500 with the same label, and
  its run is FAILED, not RUNNING.
- A batch whose retries are spent (a fault outside any one input's step: here the database refusing to
  record its results) fails the inputs it holds and the run ends, on Temporal's time-skipping test server
  (the eight attempts' backoff is skipped, not waited).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import run_store
from activities.deps import ActivityDeps
from edgewise.catalog import CATALOG, StepContext, StepResult
from edgewise.config import Settings
from edgewise.crypto import Keyring
from linkedin.http_adapter import http_adapter_factory
from tests.conftest import AccountPool
from tests.support.flows import connected_identity
from tests.support.runs import direct_run
from tests.workflows.conftest import run_activities
from workflows.account import AccountWorkflow
from workflows.contracts import LiveRunResult, RunWorkflowInput, run_workflow_id
from workflows.run import ActionRunWorkflow

pytestmark = pytest.mark.usefixtures("worker")

ACTION = "linkedin-extract-people"
TERMINAL = {"SUCCEEDED", "PARTIAL_SUCCEEDED", "FAILED"}


async def _people(sandbox: httpx.AsyncClient, offset: int, limit: int) -> list[dict[str, Any]]:
    response = await sandbox.get("/_sandbox/people", params={"limit": limit, "offset": offset})
    assert response.status_code == 200, response.text
    return list(response.json())


def _crash_on(monkeypatch: pytest.MonkeyPatch, profile_url: str) -> None:
    """Make the action's step raise a KeyError for this one target (as a parser bug would)."""
    spec = CATALOG[ACTION]
    wanted = profile_url.rstrip("/").lower()

    async def crashing(ctx: StepContext) -> StepResult:
        if str(ctx.input.get("linkedin_profile_url", "")).rstrip("/").lower() == wanted:
            raise KeyError("elements")
        return await spec.step(ctx)

    monkeypatch.setitem(CATALOG, ACTION, replace(spec, step=crashing))


async def _wait_terminal(client: httpx.AsyncClient, run_uid: str, timeout: float = 90) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        run = (await client.get(f"/v1/runs/{run_uid}")).json()
        if run["status"] in TERMINAL:
            return dict(run)
        assert asyncio.get_running_loop().time() < deadline, f"run not terminal: {run}"
        await asyncio.sleep(0.1)


async def _live(client: httpx.AsyncClient, profile_url: str, identity_uid: str) -> httpx.Response:
    return await client.post(
        f"/v1/actions/{ACTION}/run/live",
        json={"input": {"linkedin_profile_url": profile_url}, "identity_ids": [identity_uid]},
    )


async def _inputs(client: httpx.AsyncClient, run_uid: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/runs/{run_uid}/inputs")
    assert response.status_code == 200, response.text
    return list(response.json())


def _attempts(history: Any, activity_type: str) -> list[int]:
    scheduled = {
        event.event_id
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == activity_type
    }
    return [
        event.activity_task_started_event_attributes.attempt
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and event.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]


async def test_a_crashing_step_fails_its_input_at_once_and_the_run_goes_on(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    temporal_client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    targets = await _people(sandbox, offset=5200, limit=3)
    _crash_on(monkeypatch, targets[1]["linkedin_profile_url"])
    response = await client.post(
        f"/v1/actions/{ACTION}/run/async",
        json={
            "inputs": [{"linkedin_profile_url": t["linkedin_profile_url"]} for t in targets],
            "identity_ids": [identity["uid"]],
        },
    )
    assert response.status_code == 202, response.text
    run_uid = response.json()["uid"]
    run = await _wait_terminal(client, run_uid)
    assert (run["status"], run["output_count"]) == ("PARTIAL_SUCCEEDED", 2), run
    rows = await _inputs(client, run_uid)
    assert [row["status"] for row in rows] == ["SUCCEEDED", "FAILED", "SUCCEEDED"], rows
    error = rows[1]["error"]
    assert error["error_label"] == "INTERNAL_ERROR", error
    assert len(error["params"]["error_ref"]) == 32
    assert rows[1]["finished_at"] is not None
    # Not retried: one attempt of each batch, no failed activity in the run's history.
    history = await temporal_client.get_workflow_handle(run_workflow_id(run_uid)).fetch_history()
    assert set(_attempts(history, "run_batch")) == {1}
    assert not [e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED]


async def test_a_live_call_whose_step_crashes_answers_500_and_its_run_is_failed(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    [target] = await _people(sandbox, offset=5210, limit=1)
    _crash_on(monkeypatch, target["linkedin_profile_url"])
    response = await _live(client, target["linkedin_profile_url"], identity["uid"])
    assert response.status_code == 500, response.text
    body = response.json()
    assert (body["error_label"], body["error_scope"]) == ("INTERNAL_ERROR", "internal"), body
    assert len(body["params"]["error_ref"]) == 32
    run = (await client.get(f"/v1/runs/{response.headers['X-Run-Uid']}")).json()
    assert run["status"] == "FAILED", run
    # The account is free again at once: the next live call on it succeeds.
    [other] = await _people(sandbox, offset=5211, limit=1)
    again = await _live(client, other["linkedin_profile_url"], identity["uid"])
    assert again.status_code == 200, again.text


async def test_a_batch_whose_retries_are_spent_fails_its_inputs_and_the_run_ends(
    skipping_env: WorkflowEnvironment,
    settings: Settings,
    engine: Engine,
    keyring: Keyring,
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    new_workspace: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    targets = await _people(sandbox, offset=5220, limit=2)
    inputs = [{"linkedin_profile_url": t["linkedin_profile_url"]} for t in targets]
    run_uid = direct_run(engine, keyring, new_workspace.workspace_uid, ACTION, identity["uid"], inputs).uid

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("INSERT INTO run_outputs …", {}, Exception("the database refuses writes"))

    # Every attempt claims the batch's inputs, reads LinkedIn, then cannot record what it read.
    monkeypatch.setattr(run_store, "record_steps", refuse)
    temporal = skipping_env.client
    own = settings.model_copy(update={"temporal_task_queue": f"fail-{uuid.uuid4().hex[:8]}"})
    deps = ActivityDeps(
        settings=own,
        engine=engine,
        keyring=keyring,
        client=temporal,
        adapter_factory=http_adapter_factory(own),
    )
    async with Worker(
        temporal,
        task_queue=own.temporal_task_queue,
        workflows=[ActionRunWorkflow, AccountWorkflow],
        activities=run_activities(deps),
    ):
        handle = await temporal.start_workflow(
            "ActionRun",
            RunWorkflowInput(run_uid=run_uid, batch_size=10, max_lanes=1),
            id=run_workflow_id(run_uid),
            task_queue=own.temporal_task_queue,
            result_type=LiveRunResult,
        )
        result = await asyncio.wait_for(handle.result(), timeout=120)
        history = await handle.fetch_history()

    assert result.status == "FAILED"
    rows = await _inputs(client, run_uid)
    assert [row["status"] for row in rows] == ["FAILED", "FAILED"], rows
    assert {row["error"]["error_label"] for row in rows} == {"INTERNAL_ERROR"}
    assert all(row["finished_at"] is not None for row in rows)
    assert _attempts(history, "run_batch")[-1] == 8, "the batch used its retries first"
    assert _attempts(history, "fail_batch") == [1]
