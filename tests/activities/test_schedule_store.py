"""A firing becomes a run at most once per nominal local time (activities/schedule_store.py), on the real
database: the DST rule's de-duplication for both 2026 changes in Europe/Berlin, and retries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from activities.schedule_store import finish, fire, fire_key
from api.run_service import normalize_inputs
from api.schedule_bodies import ScheduleRunBody
from api.schedule_service import create_schedule
from db.engine import session_scope
from db.models import Run, RunIdentity, RunInput, Schedule
from edgewise.catalog import CATALOG
from edgewise.crypto import Keyring
from edgewise.workspaces import create_workspace

SPEC = CATALOG["linkedin-extract-people"]
# The database alone is under test here: no Temporal, sandbox or API (the session's keyring fixture would
# start them), so a keyring of its own and a workspace per test.
KEYRING = Keyring((b"s" * 32,))


@pytest.fixture
def keyring() -> Keyring:
    return KEYRING


@pytest.fixture
def workspace_uid(engine: Engine) -> str:
    return create_workspace(engine, KEYRING, f"dst-{uuid.uuid4().hex[:6]}", "admin@dst.test").workspace_uid


PROFILES = [f"https://www.linkedin.com/in/dst-{n}" for n in range(3)]


def new_schedule(engine: Engine, keyring: Keyring, workspace_uid: str, **fields: object) -> Schedule:
    raw = {
        "inputs": [{"linkedin_profile_url": p, "custom_data": {"n": i}} for i, p in enumerate(PROFILES)]
        + [{"linkedin_profile_url": PROFILES[0] + "/"}],  # the same person again
        "identity_mode": "auto",
        "callback": {"url": "https://hooks.example.test/x", "headers": {"X-Secret": "s3cret"}},
        **fields,
    }
    body = ScheduleRunBody.model_validate(raw)
    with session_scope(engine) as session:
        schedule = create_schedule(
            session,
            keyring,
            workspace_uid=workspace_uid,
            spec=SPEC,
            mode="auto",
            body=body,
            identity_ids=[],
            parameters={},
            inputs=normalize_inputs(SPEC, body.inputs),
            callback_url=body.callback.url if body.callback else None,
        )
        session.expunge(schedule)
        return schedule


def runs_of(engine: Engine, schedule_uid: str) -> list[Run]:
    with Session(engine) as session:
        return list(session.exec(select(Run).where(Run.schedule_uid == schedule_uid)).all())


def utc(*parts: int) -> datetime:
    year, month, day, hour, minute = parts
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_the_repeated_0230_of_2026_10_25_makes_one_run(
    engine: Engine, keyring: Keyring, workspace_uid: str
) -> None:
    schedule = new_schedule(engine, keyring, workspace_uid, cron="30 2 * * *", timezone="Europe/Berlin")
    first = fire(engine, keyring, schedule.uid, utc(2026, 10, 25, 0, 30))  # 02:30 CEST
    assert first.outcome == "FIRED" and first.run is not None
    retried = fire(engine, keyring, schedule.uid, utc(2026, 10, 25, 0, 30))  # the same activity, retried
    assert retried.outcome == "FIRED" and retried.run is not None and retried.run.uid == first.run.uid
    assert finish(engine, schedule.uid, first.run.uid, None) is False
    second = fire(engine, keyring, schedule.uid, utc(2026, 10, 25, 1, 30))  # 02:30 CET: the same wall time
    assert second.outcome == "DUPLICATE" and second.run is None
    assert [r.uid for r in runs_of(engine, schedule.uid)] == [first.run.uid]


def test_the_missing_0230_of_2026_03_29_fires_as_itself(
    engine: Engine, keyring: Keyring, workspace_uid: str
) -> None:
    schedule = new_schedule(engine, keyring, workspace_uid, cron="30 2 * * *", timezone="Europe/Berlin")
    assert fire_key(schedule, utc(2026, 3, 29, 1, 30)) == "2026-03-29T02:30:00"  # fired at 03:30 CEST
    fired = fire(engine, keyring, schedule.uid, utc(2026, 3, 29, 1, 30))
    assert fired.outcome == "FIRED" and fired.run is not None
    with Session(engine) as session:
        run = session.get(Run, fired.run.uid)
        assert run is not None
        assert (run.execution_mode, run.status, run.schedule_uid) == ("SCHEDULED", "QUEUED", schedule.uid)
        assert (run.inputs_count, run.inputs_total, run.identity_mode) == (4, 3, "auto")
        assert run.callback_headers_enc is not None
        # Re-sealed for the run (its uid is the associated data), never copied as is.
        assert keyring.decrypt_json(run.callback_headers_enc, associated=run.uid) == {"X-Secret": "s3cret"}
        rows = session.exec(
            select(RunInput).where(RunInput.run_uid == run.uid).order_by(col(RunInput.index))
        ).all()
        assert [r.input["linkedin_profile_url"] for r in rows] == PROFILES
        assert [r.custom_data for r in rows] == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert all(r.status == "QUEUED" for r in rows)
        assert session.exec(select(RunIdentity).where(RunIdentity.run_uid == run.uid)).all() == []
        stored = session.get(Schedule, schedule.uid)
        assert stored is not None and stored.runs_count == 1 and stored.current_run_uid == run.uid


def test_a_firing_while_the_last_run_is_unfinished_is_skipped_and_a_paused_schedule_makes_no_run(
    engine: Engine, keyring: Keyring, workspace_uid: str
) -> None:
    schedule = new_schedule(engine, keyring, workspace_uid, cron="0 * * * *")
    first = fire(engine, keyring, schedule.uid, utc(2026, 12, 4, 9, 0))
    assert first.outcome == "FIRED" and first.run is not None
    assert fire(engine, keyring, schedule.uid, utc(2026, 12, 4, 10, 0)).outcome == "SKIPPED"
    with session_scope(engine) as session:
        run = session.get(Run, first.run.uid)
        assert run is not None
        run.status = "SUCCEEDED"
        session.add(run)
    assert fire(engine, keyring, schedule.uid, utc(2026, 12, 4, 11, 0)).outcome == "FIRED"
    with session_scope(engine) as session:
        stored = session.get(Schedule, schedule.uid)
        assert stored is not None and (stored.runs_count, stored.skipped_local) == (2, 1)
        stored.status = "PAUSED"
        session.add(stored)
    assert fire(engine, keyring, schedule.uid, utc(2026, 12, 4, 12, 0)).outcome == "INACTIVE"
    assert len(runs_of(engine, schedule.uid)) == 2


def test_a_one_shot_fires_once_whatever_starts_it_and_completes_with_its_run(
    engine: Engine, keyring: Keyring, workspace_uid: str
) -> None:
    schedule = new_schedule(engine, keyring, workspace_uid, schedule_at="2031-05-01T08:00:00+02:00")
    fired = fire(engine, keyring, schedule.uid, utc(2031, 5, 1, 6, 0))
    assert fired.outcome == "FIRED" and fired.run is not None
    assert (
        fire(engine, keyring, schedule.uid, utc(2031, 5, 1, 6, 1)).outcome == "DUPLICATE"
    )  # a manual trigger
    assert finish(engine, schedule.uid, fired.run.uid, 0) is True
    with Session(engine) as session:
        stored = session.get(Schedule, schedule.uid)
        assert stored is not None and stored.status == "COMPLETED" and stored.current_run_uid is None
    assert fire(engine, keyring, "no-such-schedule", utc(2031, 5, 1, 6, 0)).outcome == "MISSING"
