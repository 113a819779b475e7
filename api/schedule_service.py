"""Schedules in the database: creating one (its inputs as rows), its JSON shape, the state changes of
pause/resume/cancel, and cancelling an identity's schedules when it is deleted (API.md §3, §6)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client

from api.schedule_bodies import ScheduleRunBody
from db.engine import session_scope
from db.models import Schedule, ScheduleInput, new_uid
from edgewise import schedules
from edgewise.catalog import ActionSpec, NormalizedInput
from edgewise.cron import next_firing, parse_cron
from edgewise.crypto import Keyring
from edgewise.errors import ApiError
from edgewise.timeutil import iso_z, utcnow

log = logging.getLogger("edgewise.api.schedules")

FINAL = ("CANCELLED", "COMPLETED")
_INPUT_CHUNK = 5000


def create_schedule(
    session: Session,
    keyring: Keyring,
    *,
    workspace_uid: str,
    spec: ActionSpec,
    mode: str,
    body: ScheduleRunBody,
    identity_ids: list[str],
    parameters: dict[str, Any],
    inputs: list[NormalizedInput],
    callback_url: str | None,
) -> Schedule:
    """Insert the schedule and its de-duplicated inputs (as an async run would store them) in the caller's
    transaction."""
    now = utcnow()
    schedule = Schedule(
        uid=new_uid(),
        workspace_uid=workspace_uid,
        name=body.name,
        action_name=spec.slug,
        status="ACTIVE",
        cron=body.cron,
        timezone=body.timezone,
        schedule_at=body.schedule_at,
        jitter_seconds=body.jitter_seconds,
        label=body.label,
        identity_mode=mode,
        identity_ids=identity_ids,
        parameters=parameters,
        inputs_count=len(inputs),
        created_at=now,
        updated_at=now,
    )
    if body.callback is not None:
        schedule.callback_url = callback_url
        schedule.callback_on = body.callback.on
        if body.callback.headers:
            schedule.callback_headers_enc = keyring.encrypt_json(
                body.callback.headers, associated=schedule.uid
            )
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    for index, item in enumerate(inputs):
        if spec.input_field is not None and item.target_key in seen:
            continue
        seen.add(item.target_key)
        rows.append(
            {
                "schedule_uid": schedule.uid,
                "index": index,
                "input": item.input,
                "target_key": item.target_key if spec.input_field is not None else f"self:{index}",
                "custom_data": item.custom_data,
            }
        )
    schedule.inputs_total = len(rows)
    session.add(schedule)
    session.flush()
    for start in range(0, len(rows), _INPUT_CHUNK):
        session.execute(insert(ScheduleInput), rows[start : start + _INPUT_CHUNK])
    return schedule


def next_execution_at(schedule: Schedule, now: datetime) -> datetime | None:
    """The nominal next firing (before jitter): none unless ACTIVE; a one-shot's until it has fired."""
    if schedule.status != "ACTIVE":
        return None
    if schedule.cron is None:
        return schedule.schedule_at if schedule.runs_count == 0 else None
    after = now
    if schedule.schedule_at is not None and schedule.schedule_at > now:
        after = schedule.schedule_at - timedelta(microseconds=1)  # the cron starts *at* schedule_at
    firing = next_firing(parse_cron(schedule.cron), schedule.timezone, after)
    return firing.at if firing is not None else None


def schedule_out(schedule: Schedule, now: datetime | None = None) -> dict[str, Any]:
    managed = schedule.identity_mode == "managed"
    return {
        "uid": schedule.uid,
        "name": schedule.name,
        "action_name": schedule.action_name,
        "status": schedule.status,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "schedule_at": iso_z(schedule.schedule_at),
        "jitter_seconds": schedule.jitter_seconds,
        "next_execution_at": iso_z(next_execution_at(schedule, now or utcnow())),
        "last_executed_at": iso_z(schedule.last_executed_at),
        "runs_count": schedule.runs_count,
        "skipped_count": schedule.skipped_temporal + schedule.skipped_local,
        "inputs_count": schedule.inputs_count,
        "identity_mode": schedule.identity_mode,
        # A managed schedule's accounts are the platform's: their uids stay internal (as for runs).
        "identity_ids": [] if managed else list(schedule.identity_ids),
        "parameters": schedule.parameters,
        "callback": {"url": schedule.callback_url, "on": schedule.callback_on}
        if schedule.callback_url
        else None,
        "created_at": iso_z(schedule.created_at),
        "updated_at": iso_z(schedule.updated_at),
    }


def get_schedule(session: Session, workspace_uid: str, uid: str, *, lock: bool = False) -> Schedule:
    query = select(Schedule).where(Schedule.uid == uid, Schedule.workspace_uid == workspace_uid)
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    schedule = session.exec(query).first()
    if schedule is None:
        raise ApiError("NOT_FOUND", f"no schedule {uid} in this workspace", params={"uid": uid})
    return schedule


# --- skipped firings, as Temporal counts them ----------------------------------------------------------


async def refresh_skips(client: Client | None, engine: Engine, rows: Sequence[Schedule]) -> None:
    """Temporal skips a firing while the previous run goes on, without telling anyone: for the schedules
    with a run in progress (only they can be skipping now), read its count and keep it. Best effort: with
    Temporal unreachable the stored count is shown."""
    busy = [s for s in rows if s.current_run_uid is not None]
    if client is None or not busy:
        return
    counts = await asyncio.gather(
        *(schedules.skipped_by_temporal(client, s.uid) for s in busy), return_exceptions=True
    )
    changed: dict[str, int] = {}
    for schedule, count in zip(busy, counts, strict=True):
        if isinstance(count, int) and count > schedule.skipped_temporal:
            schedule.skipped_temporal = count
            changed[schedule.uid] = count
    if changed:
        await asyncio.to_thread(_store_skips, engine, changed)


def _store_skips(engine: Engine, counts: dict[str, int]) -> None:
    with session_scope(engine) as session:
        for uid, count in counts.items():
            row = session.get(Schedule, uid)
            if row is not None and count > row.skipped_temporal:
                row.skipped_temporal = count
                session.add(row)


# --- identity deletion ------------------------------------------------------------------------------------


def _cancel_rows_of(engine: Engine, workspace_uid: str, identity_uid: str) -> list[str]:
    """Mark CANCELLED every unfinished schedule that runs as this identity."""
    cancelled: list[str] = []
    with session_scope(engine) as session:
        rows = session.exec(
            select(Schedule).where(
                Schedule.workspace_uid == workspace_uid, col(Schedule.status).not_in(FINAL)
            )
        ).all()
        now = utcnow()
        for schedule in rows:
            if identity_uid in schedule.identity_ids:
                schedule.status = "CANCELLED"
                schedule.updated_at = now
                session.add(schedule)
                cancelled.append(schedule.uid)
    return cancelled


async def cancel_for_identity(
    engine: Engine, client: Client | None, workspace_uid: str, identity_uid: str
) -> list[str]:
    """An identity was deleted: its schedules are cancelled (the rows first, so no firing makes a run even if
    Temporal cannot be reached now; their firings find them CANCELLED), then their Temporal Schedules go."""
    cancelled = await asyncio.to_thread(_cancel_rows_of, engine, workspace_uid, identity_uid)
    for uid in cancelled:
        if client is None:
            log.warning("Temporal unavailable: schedule %s cancelled in the database only", uid)
            continue
        try:
            await schedules.delete(client, uid)
        except Exception:  # the cancellation stands: firings of a CANCELLED schedule make no run
            log.exception("could not delete the Temporal schedule of %s", uid)
    return cancelled
