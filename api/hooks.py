"""Side effects of API changes that reach beyond the request's own rows (events, workflows, schedules).

Routes call these *after* committing, so whatever they start sees the committed state.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from activities.deps import ActivityDeps
from activities.run_store import refresh_run
from api.run_control import mark_stopped, signal_run
from api.schedule_service import cancel_for_identity
from db.engine import session_scope
from db.models import Identity, Integration, Run, RunIdentity
from edgewise.events import emit_integration_event
from edgewise.runstate import TERMINAL_RUN_STATES

log = logging.getLogger("edgewise.api.hooks")

# The same namespace as the integration routes' DELETED event: one event per disconnection, however reached.
_EVENT_NAMESPACE = uuid.UUID("0d5f2b1e-3c4a-4e8f-9a61-7b2c9d4e5f10")


def _deleted_integrations(engine: Engine, identity_uid: str) -> list[str]:
    """Integrations deleted together with the identity (same instant)."""
    with Session(engine) as session:
        identity = session.get(Identity, identity_uid)
        if identity is None or identity.deleted_at is None:
            return []
        return list(
            session.exec(
                select(Integration.uid).where(
                    Integration.identity_uid == identity_uid, Integration.deleted_at == identity.deleted_at
                )
            ).all()
        )


def _stop_orphaned_runs(engine: Engine, workspace_uid: str, identity_uid: str) -> list[str]:
    """Stop the unfinished runs that have no live identity left once this one is gone."""
    stopped: list[str] = []
    with session_scope(engine) as session:
        runs = session.exec(
            select(Run).where(
                Run.workspace_uid == workspace_uid,
                col(Run.uid).in_(select(RunIdentity.run_uid).where(RunIdentity.identity_uid == identity_uid)),
                col(Run.status).not_in(list(TERMINAL_RUN_STATES)),
            )
        ).all()
        for run in runs:
            alive = session.exec(
                select(Identity.uid).where(
                    col(Identity.uid).in_(run.identity_ids), col(Identity.deleted_at).is_(None)
                )
            ).first()
            if alive is None:
                mark_stopped(session, run)
                stopped.append(run.uid)
    return stopped


async def on_identity_deleted(app_state: Any, workspace_uid: str, identity_uid: str) -> None:
    """An identity was soft-deleted and its integration marked deleted with its cookies erased: emit the
    integration's `DELETED` event, stop the runs nothing can execute any more and cancel the schedules that
    run as it. `app_state` is the app's `request.app.state` (settings, engine, keyring, temporal_client)."""
    engine: Engine = app_state.engine
    client = app_state.temporal_client
    for integration_uid in await run_in_threadpool(_deleted_integrations, engine, identity_uid):
        if client is None:
            log.warning("Temporal unavailable: DELETED event for %s not sent", integration_uid)
            continue
        deps = ActivityDeps(
            settings=app_state.settings,
            engine=engine,
            keyring=app_state.keyring,
            client=client,
            adapter_factory=_no_adapter,
        )
        event_id = str(uuid.uuid5(_EVENT_NAMESPACE, f"{integration_uid}:DELETED"))
        try:
            await emit_integration_event(deps, integration_uid, "DELETED", event_id=event_id)
        except Exception:  # the deletion stands; a lost event is logged, not a failed request
            log.exception("could not emit DELETED for integration %s", integration_uid)
    for run_uid in await run_in_threadpool(_stop_orphaned_runs, engine, workspace_uid, identity_uid):
        if client is not None:
            await signal_run(client, run_uid, "stop")
        await run_in_threadpool(refresh_run, engine, run_uid)
    await cancel_for_identity(engine, client, workspace_uid, identity_uid)


def _no_adapter(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("the API never calls LinkedIn")
