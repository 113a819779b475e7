"""Database work of schedule firings (sync SQLModel; activities/schedules.py calls it through a thread).

A firing turns into a run in one transaction: the firing row (unique per schedule and nominal local time),
the Run (execution_mode SCHEDULED, `schedule_uid` set, the run uid derived from the firing so a retried
activity finds the same run), its identities and a copy of the schedule's inputs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from db.engine import session_scope
from db.models import Run, RunIdentity, RunInput, Schedule, ScheduleFiring, ScheduleInput, new_uid
from edgewise.cron import firing_at, parse_cron
from edgewise.crypto import Keyring
from edgewise.runstate import TERMINAL_RUN_STATES
from edgewise.schedule_spec import needs_rearm
from edgewise.timeutil import iso_z, utcnow

# Run uids of firings: uuid5(namespace, "{schedule_uid}:{fire_key}").
_RUN_NAMESPACE = uuid.UUID("6f1d3c2a-8e47-4b5a-9c13-2d7e4f6a8b90")
_COPY_CHUNK = 5000


@dataclass
class Fired:
    # FIRED, DUPLICATE, SKIPPED, INACTIVE or MISSING (no such schedule, or not committed yet)
    outcome: str
    run: Run | None = None


def fire_key(schedule: Schedule, nominal_at: datetime) -> str:
    """What a firing is de-duplicated on: `once` for a one-shot; the nominal local time of a cron firing
    (a wall time the clocks repeat is one key, whichever of its instants fires); any other instant (a
    manual trigger in Temporal's UI) is named by itself."""
    if schedule.cron is None:
        return "once"
    cron = parse_cron(schedule.cron)
    firing = firing_at(cron, schedule.timezone, nominal_at)
    if firing is not None:
        return firing.key
    # Not an instant edgewise armed. If its wall time is one the cron names (the second 02:30 of a night the
    # clocks go back, as Temporal's own calendar would fire it), it is that nominal time all the same.
    wall = nominal_at.astimezone(ZoneInfo(schedule.timezone)).replace(tzinfo=None)
    if wall.second == 0 and wall.microsecond == 0 and cron.matches(wall):
        return wall.isoformat(timespec="seconds")
    return f"at:{iso_z(nominal_at)}"


def locked(session: Session, schedule_uid: str) -> Schedule | None:
    """The schedule, locked against a concurrent firing or state change (SQLite: BEGIN IMMEDIATE does it)."""
    query = select(Schedule).where(Schedule.uid == schedule_uid)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.exec(query).first()


def _unfinished(session: Session, run_uid: str) -> bool:
    run = session.get(Run, run_uid)
    return run is not None and run.status not in TERMINAL_RUN_STATES


def fire(engine: Engine, keyring: Keyring, schedule_uid: str, nominal_at: datetime) -> Fired:
    now = utcnow()
    with session_scope(engine) as session:
        schedule = locked(session, schedule_uid)
        if schedule is None:
            return Fired("MISSING")
        key = fire_key(schedule, nominal_at)
        done = session.get(ScheduleFiring, (schedule_uid, key))
        if done is not None:
            if done.nominal_at == nominal_at:  # this very firing, retried: the run it already made
                return Fired("FIRED", session.get(Run, done.run_uid))
            return Fired("DUPLICATE")
        if schedule.status != "ACTIVE":
            return Fired("INACTIVE")
        if schedule.current_run_uid is not None and _unfinished(session, schedule.current_run_uid):
            # Temporal's overlap SKIP normally sees to this; this catches a firing that got past it (a
            # previous firing's workflow that ended while its run goes on).
            schedule.skipped_local += 1
            schedule.updated_at = now
            session.add(schedule)
            return Fired("SKIPPED")
        run = _create_run(
            session, keyring, schedule, str(uuid.uuid5(_RUN_NAMESPACE, f"{schedule_uid}:{key}"))
        )
        session.add(
            ScheduleFiring(schedule_uid=schedule_uid, fire_key=key, nominal_at=nominal_at, run_uid=run.uid)
        )
        schedule.runs_count += 1
        schedule.last_executed_at = now
        schedule.current_run_uid = run.uid
        schedule.updated_at = now
        session.add(schedule)
        session.flush()
        return Fired("FIRED", run)


def _create_run(session: Session, keyring: Keyring, schedule: Schedule, run_uid: str) -> Run:
    """An ordinary run from the schedule's stored body, as `run/async` would have made it."""
    now = utcnow()
    run = Run(
        uid=run_uid,
        workspace_uid=schedule.workspace_uid,
        action_name=schedule.action_name,
        execution_mode="SCHEDULED",
        status="QUEUED",
        label=schedule.label,
        identity_mode=schedule.identity_mode,
        identity_ids=list(schedule.identity_ids),
        parameters=dict(schedule.parameters),
        callback_url=schedule.callback_url,
        callback_on=schedule.callback_on,
        inputs_count=schedule.inputs_count,
        inputs_total=schedule.inputs_total,
        schedule_uid=schedule.uid,
        created_at=now,
        updated_at=now,
    )
    if schedule.callback_headers_enc is not None:
        # Encrypted with the schedule's uid as associated data; a run's are bound to the run's uid.
        headers = keyring.decrypt_json(schedule.callback_headers_enc, associated=schedule.uid)
        run.callback_headers_enc = keyring.encrypt_json(headers, associated=run.uid)
    session.add(run)
    session.flush()
    if schedule.identity_mode != "managed":
        for identity_uid in schedule.identity_ids:
            session.add(RunIdentity(run_uid=run.uid, identity_uid=identity_uid))
    _copy_inputs(session, schedule.uid, run.uid)
    return run


def _copy_inputs(session: Session, schedule_uid: str, run_uid: str) -> None:
    after = 0
    while True:
        chunk = session.exec(
            select(ScheduleInput)
            .where(ScheduleInput.schedule_uid == schedule_uid, col(ScheduleInput.id) > after)
            .order_by(col(ScheduleInput.id))
            .limit(_COPY_CHUNK)
        ).all()
        if not chunk:
            return
        rows: list[dict[str, Any]] = [
            {
                "uid": new_uid(),
                "run_uid": run_uid,
                "index": item.index,
                "status": "QUEUED",
                "input": item.input,
                "target_key": item.target_key,
                "custom_data": item.custom_data,
                "identity_uid": None,
            }
            for item in chunk
        ]
        session.execute(insert(RunInput), rows)
        after = int(chunk[-1].id or 0)


def finish(engine: Engine, schedule_uid: str, run_uid: str, skipped_temporal: int | None) -> bool:
    """The firing's run ended: no run in progress any more; a one-shot is COMPLETED (returns True then)."""
    with session_scope(engine) as session:
        schedule = locked(session, schedule_uid)
        if schedule is None:
            return False
        if schedule.current_run_uid == run_uid:
            schedule.current_run_uid = None
        if skipped_temporal is not None and skipped_temporal > schedule.skipped_temporal:
            schedule.skipped_temporal = skipped_temporal
        completed = schedule.cron is None and schedule.status in ("ACTIVE", "PAUSED")
        if completed:
            schedule.status = "COMPLETED"
        schedule.updated_at = utcnow()
        session.add(schedule)
        return completed


def rearm_due(schedule: Schedule, now: datetime) -> bool:
    """A live cron schedule whose armed window is half gone (edgewise/schedule_spec.py)."""
    return (
        schedule.cron is not None
        and schedule.status in ("ACTIVE", "PAUSED")
        and needs_rearm(schedule.armed_at, schedule.armed_until, now)
    )
