"""The Temporal side of a schedule: its Temporal Schedule `schedule:{uid}` — create, update (re-arm, pause,
resume), trigger, delete, and the firings Temporal skipped. Shared by the API (create, pause, resume, cancel)
and the firing activities (re-arm, skip count, delete a completed one-shot).

The Schedule starts `ScheduleFire` (workflows/schedule.py) at the instants edgewise computed
(edgewise/schedule_spec.py) with overlap SKIP (a firing while the previous run is unfinished is skipped and
counted), a catch-up window (after an outage at most one missed firing runs: SKIP drops the others) and the
caller's jitter. Its memo and search attributes say whose it is and what it runs, for the Temporal UI.

Every change after creation is one full update carrying the whole desired state — the armed instants *and*
paused or not, from the database row — never a pause/unpause patch. Measured on the dev server: an update
replaces the whole schedule, state included, and the SDK sends no conflict token, so a re-arm built from a
schedule read just before a pause undid that pause. Callers hold the schedule's row lock while they send,
so updates go out in the order the row changed and the last one sent is the one that stands. The database
status is what firings obey in any case (a firing of a paused row makes no run).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleState,
    ScheduleUpdate,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from edgewise.config import Settings
from edgewise.cron import parse_cron
from edgewise.schedule_spec import ArmPlan, build_spec, plan_cron, plan_once
from workflows import search_attributes as sa
from workflows.schedule import ScheduleFireInput, fire_workflow_id, schedule_id

log = logging.getLogger("edgewise.schedules")


class ScheduleLike(Protocol):
    """What this module reads of a schedule (db.models.Schedule)."""

    uid: str
    workspace_uid: str
    action_name: str
    identity_ids: list[str]
    cron: str | None
    timezone: str
    schedule_at: datetime | None
    jitter_seconds: int


# A one-shot due sooner than this is armed this far ahead instead: Temporal never fires an instant that has
# passed by the time its scheduler reads the schedule.
ONE_SHOT_LEAD = timedelta(seconds=2)


def plan_now(schedule: ScheduleLike, runs_count: int, now: datetime) -> ArmPlan:
    """The instants to arm now: the cron's next window (from `schedule_at` when that is later); a one-shot's
    instant (pushed to ONE_SHOT_LEAD from now if sooner); nothing that can still fire for a one-shot that has
    fired or whose time has passed (its one past instant: the caller triggers an overdue one itself)."""
    if schedule.cron is not None:
        start = schedule.schedule_at or now
        return plan_cron(parse_cron(schedule.cron), schedule.timezone, start, now)
    assert schedule.schedule_at is not None
    if runs_count or schedule.schedule_at <= now:
        return plan_once(schedule.schedule_at, now)
    return plan_once(max(schedule.schedule_at, now + ONE_SHOT_LEAD), now)


# Temporal refuses a calendar spec whose comment is longer than this many bytes ("comment is too long"); a
# cron may be up to 255 characters, so the comment shortens it rather than let a valid schedule be refused.
# (A cron and an IANA zone name are ASCII: characters are bytes here.)
MAX_COMMENT_CHARS = 200


def _comment(schedule: ScheduleLike) -> str:
    """What operators read next to the schedule in the Temporal UI; at most MAX_COMMENT_CHARS."""
    if schedule.cron is None:
        return "edgewise one-shot"
    suffix = f" in {schedule.timezone} (DST resolved by edgewise)"
    cron = schedule.cron
    room = MAX_COMMENT_CHARS - len("edgewise cron ''") - len(suffix)
    if len(cron) > room:
        cron = cron[: room - 3] + "..."
    return f"edgewise cron '{cron}'{suffix}"[:MAX_COMMENT_CHARS]


def _attributes(schedule: ScheduleLike) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.WORKSPACE, schedule.workspace_uid),
            SearchAttributePair(sa.IDENTITIES, list(schedule.identity_ids)),
            SearchAttributePair(sa.ACTION, schedule.action_name),
        ]
    )


def temporal_schedule(
    schedule: ScheduleLike, plan: ArmPlan, settings: Settings, *, paused: bool = False
) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            "ScheduleFire",
            ScheduleFireInput(schedule_uid=schedule.uid),
            id=fire_workflow_id(schedule.uid),
            task_queue=settings.temporal_task_queue,
            typed_search_attributes=_attributes(schedule),
            static_summary=f"{schedule.action_name} — edgewise schedule {schedule.uid}",
        ),
        spec=build_spec(plan, schedule.jitter_seconds, _comment(schedule)),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP,
            catchup_window=timedelta(seconds=settings.schedule_catchup_window_seconds),
        ),
        state=ScheduleState(note=_comment(schedule), paused=paused),
    )


async def create(
    client: Client, settings: Settings, schedule: ScheduleLike, plan: ArmPlan, *, paused: bool = False
) -> None:
    await client.create_schedule(
        schedule_id(schedule.uid),
        temporal_schedule(schedule, plan, settings, paused=paused),
        memo={"cron": schedule.cron, "timezone": schedule.timezone, "workspace_uid": schedule.workspace_uid},
        search_attributes=_attributes(schedule),
    )


async def apply(
    client: Client, settings: Settings, schedule: ScheduleLike, plan: ArmPlan, *, paused: bool
) -> None:
    """Make the Temporal Schedule what the row says (see the module docstring for why one full update). One
    Temporal lost (deleted by hand) is created again."""
    desired = temporal_schedule(schedule, plan, settings, paused=paused)
    try:
        await client.get_schedule_handle(schedule_id(schedule.uid)).update(
            lambda _current: ScheduleUpdate(schedule=desired)
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        await create(client, settings, schedule, plan, paused=paused)


async def trigger(client: Client, schedule_uid: str) -> None:
    await client.get_schedule_handle(schedule_id(schedule_uid)).trigger()


async def fire_if_missed(client: Client, schedule_uid: str) -> bool:
    """A one-shot armed a second or two ahead can be missed: Temporal never fires an instant that had passed
    when its scheduler took the schedule in (measured under load). If Temporal has neither fired it nor
    has it coming, fire it now (the firing's key `once` keeps it to one run). True if it fired it."""
    handle = client.get_schedule_handle(schedule_id(schedule_uid))
    info = (await handle.describe()).info
    if info.num_actions or info.next_action_times or info.running_actions:
        return False
    await handle.trigger()
    return True


async def delete(client: Client, schedule_uid: str) -> None:
    """Remove the Temporal Schedule (no more firings); already gone is fine. A firing in progress and its
    run go on: a run is stopped through its own route."""
    try:
        await client.get_schedule_handle(schedule_id(schedule_uid)).delete()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise


async def skipped_by_temporal(client: Client, schedule_uid: str) -> int | None:
    """How many firings Temporal skipped because the previous one was still running (None: no schedule)."""
    try:
        description = await client.get_schedule_handle(schedule_id(schedule_uid)).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return int(description.info.num_actions_skipped_overlap)
