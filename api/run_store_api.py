"""Database helpers of the run routes."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import col

from db.engine import session_scope
from db.models import Run, RunIdentity, RunInput, RunOutput


def delete_run(engine: Engine, run_uid: str) -> None:
    """Remove a run that could not be started (nothing half-written stays behind)."""
    with session_scope(engine) as session:
        session.execute(delete(RunOutput).where(col(RunOutput.run_uid) == run_uid))
        session.execute(delete(RunInput).where(col(RunInput.run_uid) == run_uid))
        session.execute(delete(RunIdentity).where(col(RunIdentity.run_uid) == run_uid))
        session.execute(delete(Run).where(col(Run.uid) == run_uid))
