"""Schedules through the HTTP API (API.md §6), on the real Temporal dev server (its Schedules), the session's
worker and the sandbox over real HTTP."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from db.engine import session_scope
from db.models import Schedule, ScheduleFiring
from edgewise.crypto import Keyring
from edgewise.timeutil import iso_z, parse_rfc3339, utcnow
from edgewise.workspaces import CreatedWorkspace, create_workspace
from tests.api.helpers import add_member, assert_error, client_for
from tests.conftest import AccountPool
from tests.support.flows import connected_identity, create_identity
from tests.support.webhook_receiver import Receiver, running_receiver
from workflows import search_attributes as sa

pytestmark = pytest.mark.usefixtures("worker")

EXTRACT = "linkedin-extract-people"
SCHEDULE = f"/v1/actions/{EXTRACT}/run/schedule"
PROFILE = "https://www.linkedin.com/in/someone-scheduled"
T = TypeVar("T")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = 45) -> T:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value is not None and value is not False:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.25)


def body(identity_uid: str, **extra: Any) -> dict[str, Any]:
    return {"inputs": [{"linkedin_profile_url": PROFILE}], "identity_ids": [identity_uid], **extra}


async def get(client: httpx.AsyncClient, path: str) -> Any:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


async def temporal_schedule_exists(temporal_client: Client, uid: str) -> bool:
    try:
        await temporal_client.get_schedule_handle(f"schedule:{uid}").describe()
    except RPCError as exc:
        assert exc.status == RPCStatusCode.NOT_FOUND, exc
        return False
    return True


def next_weekday_nine_in_paris(after: datetime) -> datetime:
    """Independently of edgewise: the next Monday–Friday 09:00 Europe/Paris strictly after `after`."""
    paris = ZoneInfo("Europe/Paris")
    day = after.astimezone(paris).date()
    while True:
        candidate = datetime(day.year, day.month, day.day, 9, 0, tzinfo=paris)
        if candidate.isoweekday() <= 5 and candidate > after:
            return candidate.astimezone(UTC)
        day += timedelta(days=1)


# --- bad input ------------------------------------------------------------------------------------------

IN_AN_HOUR = iso_z(utcnow() + timedelta(hours=1))
BAD: list[tuple[dict[str, Any], str]] = [
    ({"cron": "0 0 9 * * *"}, "cron"),  # six fields
    ({"cron": "@daily"}, "cron"),
    ({"cron": "0 25 * * *"}, "cron"),
    ({"cron": "CRON_TZ=Europe/Paris 0 9 * * *"}, "cron"),
    ({"cron": "0 0 31 2 *"}, "cron"),  # never fires
    ({"cron": 5}, "cron"),
    ({}, "cron"),  # neither cron nor schedule_at
    ({"schedule_at": "2020-01-01T00:00:00Z"}, "schedule_at"),  # in the past
    ({"cron": "0 9 * * *", "schedule_at": "2020-01-01T00:00:00Z"}, "schedule_at"),
    ({"schedule_at": "2031-01-01T09:00:00"}, "schedule_at"),  # no offset
    ({"schedule_at": "tomorrow"}, "schedule_at"),
    ({"cron": "0 9 * * *", "timezone": "CEST"}, "timezone"),
    ({"cron": "0 9 * * *", "timezone": "Etc/GMT-2"}, "timezone"),
    ({"cron": "0 9 * * *", "timezone": "UTC+2"}, "timezone"),
    ({"cron": "0 9 * * *", "jitter_seconds": -1}, "jitter_seconds"),
    ({"cron": "0 9 * * *", "jitter_seconds": 3601}, "jitter_seconds"),
    ({"cron": "0 9 * * *", "inputs": []}, "inputs"),
    ({"cron": "0 9 * * *", "surprise": True}, "surprise"),
    (
        {"schedule_at": IN_AN_HOUR, "inputs": [{"linkedin_profile_url": "not a url"}]},
        "inputs[0].linkedin_profile_url",
    ),
]


async def test_bad_schedules_are_400_naming_the_field_and_leave_nothing_behind(
    client: httpx.AsyncClient, new_workspace: CreatedWorkspace, temporal_client: Client
) -> None:
    identity = await create_identity(client, "Scheduler")
    for extra, field in BAD:
        response = await client.post(SCHEDULE, json={**body(identity["uid"]), **extra})
        assert_error(response, 400, "BAD_INPUT", field)
    assert_error(
        await client.post(SCHEDULE, json=body(str(uuid.uuid4()), cron="0 9 * * *")), 404, "NOT_FOUND"
    )
    assert_error(await client.post("/v1/actions/linkedin-nope/run/schedule", json={}), 404, "NOT_FOUND")
    listed = await client.get("/v1/schedules")
    assert listed.json() == [] and listed.headers["X-Total-Count"] == "0"

    # Nothing reached Temporal either: once a good schedule of this workspace is visible there, it is alone.
    good = await client.post(SCHEDULE, json=body(identity["uid"], cron="0 9 * * *"))
    assert good.status_code == 201, good.text
    query = f'{sa.WORKSPACE.name} = "{new_workspace.workspace_uid}"'

    async def visible() -> list[str] | None:
        ids = [s.id async for s in await temporal_client.list_schedules(query=query)]
        return ids or None

    assert await eventually(visible, "the schedule in Temporal's list") == [f"schedule:{good.json()['uid']}"]


# --- creating, reading, listing -------------------------------------------------------------------------


async def test_a_cron_schedule_keeps_cron_and_zone_as_given_and_shows_its_next_firing(
    client: httpx.AsyncClient, new_workspace: CreatedWorkspace, temporal_client: Client
) -> None:
    identity = await create_identity(client, "Weekday Mornings")
    before = utcnow()
    response = await client.post(
        SCHEDULE,
        json=body(
            identity["uid"],
            cron="0 9 * * MON-FRI",
            timezone="Europe/Paris",
            name="new connections",
            label="crm",
            jitter_seconds=20,
            parameters={"sections": ["skills"]},
        ),
    )
    assert response.status_code == 201, response.text
    schedule = response.json()
    assert {k: schedule[k] for k in ("cron", "timezone", "name", "status", "action_name")} == {
        "cron": "0 9 * * MON-FRI",
        "timezone": "Europe/Paris",
        "name": "new connections",
        "status": "ACTIVE",
        "action_name": EXTRACT,
    }
    assert schedule["jitter_seconds"] == 20 and schedule["schedule_at"] is None
    assert (schedule["runs_count"], schedule["skipped_count"], schedule["inputs_count"]) == (0, 0, 1)
    assert schedule["identity_ids"] == [identity["uid"]] and schedule["identity_mode"] == "direct"
    assert schedule["parameters"]["sections"] == ["skills"] and schedule["callback"] is None
    assert schedule["last_executed_at"] is None
    assert parse_rfc3339(schedule["next_execution_at"]) == next_weekday_nine_in_paris(before)

    assert await get(client, f"/v1/schedules/{schedule['uid']}") == schedule
    listed = await client.get("/v1/schedules", params={"status": "ACTIVE", "action_name": EXTRACT})
    assert [s["uid"] for s in listed.json()] == [schedule["uid"]] and listed.headers["X-Total-Count"] == "1"
    assert await get(client, "/v1/schedules?status=PAUSED") == []
    assert await get(client, "/v1/schedules?action_name=linkedin-search-people") == []
    assert_error(await client.get("/v1/schedules?status=SLEEPING"), 400, "BAD_INPUT", "status")
    assert_error(await client.get("/v1/schedules?limit=0"), 400, "BAD_INPUT", "limit")
    assert await get(client, f"/v1/schedules/{schedule['uid']}/runs") == []

    # In Temporal: a readable id, overlap SKIP, the caller's jitter, whose it is, and the same next firing.
    described = await temporal_client.get_schedule_handle(f"schedule:{schedule['uid']}").describe()
    assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert described.schedule.spec.jitter == timedelta(seconds=20)
    assert described.typed_search_attributes.get(sa.WORKSPACE) == new_workspace.workspace_uid
    assert described.typed_search_attributes.get(sa.ACTION) == EXTRACT
    assert await described.memo_value("cron") == "0 9 * * MON-FRI"


async def test_another_workspace_sees_no_schedule(
    client: httpx.AsyncClient, api_url: str, engine: Engine, keyring: Keyring
) -> None:
    identity = await create_identity(client, "Private")
    uid = (await client.post(SCHEDULE, json=body(identity["uid"], cron="0 9 * * *"))).json()["uid"]
    other = create_workspace(engine, keyring, f"other-{uuid.uuid4().hex[:6]}", "admin@other.test")
    async with client_for(api_url, other.api_key) as stranger:
        for path in (f"/v1/schedules/{uid}", f"/v1/schedules/{uid}/runs"):
            assert_error(await stranger.get(path), 404, "NOT_FOUND")
        assert_error(await stranger.post(f"/v1/schedules/{uid}/cancel"), 404, "NOT_FOUND")
        assert (await stranger.get("/v1/schedules")).json() == []
        # Its identity is not theirs to schedule with either.
        assert_error(
            await stranger.post(SCHEDULE, json=body(identity["uid"], cron="0 9 * * *")), 404, "NOT_FOUND"
        )
    assert (await get(client, f"/v1/schedules/{uid}"))["status"] == "ACTIVE"


async def test_a_user_member_reads_schedules_but_cannot_change_them(
    client: httpx.AsyncClient, api_url: str
) -> None:
    identity = await create_identity(client, "Read Only")
    uid = (await client.post(SCHEDULE, json=body(identity["uid"], cron="0 9 * * *"))).json()["uid"]
    user = await add_member(client, "user")
    async with client_for(api_url, user["api_key"]) as reader:
        assert (await reader.get(f"/v1/schedules/{uid}")).status_code == 200
        assert (await reader.get("/v1/schedules")).status_code == 200
        assert_error(
            await reader.post(SCHEDULE, json=body(identity["uid"], cron="0 9 * * *")), 403, "FORBIDDEN"
        )
        for action in ("pause", "resume", "cancel"):
            assert_error(await reader.post(f"/v1/schedules/{uid}/{action}"), 403, "FORBIDDEN")
    assert (await get(client, f"/v1/schedules/{uid}"))["status"] == "ACTIVE"


async def test_an_idempotency_key_makes_one_schedule(client: httpx.AsyncClient) -> None:
    identity = await create_identity(client, "Retry Safe")
    key = {"Idempotency-Key": f"sched-{uuid.uuid4()}"}
    first = await client.post(SCHEDULE, json=body(identity["uid"], cron="0 9 * * *"), headers=key)
    again = await client.post(SCHEDULE, json=body(identity["uid"], cron="0 9 * * *"), headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json()["uid"] == again.json()["uid"]
    assert len(await get(client, "/v1/schedules")) == 1
    other = await client.post(SCHEDULE, json=body(identity["uid"], cron="0 10 * * *"), headers=key)
    assert_error(other, 409, "CONFLICT")


# --- firing ---------------------------------------------------------------------------------------------


async def test_a_one_shot_makes_a_scheduled_run_on_time_and_then_completes(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    receiver: Receiver,
    temporal_client: Client,
    engine: Engine,
) -> None:
    identity, _ = await connected_identity(client, sandbox, account_pool.take(), "One Shot")
    target = (await sandbox.get("/_sandbox/people", params={"limit": 1, "offset": 1700})).json()[0]
    url, path = receiver.url_for()
    at = utcnow() + timedelta(seconds=3)
    response = await client.post(
        SCHEDULE,
        json={
            "inputs": [{"linkedin_profile_url": target["linkedin_profile_url"], "custom_data": {"k": 1}}],
            "identity_ids": [identity["uid"]],
            "schedule_at": iso_z(at),
            "label": "once",
            "callback": {"url": url, "headers": {"Authorization": "Bearer mine"}, "on": "final"},
        },
    )
    assert response.status_code == 201, response.text
    schedule = response.json()
    assert schedule["cron"] is None and schedule["next_execution_at"] == iso_z(at)

    async def made_run() -> list[Any] | None:
        return await get(client, f"/v1/schedules/{schedule['uid']}/runs") or None

    [run] = await eventually(made_run, "the one-shot's run")
    assert run["execution_mode"] == "SCHEDULED" and run["schedule_uid"] == schedule["uid"]
    assert run["label"] == "once" and run["inputs_count"] == 1 and run["identity_ids"] == [identity["uid"]]
    # The contract: within 30 s of its time.
    assert (
        timedelta(0) <= parse_rfc3339(run["created_at"]) - at.replace(microsecond=0) <= timedelta(seconds=30)
    )
    # Temporal fired the armed instant itself (not a fallback trigger) and told the firing that nominal time:
    # `schedule_at` to the second, or a moment later if the request came too close to it.
    with Session(engine) as session:
        firing = session.exec(
            select(ScheduleFiring).where(ScheduleFiring.schedule_uid == schedule["uid"])
        ).one()
        row = session.get(Schedule, schedule["uid"])
        assert row is not None and row.armed_until is not None
        assert firing.fire_key == "once" and firing.nominal_at == row.armed_until - timedelta(seconds=1)
        assert firing.nominal_at >= at.replace(microsecond=0)

    async def completed() -> dict[str, Any] | None:
        current = await get(client, f"/v1/schedules/{schedule['uid']}")
        return current if current["status"] == "COMPLETED" else None

    done = await eventually(completed, "the one-shot to complete")
    finished = await get(client, f"/v1/runs/{run['uid']}")
    assert finished["status"] == "SUCCEEDED" and finished["output_count"] == 1
    assert done["runs_count"] == 1 and done["next_execution_at"] is None and done["last_executed_at"]
    assert [r["uid"] for r in await get(client, f"/v1/runs?schedule_uid={schedule['uid']}")] == [run["uid"]]
    assert [r["uid"] for r in await get(client, "/v1/runs?execution_mode=SCHEDULED")] == [run["uid"]]
    assert not await temporal_schedule_exists(temporal_client, schedule["uid"])
    # The run's callback carries the caller's headers (stored encrypted with the schedule, then the run).
    [post] = await receiver.wait_for(path, 1, timeout=30)
    assert post.headers["authorization"] == "Bearer mine"
    assert json.loads(post.body)["run"]["uid"] == run["uid"]
    assert_error(await client.post(f"/v1/schedules/{schedule['uid']}/pause"), 409, "CONFLICT")


async def test_a_firing_while_the_previous_run_is_unfinished_is_skipped_and_counted(
    client: httpx.AsyncClient, temporal_client: Client
) -> None:
    # No LinkedIn account connected: the run's input waits BLOCKED, so the run does not finish.
    identity = await create_identity(client, "Never Connected")
    schedule = (await client.post(SCHEDULE, json=body(identity["uid"], cron="0 0 1 1 *"))).json()
    handle = temporal_client.get_schedule_handle(f"schedule:{schedule['uid']}")
    await handle.trigger()

    async def blocked_run() -> list[Any] | None:
        runs = await get(client, f"/v1/schedules/{schedule['uid']}/runs")
        return runs if runs and runs[0]["status"] == "BLOCKED" else None

    [run] = await eventually(blocked_run, "the first firing's run to wait BLOCKED")
    assert run["execution_mode"] == "SCHEDULED"
    await handle.trigger()

    async def skipped() -> dict[str, Any] | None:
        current = await get(client, f"/v1/schedules/{schedule['uid']}")
        return current if current["skipped_count"] == 1 else None

    current = await eventually(skipped, "the second firing to be skipped")
    assert current["runs_count"] == 1
    assert len(await get(client, f"/v1/schedules/{schedule['uid']}/runs")) == 1
    listed = await get(client, "/v1/schedules")
    assert [(s["uid"], s["skipped_count"]) for s in listed] == [(schedule["uid"], 1)]


async def test_a_one_shot_paused_past_its_time_fires_when_resumed(client: httpx.AsyncClient) -> None:
    identity = await create_identity(client, "Late Riser")
    at = utcnow() + timedelta(seconds=4)  # room to pause it first, even on a busy machine
    schedule = (await client.post(SCHEDULE, json=body(identity["uid"], schedule_at=iso_z(at)))).json()
    paused = await client.post(f"/v1/schedules/{schedule['uid']}/pause")
    assert paused.json()["status"] == "PAUSED"
    await asyncio.sleep(max((at - utcnow()).total_seconds(), 0) + 2.5)  # its time (and lead) has passed
    assert await get(client, f"/v1/schedules/{schedule['uid']}/runs") == []
    resumed = await client.post(f"/v1/schedules/{schedule['uid']}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "ACTIVE"

    async def made_run() -> list[Any] | None:
        return await get(client, f"/v1/schedules/{schedule['uid']}/runs") or None

    [run] = await eventually(made_run, "the resumed one-shot's run")
    assert run["execution_mode"] == "SCHEDULED" and run["schedule_uid"] == schedule["uid"]


async def test_pause_resume_and_cancel(
    client: httpx.AsyncClient, new_workspace: CreatedWorkspace, temporal_client: Client
) -> None:
    identity = await create_identity(client, "Switchable")
    schedule = (await client.post(SCHEDULE, json=body(identity["uid"], cron="*/5 * * * *"))).json()
    uid = schedule["uid"]
    handle = temporal_client.get_schedule_handle(f"schedule:{uid}")

    paused = await client.post(f"/v1/schedules/{uid}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "PAUSED"
    assert paused.json()["next_execution_at"] is None

    async def temporal_paused(expected: bool) -> bool:
        # Temporal applies a pause to its scheduler asynchronously: a describe right after may lag.
        return (await handle.describe()).schedule.state.paused == expected

    await eventually(lambda: temporal_paused(True), "Temporal to pause the schedule")
    again = await client.post(f"/v1/schedules/{uid}/pause")
    assert again.status_code == 200 and again.json()["status"] == "PAUSED"

    # A firing that reaches a paused schedule (a manual trigger) makes no run.
    await handle.trigger()

    async def fired_once() -> str | None:
        actions = (await handle.describe()).info.recent_actions
        if not actions:
            return None
        started = actions[-1].action
        assert isinstance(started, ScheduleActionExecutionStartWorkflow)
        return started.workflow_id

    fire_id = await eventually(fired_once, "the manual firing")
    assert await temporal_client.get_workflow_handle(fire_id).result() == "INACTIVE"
    assert await get(client, f"/v1/schedules/{uid}/runs") == []

    resumed = await client.post(f"/v1/schedules/{uid}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "ACTIVE"
    assert resumed.json()["next_execution_at"] is not None
    await eventually(lambda: temporal_paused(False), "Temporal to resume the schedule")
    assert (await client.post(f"/v1/schedules/{uid}/resume")).json()["status"] == "ACTIVE"
    # Resuming renewed the armed instants; what the schedule starts is intact (its search attributes, and
    # an argument the worker still reads: a firing now makes a run).
    action = (await handle.describe()).schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.typed_search_attributes.get(sa.WORKSPACE) == new_workspace.workspace_uid
    await handle.trigger()

    async def made_run() -> list[Any] | None:
        return await get(client, f"/v1/schedules/{uid}/runs") or None

    await eventually(made_run, "a run from the resumed schedule")

    cancelled = await client.post(f"/v1/schedules/{uid}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    assert cancelled.json()["next_execution_at"] is None
    assert not await temporal_schedule_exists(temporal_client, uid)
    assert_error(await client.post(f"/v1/schedules/{uid}/resume"), 409, "CONFLICT")
    assert_error(await client.post(f"/v1/schedules/{uid}/pause"), 409, "CONFLICT")
    assert (await client.post(f"/v1/schedules/{uid}/cancel")).json()["status"] == "CANCELLED"
    assert_error(await client.post(f"/v1/schedules/{uuid.uuid4()}/pause"), 404, "NOT_FOUND")
    assert (await get(client, "/v1/schedules?status=CANCELLED"))[0]["uid"] == uid


async def test_a_firing_renews_the_armed_window_when_half_gone_and_keeps_a_pause(
    client: httpx.AsyncClient, engine: Engine, temporal_client: Client
) -> None:
    identity = await create_identity(client, "Long Runner")
    uid = (await client.post(SCHEDULE, json=body(identity["uid"], cron="0 9 * * *"))).json()["uid"]
    assert (await client.post(f"/v1/schedules/{uid}/pause")).json()["status"] == "PAUSED"
    # As if the window had been armed long ago and was about to run out.
    long_ago = utcnow() - timedelta(days=40)
    with session_scope(engine) as session:
        row = session.get(Schedule, uid)
        assert row is not None
        row.armed_at, row.armed_until = long_ago, long_ago + timedelta(days=35)
        session.add(row)
    handle = temporal_client.get_schedule_handle(f"schedule:{uid}")
    await handle.trigger()  # a firing (paused: it makes no run, but it renews the window)

    def armed_until() -> datetime | None:
        with Session(engine) as session:
            stored = session.get(Schedule, uid)
            assert stored is not None
            return stored.armed_until

    async def renewed() -> datetime | None:
        until = armed_until()
        return until if until is not None and until > utcnow() + timedelta(days=30) else None

    await eventually(renewed, "the firing to renew the window")
    described = await handle.describe()
    assert described.schedule.state.paused  # the renewal carried the pause along
    instants = [
        datetime(c.year[0].start, c.month[0].start, d, h, 0, tzinfo=UTC)
        for c in described.schedule.spec.calendars
        for d in range(c.day_of_month[0].start, c.day_of_month[-1].end + 1)
        for h in [c.hour[0].start]
    ]
    assert min(instants) > utcnow() and max(instants) > utcnow() + timedelta(days=30)
    assert await get(client, f"/v1/schedules/{uid}/runs") == []


async def test_deleting_an_identity_cancels_its_schedules(
    client: httpx.AsyncClient, temporal_client: Client
) -> None:
    doomed = await create_identity(client, "Leaving")
    kept = await create_identity(client, "Staying")
    mine = (await client.post(SCHEDULE, json=body(doomed["uid"], cron="0 9 * * *"))).json()
    theirs = (await client.post(SCHEDULE, json=body(kept["uid"], cron="0 9 * * *"))).json()
    assert (await client.delete(f"/v1/identities/{doomed['uid']}")).status_code == 204
    assert (await get(client, f"/v1/schedules/{mine['uid']}"))["status"] == "CANCELLED"
    assert not await temporal_schedule_exists(temporal_client, mine["uid"])
    assert (await get(client, f"/v1/schedules/{theirs['uid']}"))["status"] == "ACTIVE"
    assert await temporal_schedule_exists(temporal_client, theirs["uid"])
