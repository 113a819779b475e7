"""worker.py as a real process: its Prometheus endpoint (WORKER_METRICS_PORT) serves edgewise's metrics and
the Temporal SDK's, and SIGTERM drains it — an activity running at that moment completes (once, on this
worker, no retry), then the process exits 0.

The worker runs on a task queue of its own, served by an API of its own (in this process, same database),
so the session's in-process worker never takes its tasks. The two tests share the worker process: the
drain test comes last and ends it.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from edgewise.config import Settings
from edgewise.workspaces import CreatedWorkspace
from tests.conftest import TEST_KEY, AccountPool
from tests.support.flows import connected_identity, sandbox_latency
from tests.support.processes import Process, edgewise_env, python_process
from tests.support.servers import free_port, serve_in_thread

MESSAGE = "Hello from the worker drain test"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition: (name, sorted labels) → value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _sum(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(
        value
        for (sample_name, sample_labels), value in samples.items()
        if sample_name == name and set(labels.items()) <= set(sample_labels)
    )


@pytest.fixture(scope="module")
def queue_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"temporal_task_queue": f"drain-{uuid.uuid4().hex[:8]}"})


@pytest.fixture(scope="module")
def queue_api(queue_settings: Settings) -> Iterator[str]:
    from api.app import create_app

    with serve_in_thread(create_app(queue_settings)) as url:
        yield url


def _worker(queue_settings: Settings, tmp_path: Path, metrics_port: int) -> Process:
    env = edgewise_env(
        queue_settings,
        tmp_path / "data",
        TEST_KEY,
        WORKER_METRICS_PORT=str(metrics_port),
        WORKER_SHUTDOWN_GRACE_SECONDS="60",
    )
    return python_process("worker", ["worker.py"], env, tmp_path)


@pytest.fixture(scope="module")
def worker_process(
    queue_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, int]]:
    """One worker process for the module (starting one takes seconds); the drain test, last, ends it."""
    tmp_path = tmp_path_factory.mktemp("worker")
    port = free_port()
    process = _worker(queue_settings, tmp_path, port).start()
    try:
        process.wait_for_output("worker started", timeout=90)
        yield process, port
    finally:
        process.stop()


@pytest_asyncio.fixture
async def api(queue_api: str, new_workspace: CreatedWorkspace) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=queue_api, headers={"X-API-Key": new_workspace.api_key}, timeout=60
    ) as http:
        yield http


async def _message_run(
    api: httpx.AsyncClient, sandbox: httpx.AsyncClient, account: dict[str, Any], identity_uid: str
) -> tuple[str, str]:
    """An async run messaging one first-degree connection of `account`; (run uid, recipient's URN)."""
    listed = await sandbox.get("/_sandbox/people", params={"connected_to": account["id"], "limit": 1})
    friends = listed.json()
    response = await api.post(
        "/v1/actions/linkedin-message-profile/run/async",
        json={
            "inputs": [{"linkedin_profile_url": friends[0]["linkedin_profile_url"]}],
            "parameters": {"message": MESSAGE},
            "identity_ids": [identity_uid],
        },
    )
    assert response.status_code == 202, response.text
    return response.json()["uid"], friends[0]["linkedin_profile_urn"]


async def _run_status(api: httpx.AsyncClient, run_uid: str) -> dict[str, Any]:
    response = await api.get(f"/v1/runs/{run_uid}/status")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _wait_status(api: httpx.AsyncClient, run_uid: str, wanted: str, timeout: float = 60) -> None:
    async def reached() -> bool:
        return (await _run_status(api, run_uid))["status"] == wanted

    deadline = asyncio.get_running_loop().time() + timeout
    while not await reached():
        if asyncio.get_running_loop().time() > deadline:
            last = await _run_status(api, run_uid)
            raise AssertionError(f"run {run_uid} not {wanted} after {timeout:.0f}s: {last}")
        await asyncio.sleep(0.05)


async def _sent_messages(sandbox: httpx.AsyncClient, account: dict[str, Any]) -> list[dict[str, Any]]:
    return list((await sandbox.get(f"/_sandbox/accounts/{account['id']}/outbox")).json()["messages"])


@pytest.mark.timeout(240)
async def test_worker_metrics_endpoint_serves_edgewise_and_temporal_sdk_metrics(
    worker_process: tuple[Process, int],
    api: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
) -> None:
    process, port = worker_process
    account = account_pool.take()
    identity, _ = await connected_identity(api, sandbox, account)
    run_uid, _ = await _message_run(api, sandbox, account, identity["uid"])
    await _wait_status(api, run_uid, "SUCCEEDED")
    async with httpx.AsyncClient(timeout=30) as http:
        health = await http.get(f"http://127.0.0.1:{port}/healthz")
        scraped = await http.get(f"http://127.0.0.1:{port}/metrics")
    assert health.status_code == 200
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    samples = _samples(scraped.text)
    # edgewise's own events, counted where they happened: in this worker process.
    sent = _sum(samples, "edgewise_actions_total", action="linkedin-message-profile", outcome="succeeded")
    assert sent == 1
    assert _sum(samples, "edgewise_linkedin_request_duration_seconds_count", method="POST") >= 1
    # The Temporal SDK's metrics, from its core's exporter, in the same exposition.
    assert _sum(samples, "temporal_activity_execution_latency_seconds_count", activity_type="run_batch") >= 1
    assert any(name.startswith("temporal_worker_task_slots_available") for name, _ in samples)
    assert process.alive()


@pytest.mark.timeout(240)
async def test_sigterm_drains_the_worker_the_running_activity_completes_and_it_exits_0(
    queue_settings: Settings,
    worker_process: tuple[Process, int],
    api: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    temporal_client: Client,
) -> None:
    from worker import build_worker

    process, _ = worker_process
    account = account_pool.take()
    identity, _ = await connected_identity(api, sandbox, account)
    # The message takes 4 s at LinkedIn: long enough for the SIGTERM to arrive while it is being sent.
    async with sandbox_latency(sandbox, account["id"], 4000, scope="writes"):
        run_uid, recipient = await _message_run(api, sandbox, account, identity["uid"])
        await _wait_status(api, run_uid, "RUNNING")
        assert await _sent_messages(sandbox, account) == [], "the message went out before the SIGTERM"
        process.signal(signal.SIGTERM)
        exit_code = process.wait(timeout=90)
    assert exit_code == 0, process.tail()
    log = process.output()
    assert "worker draining" in log and "worker stopped" in log, process.tail()
    # The activity finished on the draining worker: the message went out once, its input is recorded.
    sent = await _sent_messages(sandbox, account)
    assert [m["to_urn"] for m in sent] == [recipient], sent
    inputs = (await api.get(f"/v1/runs/{run_uid}/inputs")).json()
    assert [row["status"] for row in inputs] == ["SUCCEEDED"], inputs

    # Another worker takes the run over; it finishes without running the batch again.
    async with build_worker(temporal_client, queue_settings):
        await _wait_status(api, run_uid, "SUCCEEDED")
    history = await temporal_client.get_workflow_handle(f"run:{run_uid}").fetch_history()
    batches = [
        event.activity_task_scheduled_event_attributes.activity_id
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == "run_batch"
    ]
    attempts = [
        event.activity_task_started_event_attributes.attempt
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    failed = [
        event.event_type
        for event in history.events
        if event.event_type
        in (EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED, EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
            EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED)
    ]
    assert batches and set(attempts) == {1} and not failed, (batches, attempts, failed)
    assert len(await _sent_messages(sandbox, account)) == 1
