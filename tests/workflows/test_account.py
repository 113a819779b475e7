"""The per-account workflow over a real Temporal dev server: one holder at a time, live callers in arrival
order, expired leases reclaimable, state kept across continue-as-new."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.worker import Worker

from activities.accounts import give_back_lease, request_lease
from api.leases import acquire_live_lease, release_live_lease
from edgewise.config import Settings
from edgewise.errors import ApiError
from workflows.account import AccountWorkflow
from workflows.contracts import (
    AccountWorkflowInput,
    AcquireLeaseInput,
    LeaseGrant,
    LeaseRequest,
    ReleaseLeaseInput,
    account_workflow_id,
)

pytestmark = pytest.mark.usefixtures("worker")


@pytest_asyncio.fixture
async def profile_id(temporal_client: Client) -> AsyncIterator[int]:
    pid = random.randint(10**12, 10**13)
    yield pid
    try:
        await temporal_client.get_workflow_handle(account_workflow_id(pid)).terminate("test over")
    except Exception:
        pass


async def ask(
    client: Client, settings: Settings, pid: int, holder: str, kind: str = "batch", **extra: object
) -> LeaseGrant:
    request = LeaseRequest.model_validate({"holder": holder, "kind": kind, **extra})
    return await request_lease(client, settings.temporal_task_queue, pid, request)


async def state(client: Client, pid: int) -> dict[str, Any]:
    handle = client.get_workflow_handle_for(AccountWorkflow.run, account_workflow_id(pid))
    return await handle.query(AccountWorkflow.state)


async def test_grant_then_busy_then_release(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    first = await ask(temporal_client, settings, profile_id, "run:a")
    assert first.granted and first.lease_id and first.expires_at is not None
    second = await ask(temporal_client, settings, profile_id, "run:b")
    assert not second.granted and second.reason == "ACCOUNT_BUSY"
    assert second.retry_after_seconds and second.retry_after_seconds >= 1  # batch callers poll slowly
    # The holder asking again gets its own lease back (a retried acquire), renewed.
    again = await ask(temporal_client, settings, profile_id, "run:a")
    assert again.granted and again.lease_id == first.lease_id
    assert again.expires_at is not None and again.expires_at >= first.expires_at
    assert await give_back_lease(temporal_client, profile_id, first.lease_id)
    assert not await give_back_lease(temporal_client, profile_id, first.lease_id)  # already released
    third = await ask(temporal_client, settings, profile_id, "run:b")
    assert third.granted and third.lease_id != first.lease_id


@pytest.mark.parametrize("updates_per_run", [500, 7], ids=["one-run", "continuing-as-new"])
async def test_concurrent_acquirers_never_both_hold(
    temporal_client: Client, settings: Settings, profile_id: int, updates_per_run: int
) -> None:
    await temporal_client.start_workflow(
        AccountWorkflow.run,
        AccountWorkflowInput(linkedin_profile_id=profile_id, state={"updates_per_run": updates_per_run}),
        id=account_workflow_id(profile_id),
        task_queue=settings.temporal_task_queue,
    )
    holding = 0
    max_holding = 0
    grants = 0

    async def worker(name: str, kind: str) -> None:
        nonlocal holding, max_holding, grants
        for _ in range(4):
            ticket = None
            while True:
                grant = await ask(temporal_client, settings, profile_id, name, kind, ticket=ticket)
                if grant.granted:
                    break
                ticket = grant.ticket
                await asyncio.sleep(0.02)
            assert grant.lease_id
            holding += 1
            max_holding = max(max_holding, holding)
            grants += 1
            await asyncio.sleep(0.03)
            holding -= 1
            assert await give_back_lease(temporal_client, profile_id, grant.lease_id)

    await asyncio.gather(
        worker("live:1", "live"), worker("live:2", "live"), worker("run:3", "batch"), worker("run:4", "batch")
    )
    assert max_holding == 1
    assert grants == 16
    if updates_per_run < 50:
        assert (await state(temporal_client, profile_id))["generation"] >= 3


async def test_live_tickets_are_served_in_arrival_order(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    held = await ask(temporal_client, settings, profile_id, "run:holder")
    assert held.granted and held.lease_id
    tickets: dict[str, str] = {}
    for name in ("live:b", "live:c", "live:d"):
        answer = await ask(temporal_client, settings, profile_id, name, "live")
        assert not answer.granted and answer.ticket
        assert answer.retry_after_seconds is not None and answer.retry_after_seconds <= 0.5
        tickets[name] = answer.ticket
    assert await give_back_lease(temporal_client, profile_id, held.lease_id)

    # Batch work waits while live callers are queued, even though the account is free.
    batch = await ask(temporal_client, settings, profile_id, "run:other")
    assert not batch.granted and batch.ticket is None
    # A newcomer without a ticket joins at the tail.
    late = await ask(temporal_client, settings, profile_id, "live:e", "live")
    assert not late.granted and late.ticket

    order: list[str] = []
    pending = ["live:d", "live:c", "live:b"]  # poll in reverse: only the head may win
    while pending:
        for name in list(pending):
            answer = await ask(temporal_client, settings, profile_id, name, "live", ticket=tickets[name])
            if answer.granted:
                assert answer.lease_id
                order.append(name)
                pending.remove(name)
                assert await give_back_lease(temporal_client, profile_id, answer.lease_id)
                break
            assert answer.ticket == tickets[name]  # the place in line is kept
    assert order == ["live:b", "live:c", "live:d"]
    tail = await ask(temporal_client, settings, profile_id, "live:e", "live", ticket=late.ticket)
    assert tail.granted


async def test_stale_ticket_is_dropped(
    temporal_client: Client, settings: Settings, profile_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = await ask(temporal_client, settings, profile_id, "run:holder")
    assert held.lease_id
    gone = await ask(temporal_client, settings, profile_id, "live:gone", "live")
    assert gone.ticket
    # A caller that gives up withdraws its place in line (release with the ticket).
    assert await give_back_lease(temporal_client, profile_id, gone.ticket)
    snapshot = await state(temporal_client, profile_id)
    assert snapshot["queue"] == []


async def test_expired_lease_is_reclaimable(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    dead = await ask(temporal_client, settings, profile_id, "run:dies", lease_seconds=0.5)
    assert dead.granted
    refused = await ask(temporal_client, settings, profile_id, "run:next")
    assert not refused.granted
    await asyncio.sleep(0.8)
    taken = await ask(temporal_client, settings, profile_id, "run:next")
    assert taken.granted and taken.lease_id != dead.lease_id
    assert dead.lease_id
    assert not await give_back_lease(temporal_client, profile_id, dead.lease_id)  # a late release is a no-op
    snapshot = await state(temporal_client, profile_id)
    lease = snapshot["lease"]
    assert isinstance(lease, dict) and lease["holder"] == "run:next"


async def test_validator_rejects_malformed_requests(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    ok = await ask(temporal_client, settings, profile_id, "run:ok")
    assert ok.granted
    for bad in (
        {"holder": ""},
        {"holder": "run:x", "lease_seconds": 0},
        {"holder": "run:x", "lease_seconds": 10**6},
        {"holder": "x" * 500},
        {"holder": "run:x", "kind": "batch", "ticket": "t"},
    ):
        with pytest.raises(WorkflowUpdateFailedError):
            await request_lease(
                temporal_client, settings.temporal_task_queue, profile_id, LeaseRequest.model_validate(bad)
            )
    snapshot = await state(temporal_client, profile_id)
    assert snapshot["handled_this_run"] == 1  # rejected updates never reached the handler


async def test_continue_as_new_keeps_the_state(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    handle = await temporal_client.start_workflow(
        AccountWorkflow.run,
        AccountWorkflowInput(linkedin_profile_id=profile_id, state={"updates_per_run": 4}),
        id=account_workflow_id(profile_id),
        task_queue=settings.temporal_task_queue,
    )
    first_run = (await handle.describe()).run_id
    held = await ask(temporal_client, settings, profile_id, "run:holder", lease_seconds=600)
    assert held.granted and held.lease_id
    b = await ask(temporal_client, settings, profile_id, "live:b", "live")
    c = await ask(temporal_client, settings, profile_id, "live:c", "live")
    assert b.ticket and c.ticket
    # Polls push it past its per-run budget: it continues as new, carrying holder and queue.
    for _ in range(6):
        await ask(temporal_client, settings, profile_id, "live:b", "live", ticket=b.ticket)
        await ask(temporal_client, settings, profile_id, "live:c", "live", ticket=c.ticket)
    described = await temporal_client.get_workflow_handle(account_workflow_id(profile_id)).describe()
    assert described.run_id != first_run
    snapshot = await state(temporal_client, profile_id)
    assert snapshot["generation"] >= 1
    lease = snapshot["lease"]
    assert isinstance(lease, dict) and lease["lease_id"] == held.lease_id
    queue = snapshot["queue"]
    assert isinstance(queue, list) and [t["ticket"] for t in queue] == [b.ticket, c.ticket]
    # And the carried state still works: c cannot jump b; the holder's release lets b in.
    assert not (await ask(temporal_client, settings, profile_id, "live:c", "live", ticket=c.ticket)).granted
    assert await give_back_lease(temporal_client, profile_id, held.lease_id)
    assert not (await ask(temporal_client, settings, profile_id, "live:c", "live", ticket=c.ticket)).granted
    assert (await ask(temporal_client, settings, profile_id, "live:b", "live", ticket=b.ticket)).granted


async def test_live_lease_helpers_queue_in_arrival_order(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    first = await acquire_live_lease(temporal_client, settings, profile_id, "live:first")
    assert first.granted and first.lease_id
    order: list[str] = []

    async def caller(name: str) -> None:
        grant = await acquire_live_lease(temporal_client, settings, profile_id, name)
        assert grant.lease_id
        order.append(name)
        await asyncio.sleep(0.05)
        await release_live_lease(temporal_client, profile_id, grant.lease_id)

    tasks = []
    for name in ("live:1", "live:2", "live:3"):
        tasks.append(asyncio.create_task(caller(name)))
        await asyncio.sleep(0.3)  # each is queued before the next arrives
    await release_live_lease(temporal_client, profile_id, first.lease_id)
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    assert order == ["live:1", "live:2", "live:3"]


async def test_live_lease_busy_answers_account_busy(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    quick = settings.model_copy(update={"account_busy_timeout_seconds": 0.6})
    held = await ask(temporal_client, settings, profile_id, "run:long")
    assert held.granted
    with pytest.raises(ApiError) as caught:
        await acquire_live_lease(temporal_client, quick, profile_id, "live:late")
    error = caught.value
    assert error.label == "LIMIT_REACHED" and error.status_code == 429
    assert error.params["limit"] == "ACCOUNT_BUSY"
    assert str(error.params["postponed_until"]).endswith("Z")
    # It withdrew its ticket on giving up: nobody is left in line.
    snapshot = await state(temporal_client, profile_id)
    assert snapshot["queue"] == []


@workflow.defn(sandboxed=False)
class LeaseThroughActivities:
    """Asks and releases through the activities, as run workflows do."""

    @workflow.run
    async def run(self, args: list[Any]) -> list[Any]:
        task_queue, pid, holder = args
        grant: LeaseGrant = await workflow.execute_activity(
            "acquire_lease",
            AcquireLeaseInput(linkedin_profile_id=pid, request=LeaseRequest(holder=holder)),
            result_type=LeaseGrant,
            task_queue=task_queue,
            start_to_close_timeout=timedelta(seconds=30),
        )
        released = None
        if grant.granted and grant.lease_id:
            released = await workflow.execute_activity(
                "release_lease",
                ReleaseLeaseInput(linkedin_profile_id=pid, lease_id=grant.lease_id),
                result_type=bool,
                task_queue=task_queue,
                start_to_close_timeout=timedelta(seconds=30),
            )
        return [grant.granted, released]


async def test_lease_activities_start_the_account_workflow(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    queue = f"lease-test-{uuid.uuid4().hex[:8]}"
    async with Worker(temporal_client, task_queue=queue, workflows=[LeaseThroughActivities]):
        # No account workflow yet: update-with-start creates it, grants, and the release frees it.
        result = await temporal_client.execute_workflow(
            LeaseThroughActivities.run,
            [settings.temporal_task_queue, profile_id, "run:via-activity"],
            id=f"lease-test-{uuid.uuid4()}",
            task_queue=queue,
        )
        assert result == [True, True]
        assert (await state(temporal_client, profile_id))["lease"] is None
        # A malformed request fails at once (non-retryable), it does not loop on retries.
        with pytest.raises(WorkflowFailureError) as caught:
            await temporal_client.execute_workflow(
                LeaseThroughActivities.run,
                [settings.temporal_task_queue, profile_id, ""],
                id=f"lease-test-{uuid.uuid4()}",
                task_queue=queue,
                execution_timeout=timedelta(seconds=20),
            )
        assert "rejected" in str(getattr(caught.value.cause, "cause", None))
