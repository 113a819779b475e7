"""Database work of action runs (sync SQLModel; activities call it through asyncio.to_thread).

Claiming is atomic per input (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises),
and each step's outputs, ledger row and paging progress commit together, so a retried activity never
duplicates an output or a ledger row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from db.engine import session_scope
from db.models import Identity, Integration, LedgerEntry, Run, RunInput, RunOutput, Workspace
from edgewise.runstate import derive_run_status, inputs_done
from edgewise.timeutil import utcnow


def ledger_token(run_input_uid: str, page_state: dict[str, Any] | None) -> str:
    """One ledger row per executed step: the page state before the step names the step."""
    basis = json.dumps(page_state, sort_keys=True) if page_state else "first"
    return hashlib.sha256(f"{run_input_uid}:{basis}".encode()).hexdigest()


def write_token(run_input_uid: str) -> str:
    """LinkedIn's originToken for this input's write: the same on every retry → exactly one write."""
    return f"ew-{run_input_uid}"


@dataclass
class ClaimedInput:
    uid: str
    index: int
    input: dict[str, Any]
    custom_data: dict[str, Any] | None
    page_state: dict[str, Any] | None
    output_count: int


@dataclass
class Lane:
    """Who executes a run's inputs: an identity and its VALID integration (None when not usable)."""

    identity_uid: str
    integration_uid: str | None
    linkedin_profile_id: int | None
    level: str | None
    status: str | None  # the integration's status, or None without one


@dataclass
class StepWrite:
    """What one executed step writes."""

    input_uid: str
    page_state_before: dict[str, Any] | None
    outputs: list[dict[str, Any]]
    next_page_state: dict[str, Any] | None
    finished: bool
    usage: dict[str, int]
    results: int
    warnings: list[dict[str, Any]] = field(default_factory=list)


def load_run(engine: Engine, run_uid: str) -> Run | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.get(Run, run_uid)


def lane_for(engine: Engine, identity_uid: str) -> Lane:
    with Session(engine) as session:
        return lane_in(session, identity_uid)


def lane_in(session: Session, identity_uid: str) -> Lane:
    integration = session.exec(
        select(Integration).where(
            Integration.identity_uid == identity_uid, col(Integration.deleted_at).is_(None)
        )
    ).first()
    if integration is None:
        return Lane(identity_uid, None, None, None, None)
    return Lane(
        identity_uid,
        integration.uid,
        integration.linkedin_profile_id,
        integration.level,
        integration.status,
    )


# --- a live page: two transactions around the LinkedIn call (each commit is a round trip and, on SQLite, an
# fsync — the live path is latency-bound, so it does not spend one per step) ---------------------------------


def start_live_page(engine: Engine, run_uid: str) -> tuple[Run | None, ClaimedInput | None, Lane | None]:
    """The run, its one input claimed for this call (None: an earlier attempt executed it) and its lane."""
    with session_scope(engine) as session:
        run = session.get(Run, run_uid)
        if run is None:
            return None, None, None
        identity_uid = run.identity_ids[0]
        claimed = claim_inputs_in(session, run_uid, identity_uid, f"live:{run_uid}", 1)
        lane = lane_in(session, identity_uid)
        session.expunge(run)
        return run, (claimed[0] if claimed else None), lane


def finish_live_page(
    engine: Engine,
    run: Run,
    lane: Lane,
    credit_multiplier: float,
    credit_ratio: float,
    write: StepWrite,
    next_page_state: dict[str, Any] | None,
    next_produced: int,
) -> tuple[str, list[dict[str, Any]]]:
    """Record the page, remember where the next one starts; returns the run's status and the output rows
    inserted (none when an earlier attempt recorded this page already)."""
    with session_scope(engine) as session:
        inserted = record_steps_in(
            session,
            run,
            lane.identity_uid,
            lane.linkedin_profile_id,
            credit_multiplier,
            credit_ratio,
            [write],
        )
        fresh = session.get(Run, run.uid)
        if fresh is not None:
            fresh.live_page = {
                **(fresh.live_page or {}),
                "next_page_state": next_page_state,
                "next_produced": next_produced,
            }
            session.add(fresh)
        status, _ = refresh_run_in(session, run.uid, starting=True)
        return status, inserted


def lanes_for_run(engine: Engine, run: Run) -> list[Lane]:
    """The identities a run may use: its identity_ids, or (auto) every identity with a VALID integration,
    or (managed) every account of the platform's pool with a VALID integration of the action's level."""
    if run.identity_mode == "managed" and run.execution_mode != "LIVE":
        from edgewise.catalog import CATALOG
        from edgewise.managed import pool_identity_uids

        with Session(engine) as session:
            managed = pool_identity_uids(session, CATALOG[run.action_name].required_level)
        return [lane_for(engine, uid) for uid in managed]
    if run.identity_mode == "auto" and not run.identity_ids:
        with Session(engine) as session:
            rows = session.exec(
                select(Integration.identity_uid)
                .join(Identity, col(Identity.uid) == col(Integration.identity_uid))
                .where(
                    Integration.workspace_uid == run.workspace_uid,
                    Integration.status == "VALID",
                    col(Integration.deleted_at).is_(None),
                    col(Identity.deleted_at).is_(None),
                )
            ).all()
        identity_uids = sorted(set(rows))
    else:
        identity_uids = list(run.identity_ids)
    return [lane_for(engine, uid) for uid in identity_uids]


def claim_inputs(
    engine: Engine, run_uid: str, identity_uid: str, batch_uid: str, limit: int
) -> list[ClaimedInput]:
    """This batch's inputs: first those it already claimed (a retried activity), then new QUEUED ones."""
    with session_scope(engine) as session:
        return claim_inputs_in(session, run_uid, identity_uid, batch_uid, limit)


def claim_inputs_in(
    session: Session, run_uid: str, identity_uid: str, batch_uid: str, limit: int
) -> list[ClaimedInput]:
    """`claim_inputs` inside the caller's transaction."""
    now = utcnow()
    mine = session.exec(
        select(RunInput)
        .where(RunInput.run_uid == run_uid, RunInput.batch_uid == batch_uid, RunInput.status == "RUNNING")
        .order_by(col(RunInput.id))
    ).all()
    claimed = list(mine)
    if len(claimed) < limit:
        query = (
            select(RunInput)
            .where(
                RunInput.run_uid == run_uid,
                RunInput.status == "QUEUED",
                (col(RunInput.identity_uid).is_(None)) | (RunInput.identity_uid == identity_uid),
            )
            .order_by(col(RunInput.id))
            .limit(limit - len(claimed))
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        fresh = session.exec(query).all()
        for row in fresh:
            row.status = "RUNNING"
            row.batch_uid = batch_uid
            row.identity_uid = identity_uid
            row.postponed_until = None
            session.add(row)
        claimed.extend(fresh)
    if claimed:
        # The run shows RUNNING from the moment an input runs (not only when the batch ends).
        session.execute(
            update(Run)
            .where(col(Run.uid) == run_uid, col(Run.stopped).is_(False))
            .values(status="RUNNING", updated_at=now)
        )
        session.execute(
            update(Run).where(col(Run.uid) == run_uid, col(Run.started_at).is_(None)).values(started_at=now)
        )
    return [
        ClaimedInput(r.uid, r.index, dict(r.input), r.custom_data, r.page_state, r.output_count)
        for r in claimed
    ]


def count_assignable(engine: Engine, run_uid: str, identity_uid: str) -> int:
    with Session(engine) as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(RunInput)
                .where(
                    RunInput.run_uid == run_uid,
                    RunInput.status == "QUEUED",
                    (col(RunInput.identity_uid).is_(None)) | (RunInput.identity_uid == identity_uid),
                )
            ).one()
        )


def record_steps(
    engine: Engine,
    run: Run,
    identity_uid: str,
    linkedin_profile_id: int | None,
    credit_multiplier: float,
    credit_ratio: float,
    steps: list[StepWrite],
) -> None:
    """Commit several steps at once: outputs, ledger rows, paging progress, input completion, counters."""
    if not steps:
        return
    with session_scope(engine) as session:
        record_steps_in(
            session, run, identity_uid, linkedin_profile_id, credit_multiplier, credit_ratio, steps
        )


def record_steps_in(
    session: Session,
    run: Run,
    identity_uid: str,
    linkedin_profile_id: int | None,
    credit_multiplier: float,
    credit_ratio: float,
    steps: list[StepWrite],
) -> list[dict[str, Any]]:
    """`record_steps` inside the caller's transaction; returns the output rows it inserted."""
    if not steps:
        return []
    now = utcnow()
    total_outputs = 0
    total_cents = 0
    finished = 0
    # In bulk: one query for the rows, one for the steps already recorded, one insert per table.
    tokens = [ledger_token(step.input_uid, step.page_state_before) for step in steps]
    rows = {
        r.uid: r
        for r in session.exec(
            select(RunInput).where(col(RunInput.uid).in_({step.input_uid for step in steps}))
        ).all()
    }
    recorded = set(
        session.exec(
            select(LedgerEntry.idempotency_token).where(col(LedgerEntry.idempotency_token).in_(tokens))
        )
    )
    output_rows: list[dict[str, Any]] = []
    ledger_rows: list[dict[str, Any]] = []
    for step, token in zip(steps, tokens, strict=True):
        if token in recorded:
            continue  # already recorded by an earlier attempt
        recorded.add(token)
        row = rows[step.input_uid]
        output_rows.extend(
            {
                "run_uid": run.uid,
                "run_input_uid": step.input_uid,
                "seq": row.output_count + i,
                "identity_uid": identity_uid,
                "data": output,
                "custom_data": row.custom_data,
                "extracted_at": now,
            }
            for i, output in enumerate(step.outputs)
        )
        cents = round(credit_ratio * step.results * credit_multiplier * 100)
        ledger_rows.append(
            {
                "idempotency_token": token,
                "workspace_uid": run.workspace_uid,
                "identity_uid": identity_uid,
                "linkedin_profile_id": linkedin_profile_id,
                "run_uid": run.uid,
                "run_input_uid": step.input_uid,
                "action_name": run.action_name,
                "buckets": {k: v for k, v in step.usage.items() if v},
                "results": step.results,
                "credits_cents": cents,
                "at": now,
            }
        )
        row.output_count += len(step.outputs)
        row.page_state = step.next_page_state
        row.started_at = row.started_at or now
        if step.finished:
            row.status = "SUCCEEDED"
            row.finished_at = now
            row.batch_uid = None
            finished += 1
        session.add(row)
        total_outputs += len(step.outputs)
        total_cents += cents
        if step.warnings:
            _add_warnings(session, run.uid, step.warnings)
    if output_rows:
        session.execute(insert(RunOutput), output_rows)
    if ledger_rows:
        session.execute(insert(LedgerEntry), ledger_rows)
    session.execute(
        update(Run)
        .where(col(Run.uid) == run.uid)
        .values(
            output_count=Run.output_count + total_outputs,
            inputs_done=Run.inputs_done + finished,
            credits_used_cents=Run.credits_used_cents + total_cents,
            updated_at=now,
        )
    )
    if total_cents:
        session.execute(
            update(Workspace)
            .where(col(Workspace.uid) == run.workspace_uid)
            .values(credits_used_cents=Workspace.credits_used_cents + total_cents)
        )
    return output_rows


def _add_warnings(session: Session, run_uid: str, warnings: list[dict[str, Any]]) -> None:
    run = session.get(Run, run_uid)
    if run is None:
        return
    labels = {w.get("label") for w in run.warnings}
    new = [w for w in warnings if w.get("label") not in labels]
    if new:
        run.warnings = [*run.warnings, *new]
        session.add(run)


def finish_input(engine: Engine, input_uid: str, status: str, error: dict[str, Any] | None = None) -> None:
    with session_scope(engine) as session:
        row = session.exec(select(RunInput).where(RunInput.uid == input_uid)).one()
        newly_done = status in ("SUCCEEDED", "FAILED") and row.status not in ("SUCCEEDED", "FAILED")
        row.status = status
        row.error = error
        row.batch_uid = None
        if status in ("SUCCEEDED", "FAILED"):
            row.finished_at = utcnow()
            row.started_at = row.started_at or row.finished_at
        session.add(row)
        if newly_done:
            # Progress is visible at once (GET …/status); refresh_run recomputes it exactly at batch ends.
            session.execute(
                update(Run).where(col(Run.uid) == row.run_uid).values(inputs_done=Run.inputs_done + 1)
            )


def release_batch(
    engine: Engine,
    run_uid: str,
    batch_uid: str,
    status: str,
    postponed_until: datetime | None = None,
    error: dict[str, Any] | None = None,
) -> int:
    """Hand a batch's unfinished inputs back (QUEUED), or hold them (BLOCKED / SCHEDULED)."""
    values = {"status": status, "batch_uid": None, "postponed_until": postponed_until, "error": error}
    return _update_held(engine, run_uid, batch_uid, values)


def _update_held(engine: Engine, run_uid: str, batch_uid: str, values: dict[str, Any]) -> int:
    """Set `values` on the inputs this batch still holds (RUNNING); how many there were."""
    with session_scope(engine) as session:
        result = session.execute(
            update(RunInput)
            .where(
                col(RunInput.run_uid) == run_uid,
                col(RunInput.batch_uid) == batch_uid,
                col(RunInput.status) == "RUNNING",
            )
            .values(values)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def fail_batch(engine: Engine, run_uid: str, batch_uid: str, error: dict[str, Any]) -> int:
    """The inputs a failed batch still holds (RUNNING) end FAILED with `error`."""
    now = utcnow()
    values = {
        "status": "FAILED",
        "batch_uid": None,
        "error": error,
        "finished_at": now,
        "started_at": func.coalesce(RunInput.started_at, now),
    }
    return _update_held(engine, run_uid, batch_uid, values)


def block_unassignable(engine: Engine, run_uid: str, identity_uids: list[str], error: dict[str, Any]) -> int:
    """Inputs that only these (unusable) identities could run go BLOCKED."""
    with session_scope(engine) as session:
        result = session.execute(
            update(RunInput)
            .where(
                col(RunInput.run_uid) == run_uid,
                col(RunInput.status) == "QUEUED",
                col(RunInput.identity_uid).in_(identity_uids) | col(RunInput.identity_uid).is_(None),
            )
            .values(status="BLOCKED", error=error)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def status_counts(session: Session, run_uid: str) -> dict[str, int]:
    rows = session.exec(
        select(RunInput.status, func.count()).where(RunInput.run_uid == run_uid).group_by(RunInput.status)
    ).all()
    return {status: int(n) for status, n in rows}


def refresh_run(engine: Engine, run_uid: str, *, starting: bool = False) -> tuple[str, dict[str, int]]:
    """Recompute the run's derived fields from its inputs; returns (status, counts)."""
    with session_scope(engine) as session:
        return refresh_run_in(session, run_uid, starting=starting)


def refresh_run_in(session: Session, run_uid: str, *, starting: bool = False) -> tuple[str, dict[str, int]]:
    """`refresh_run` inside the caller's transaction."""
    now = utcnow()
    run = session.get(Run, run_uid)
    if run is None:
        return "GONE", {}
    counts = status_counts(session, run_uid)
    status = derive_run_status(counts, stopped=run.stopped)
    run.status = status
    run.inputs_done = inputs_done(counts)
    if starting and run.started_at is None:
        run.started_at = now
    if status == "SCHEDULED":
        run.postponed_until = session.exec(
            select(func.min(RunInput.postponed_until)).where(
                RunInput.run_uid == run_uid, RunInput.status == "SCHEDULED"
            )
        ).one()
    else:
        run.postponed_until = None
    if status in ("SUCCEEDED", "FAILED", "PARTIAL_SUCCEEDED"):
        run.finished_at = run.finished_at or now
        if status == "FAILED" and run.last_error is None:
            failed = session.exec(
                select(RunInput.error)
                .where(RunInput.run_uid == run_uid, RunInput.status == "FAILED")
                .limit(1)
            ).first()
            run.last_error = dict(failed) if failed else None
    run.updated_at = now
    session.add(run)
    return status, counts


def requeue_orphans(engine: Engine, run_uid: str) -> int:
    """Inputs left RUNNING by a batch that gave up (no lane is active when a run is planned): back to QUEUED.
    Their paging progress is kept, so nothing already recorded is fetched or sent twice."""
    with session_scope(engine) as session:
        result = session.execute(
            update(RunInput)
            .where(col(RunInput.run_uid) == run_uid, col(RunInput.status) == "RUNNING")
            .values(status="QUEUED", batch_uid=None)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def is_stopped(engine: Engine, run_uid: str) -> bool:
    with Session(engine) as session:
        return bool(session.exec(select(Run.stopped).where(Run.uid == run_uid)).first())


def move_inputs(
    engine: Engine, run_uid: str, from_status: str, to_status: str, postponed_until: datetime | None
) -> int:
    """Move a run's inputs between QUEUED and SCHEDULED (postponed by a limit, hours or a cool-down)."""
    with session_scope(engine) as session:
        result = session.execute(
            update(RunInput)
            .where(col(RunInput.run_uid) == run_uid, col(RunInput.status) == from_status)
            .values(status=to_status, postponed_until=postponed_until)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
