"""Runs' work follows their integration's status (API.md §5, input state BLOCKED).

- `hold_work`: the integration stopped being VALID (expired, restricted): the waiting inputs only it can run
  go BLOCKED at once, so a run that sits idle (waiting on a limit's window, or between batches) shows why it
  does not progress — not only once a lane meets LinkedIn's refusal.
- `resume_blocked_work`: the integration is VALID again (a reconnect, a restriction lifted): its BLOCKED
  inputs go back to the queue and their run workflows are signalled `resume`, so the work carries on by
  itself, without a member resuming each run.

Whose inputs: those the identity claimed already (`identity_uid` set), and the unassigned ones of runs that
may use it — a run naming it (when holding: as its only identity, since others may still take them), or a
managed run when it is one of the platform pool's accounts. Candidate runs are found through the runs and
run_identities indexes, inputs through (run_uid, status). Idempotent; called from activities.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, or_, select
from temporalio.service import RPCError

from activities.deps import ActivityDeps
from activities.run_store import refresh_run
from db.engine import session_scope
from db.models import Identity, Integration, Run, RunIdentity, RunInput
from edgewise.managed import MANAGED_WORKSPACE_UID
from edgewise.runstate import TERMINAL_RUN_STATES
from workflows.contracts import run_workflow_id

log = logging.getLogger("edgewise.blocked_work")

_WAITING = ("QUEUED", "SCHEDULED")


def _identity_of(session: Session, integration_uid: str) -> Identity | None:
    integration = session.get(Integration, integration_uid)
    if integration is None or integration.deleted_at is not None:
        return None
    identity = session.get(Identity, integration.identity_uid)
    return identity if identity is not None and identity.deleted_at is None else None


def _candidate_runs(session: Session, identity: Identity) -> list[Run]:
    """Open async/scheduled runs this identity may work on (live runs never block: their input fails)."""
    may_use: list[Any] = [
        col(Run.uid).in_(select(RunIdentity.run_uid).where(RunIdentity.identity_uid == identity.uid)),
        # `auto` without identity_ids: any identity of the workspace (their inputs it claimed name it).
        (col(Run.identity_mode) == "auto") & (col(Run.workspace_uid) == identity.workspace_uid),
    ]
    if identity.workspace_uid == MANAGED_WORKSPACE_UID:
        may_use.append(col(Run.identity_mode) == "managed")
    return list(
        session.exec(
            select(Run).where(
                col(Run.stopped).is_(False),
                col(Run.execution_mode) != "LIVE",
                col(Run.status).not_in(list(TERMINAL_RUN_STATES)),
                or_(*may_use),
            )
        ).all()
    )


def _takes_unassigned(run: Run, identity: Identity, *, holding: bool) -> bool:
    if run.identity_mode == "managed":
        return not holding  # the pool's other accounts may still take them
    if holding:
        return run.identity_ids == [identity.uid]
    return identity.uid in run.identity_ids


def _move(
    engine: Engine,
    integration_uid: str,
    from_statuses: tuple[str, ...],
    to_status: str,
    error: dict[str, Any] | None,
) -> list[str]:
    """Move the identity's inputs in `from_statuses` to `to_status`; returns the runs touched (refreshed)."""
    holding = to_status == "BLOCKED"
    touched: list[str] = []
    with session_scope(engine) as session:
        identity = _identity_of(session, integration_uid)
        if identity is None:
            return []
        for run in _candidate_runs(session, identity):
            mine = col(RunInput.identity_uid) == identity.uid
            if _takes_unassigned(run, identity, holding=holding):
                mine = or_(mine, col(RunInput.identity_uid).is_(None))
            which = (
                col(RunInput.run_uid) == run.uid,
                col(RunInput.status).in_(from_statuses),
                mine,
            )
            if not session.exec(select(func.count()).select_from(RunInput).where(*which)).one():
                continue
            session.execute(
                update(RunInput)
                .where(*which)
                .values(status=to_status, error=error, postponed_until=None)
                .execution_options(synchronize_session=False)
            )
            touched.append(run.uid)
    for run_uid in touched:
        refresh_run(engine, run_uid)  # the run's derived status (BLOCKED, or QUEUED again) shows at once
    return touched


async def hold_work(deps: ActivityDeps, integration_uid: str, error: dict[str, Any]) -> list[str]:
    """The integration is no longer VALID: its waiting inputs go BLOCKED with `error`. Their run workflows
    need no signal: a lane that wakes finds nothing it can take, and the run waits for a resume."""
    return await asyncio.to_thread(_move, deps.engine, integration_uid, _WAITING, "BLOCKED", error)


async def resume_blocked_work(deps: ActivityDeps, integration_uid: str) -> list[str]:
    """The integration is VALID again: its BLOCKED inputs are queued and their runs told to go on."""
    run_uids = await asyncio.to_thread(_move, deps.engine, integration_uid, ("BLOCKED",), "QUEUED", None)
    for run_uid in run_uids:
        try:
            await deps.client.get_workflow_handle(run_workflow_id(run_uid)).signal("resume")
        except RPCError as exc:  # the run's workflow already ended: nothing waits for the signal
            log.warning("resume of run %s not delivered: %s", run_uid, exc.message)
    if run_uids:
        log.info("resumed %d run(s) blocked on integration %s", len(run_uids), integration_uid)
    return run_uids
