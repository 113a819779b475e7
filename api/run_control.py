"""Stopping runs and telling their workflows — shared by the run routes and identity deletion."""

from __future__ import annotations

import logging

from sqlalchemy import update
from sqlmodel import Session, col
from temporalio.client import Client
from temporalio.service import RPCError

from db.models import Run, RunInput
from edgewise.timeutil import utcnow
from workflows.contracts import run_workflow_id

log = logging.getLogger("edgewise.api.runs")


def mark_stopped(session: Session, run: Run) -> None:
    """STOPPED: waiting inputs stop; one already sent to LinkedIn finishes and is recorded."""
    if run.stopped:
        return
    run.stopped = True
    run.updated_at = utcnow()
    session.execute(
        update(RunInput)
        .where(col(RunInput.run_uid) == run.uid, col(RunInput.status).in_(["QUEUED", "SCHEDULED", "BLOCKED"]))
        .values(status="STOPPED", postponed_until=None)
    )
    session.add(run)


async def signal_run(client: Client, run_uid: str, name: str) -> None:
    """Tell the run's workflow; a workflow that already ended has nothing to stop or resume."""
    try:
        await client.get_workflow_handle(run_workflow_id(run_uid)).signal(name)
    except RPCError as exc:
        log.warning("signal %s to run %s not delivered: %s", name, run_uid, exc.message)
