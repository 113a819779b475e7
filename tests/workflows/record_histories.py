"""Record the workflow histories that tests/workflows/test_replay.py replays — one command:

    .venv/bin/python -m tests.workflows.record_histories

It runs real workflows of every type the worker registers, the way the platform runs them (the test
suite's fixtures: a fresh Temporal dev server, sandbox and database, the in-process worker, the API over
HTTP): connecting an account (ConnectWorkflow, then its AccountWorkflow), an async run with a callback
(ActionRun, then a DeliveryWorkflow), an async write run and a live run (ActionRun's other paths), and a
schedule's firing (ScheduleFire). Each
history is written to tests/workflows/histories/<name>.json with its payloads decoded (protobuf JSON: a
payload's `data` is the base64 of its JSON value), so it does not depend on any key and a reviewer can read
it, after checking that no secret (cookies, API keys, webhook secret, callback headers) appears in it. The
replay test replays each as committed and re-encrypted with the codec, as the worker meets it.

Re-record after a deliberate, versioned change to a workflow (README, "Upgrading workflows"), or when a new
workflow type is registered (add its scenario here and its name to test_replay.RECORDED).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowHistory

from tests.conftest import AccountPool
from tests.support.flows import create_identity, fresh_cookies
from tests.support.history import decoded_history, history_text
from tests.support.webhook_receiver import running_receiver
from workflows.contracts import account_workflow_id, delivery_workflow_id, run_workflow_id
from workflows.schedule import fire_workflow_id, schedule_id

HISTORIES = Path(__file__).parent / "histories"
ENABLE = "EDGEWISE_RECORD_HISTORIES"
# Strings that mark a secret whatever its value: API keys, webhook secrets, LinkedIn session cookies.
SECRET_MARKERS = ("ew_", "whsec_", "AQED", "ajax:")

pytestmark = [
    pytest.mark.skipif(not os.environ.get(ENABLE), reason=f"records histories only when {ENABLE}=1"),
    pytest.mark.usefixtures("worker"),
]


async def _wait_run(client: httpx.AsyncClient, run_uid: str) -> dict[str, Any]:
    for _ in range(600):
        run = (await client.get(f"/v1/runs/{run_uid}")).json()
        if run["status"] in {"SUCCEEDED", "FAILED", "PARTIAL_SUCCEEDED"}:
            return dict(run)
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_uid} did not finish")


async def _closed(client: Client, workflow_id: str) -> WorkflowHistory:
    handle = client.get_workflow_handle(workflow_id)
    await handle.result()
    return await handle.fetch_history()


async def _find_workflow(client: Client, workflow_type: str, id_prefix: str) -> str:
    for _ in range(300):  # visibility lags a little
        async for execution in client.list_workflows(f"WorkflowType = '{workflow_type}'"):
            if execution.id.startswith(id_prefix):
                return execution.id
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {workflow_type} workflow {id_prefix}… found")


async def _delivery_workflow_id(client: httpx.AsyncClient, run_uid: str) -> str:
    for _ in range(300):
        query = {"run_uid": run_uid, "status": "SUCCEEDED"}
        listed = (await client.get("/v1/deliveries", params=query)).json()
        if listed:
            return delivery_workflow_id(listed[0]["uid"])
        await asyncio.sleep(0.1)
    raise AssertionError("the run's callback was not delivered")


def check_no_secret(name: str, text: str, secrets: list[str]) -> None:
    leaked = [secret for secret in secrets if secret in text]
    assert not leaked, f"{name}: a secret is in the history"
    marked = [marker for marker in SECRET_MARKERS if marker in text]
    assert not marked, f"{name}: something that looks like a secret ({marked}) is in the history"


async def test_record_histories(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    temporal_client: Client,
    new_workspace: Any,
) -> None:
    secrets = [new_workspace.api_key, "Bearer recorder-callback-secret"]
    secrets.append((await client.get("/v1/workspace/webhook")).json()["secret"])
    recorded: dict[str, WorkflowHistory] = {}

    # Connecting an account: ConnectWorkflow, which hands the account to its AccountWorkflow.
    identity = await create_identity(client, "Recorder")
    cookies = await fresh_cookies(sandbox, account_pool.take()["id"])
    secrets += [cookies["li_at"], cookies["JSESSIONID"]]
    response = await client.post(
        f"/v1/identities/{identity['uid']}/integrations/linkedin", json={"auth_data": {"cookies": cookies}}
    )
    assert response.status_code == 201, response.text
    integration = response.json()
    connect_id = await _find_workflow(temporal_client, "ConnectWorkflow", f"connect:{integration['uid']}:")
    recorded["ConnectWorkflow"] = await _closed(temporal_client, connect_id)

    people = (await sandbox.get("/_sandbox/people", params={"limit": 4, "offset": 3000})).json()
    with running_receiver() as receiver:
        url, _ = receiver.url_for()
        # An async read run with a callback: ActionRun (async) and, once it finishes, a DeliveryWorkflow.
        response = await client.post(
            "/v1/actions/linkedin-extract-people/run/async",
            json={
                "inputs": [{"linkedin_profile_url": p["linkedin_profile_url"]} for p in people[:3]],
                "identity_ids": [identity["uid"]],
                "callback": {"url": url, "headers": {"Authorization": secrets[1]}, "on": "final"},
            },
        )
        assert response.status_code == 202, response.text
        run = await _wait_run(client, response.json()["uid"])
        assert run["status"] == "SUCCEEDED", run
        recorded["ActionRun-async"] = await _closed(temporal_client, run_workflow_id(run["uid"]))
        delivery_id = await _delivery_workflow_id(client, run["uid"])
        recorded["DeliveryWorkflow-callback"] = await _closed(temporal_client, delivery_id)

    # An async write run (writes go one at a time, each with its token).
    response = await client.post(
        "/v1/actions/linkedin-visit-profile/run/async",
        json={
            "inputs": [{"linkedin_profile_url": people[3]["linkedin_profile_url"]}],
            "identity_ids": [identity["uid"]],
        },
    )
    assert response.status_code == 202, response.text
    run = await _wait_run(client, response.json()["uid"])
    assert run["status"] == "SUCCEEDED", run
    recorded["ActionRun-async-write"] = await _closed(temporal_client, run_workflow_id(run["uid"]))

    # A live run (the API starts it eagerly on the live task queue).
    response = await client.post(
        "/v1/actions/linkedin-extract-people/run/live",
        json={
            "input": {"linkedin_profile_url": people[0]["linkedin_profile_url"]},
            "identity_ids": [identity["uid"]],
        },
    )
    assert response.status_code == 200, response.text
    live_id = run_workflow_id(response.headers["X-Run-Uid"])
    recorded["ActionRun-live"] = await _closed(temporal_client, live_id)

    # A schedule's firing (triggered now rather than waiting for its cron): ScheduleFire, whose ActionRun
    # child executes the firing's run.
    response = await client.post(
        "/v1/actions/linkedin-extract-people/run/schedule",
        json={
            "inputs": [{"linkedin_profile_url": people[1]["linkedin_profile_url"]}],
            "identity_ids": [identity["uid"]],
            "cron": "0 0 1 1 *",
        },
    )
    assert response.status_code == 201, response.text
    schedule_uid = response.json()["uid"]
    await temporal_client.get_schedule_handle(schedule_id(schedule_uid)).trigger()
    fire_id = await _find_workflow(temporal_client, "ScheduleFire", fire_workflow_id(schedule_uid))
    recorded["ScheduleFire"] = await _closed(temporal_client, fire_id)

    # The account's workflow runs on (it is long-lived): its history so far, with the runs' leases in it.
    account = temporal_client.get_workflow_handle(account_workflow_id(integration["linkedin_profile_id"]))
    recorded["AccountWorkflow"] = await account.fetch_history()

    HISTORIES.mkdir(exist_ok=True)
    for name, history in recorded.items():
        readable = await decoded_history(history)
        check_no_secret(name, history_text(readable), secrets)
        (HISTORIES / f"{name}.json").write_text(readable.to_json() + "\n")
        print(f"recorded {name}: {len(history.events)} events → {HISTORIES / f'{name}.json'}")


def main() -> int:
    # A fresh pytest process (this module's imports must not precede pytest's), running only this module
    # whatever the project's default options select or deselect.
    options = ["-q", "-s", "-p", "no:cacheprovider", "-o", "addopts="]
    command = [sys.executable, "-m", "pytest", __file__, *options]
    return subprocess.call(command, env={**os.environ, ENABLE: "1"})


if __name__ == "__main__":
    sys.exit(main())
