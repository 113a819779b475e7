"""What edgewise arms in a Temporal Schedule fires, per Temporal itself, exactly when the contract's DST
rule says — on the dev server (the time-skipping server has no Schedules). Temporal computes the matching
times of the real schedule; both 2026 changes in Europe/Berlin are checked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.workflowservice.v1 import ListScheduleMatchingTimesRequest
from temporalio.client import Client

from edgewise import schedules
from edgewise.config import Settings
from edgewise.cron import parse_cron
from edgewise.schedule_spec import plan_cron


@dataclass
class FakeSchedule:
    """The fields edgewise.schedules reads (a db.models.Schedule has them all)."""

    cron: str | None
    timezone: str
    uid: str = field(default_factory=lambda: f"dst-test-{uuid.uuid4()}")
    workspace_uid: str = "dst-test"
    action_name: str = "linkedin-extract-people"
    identity_ids: list[str] = field(default_factory=list)
    schedule_at: datetime | None = None
    jitter_seconds: int = 0


@pytest.fixture
async def created(temporal_client: Client) -> AsyncIterator[list[str]]:
    uids: list[str] = []
    yield uids
    for uid in uids:
        await schedules.delete(temporal_client, uid)


async def matching_times(client: Client, schedule_uid: str, start: datetime, end: datetime) -> list[datetime]:
    first, last = Timestamp(), Timestamp()
    first.FromDatetime(start)
    last.FromDatetime(end)
    answer = await client.workflow_service.list_schedule_matching_times(
        ListScheduleMatchingTimesRequest(
            namespace=client.namespace,
            schedule_id=f"schedule:{schedule_uid}",
            start_time=first,
            end_time=last,
        )
    )
    return [t.ToDatetime().replace(tzinfo=UTC) for t in answer.start_time]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # 02:30 does not exist on 2026-03-29: once, at the shifted instant 03:30 CEST.
        (datetime(2026, 3, 29, tzinfo=UTC), [datetime(2026, 3, 29, 1, 30, tzinfo=UTC)]),
        # 02:30 exists twice on 2026-10-25: once, at the first (02:30 CEST) — never at 01:30Z too.
        (datetime(2026, 10, 25, tzinfo=UTC), [datetime(2026, 10, 25, 0, 30, tzinfo=UTC)]),
    ],
)
async def test_temporal_fires_the_armed_schedule_once_per_nominal_local_time(
    temporal_client: Client, settings: Settings, created: list[str], day: datetime, expected: list[datetime]
) -> None:
    schedule = FakeSchedule(cron="30 2 * * *", timezone="Europe/Berlin")
    # Armed as if created a few days before the change (its instants are past now: nothing actually fires).
    armed_from = day - timedelta(days=3)
    plan = plan_cron(parse_cron("30 2 * * *"), schedule.timezone, armed_from, armed_from)
    await schedules.create(temporal_client, settings, schedule, plan)
    created.append(schedule.uid)
    on_the_day = await matching_times(
        temporal_client, schedule.uid, day - timedelta(hours=3), day + timedelta(hours=21)
    )
    assert on_the_day == expected
    # And around it, every other night at 02:30 local, whatever the offset.
    week = await matching_times(temporal_client, schedule.uid, armed_from, armed_from + timedelta(days=7))
    assert week == plan.instants[:7]
    assert len({t.astimezone(UTC).date() for t in week}) == 7
