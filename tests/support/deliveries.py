"""Rows and dependencies for delivery tests (webhook events and run callbacks), written straight to the DB."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select
from temporalio.client import Client

from activities.deps import ActivityDeps
from db.engine import session_scope
from db.models import Delivery, Identity, Integration, Run, RunInput, RunOutput, Workspace
from edgewise.config import Settings
from edgewise.crypto import Keyring
from edgewise.timeutil import utcnow
from edgewise.workspaces import workspace_secret

# Fast retry plan for tests: every 0.5 s (the dev server fires timers with about 1 s granularity) for 30 s.
FAST = {"delivery_retry_schedule": [0.5], "delivery_max_age_seconds": 30.0}


def fast_settings(settings: Settings, **extra: Any) -> Settings:
    return settings.model_copy(update={**FAST, **extra})


def make_deps(settings: Settings, engine: Engine, keyring: Keyring, client: Client) -> ActivityDeps:
    def no_adapter(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("delivery code never talks to LinkedIn")

    return ActivityDeps(
        settings=settings, engine=engine, keyring=keyring, client=client, adapter_factory=no_adapter
    )  # type: ignore[arg-type]


def set_webhook(engine: Engine, workspace_uid: str, url: str | None) -> None:
    with session_scope(engine) as session:
        workspace = session.get(Workspace, workspace_uid)
        assert workspace is not None
        workspace.webhook_url = url
        session.add(workspace)


def secret_of(engine: Engine, keyring: Keyring, workspace_uid: str) -> str:
    with session_scope(engine) as session:
        workspace = session.get(Workspace, workspace_uid)
        assert workspace is not None
        return workspace_secret(keyring, workspace)


def make_integration(
    engine: Engine, workspace_uid: str, name: str = "Zoë Ławrynowicz", status: str = "INVALID"
) -> Integration:
    with session_scope(engine) as session:
        identity = Identity(workspace_uid=workspace_uid, name=name)
        session.add(identity)
        session.flush()
        integration = Integration(
            workspace_uid=workspace_uid,
            identity_uid=identity.uid,
            status=status,
            level="classic",
            account_name=name,
        )
        session.add(integration)
    return integration


def make_run(
    engine: Engine,
    keyring: Keyring,
    workspace_uid: str,
    *,
    url: str,
    on: str = "all",
    outputs: int = 0,
    headers: dict[str, str] | None = None,
    status: str = "RUNNING",
) -> Run:
    with session_scope(engine) as session:
        run = Run(
            workspace_uid=workspace_uid,
            action_name="extract-people",
            execution_mode="ASYNC",
            status=status,
            callback_url=url,
            callback_on=on,
            inputs_count=1,
            inputs_total=1,
        )
        if headers:
            run.callback_headers_enc = keyring.encrypt_json(headers, associated=run.uid)
        session.add(run)
        session.flush()
        run_input = RunInput(
            run_uid=run.uid,
            index=0,
            status="RUNNING",
            input={"q": "a"},
            target_key="a",
            custom_data={"crm_id": "ü-42"},
        )
        session.add(run_input)
        session.flush()
        _ = run_input.uid
    if outputs:
        add_outputs(engine, run.uid, run_input.uid, outputs)
    return run


def add_outputs(engine: Engine, run_uid: str, run_input_uid: str, count: int, start: int = 0) -> None:
    base = utcnow() - timedelta(minutes=1)
    with session_scope(engine) as session:
        session.add_all(
            [
                RunOutput(
                    run_uid=run_uid,
                    run_input_uid=run_input_uid,
                    seq=start + i,
                    data={"full_name": f"Person Ñº {start + i}", "n": start + i},
                    custom_data={"crm_id": "ü-42"},
                    extracted_at=base,
                )
                for i in range(count)
            ]
        )
        run = session.get(Run, run_uid)
        assert run is not None
        run.output_count += count
        session.add(run)


def finish_run(
    engine: Engine, run_uid: str, status: str = "SUCCEEDED", last_error: dict[str, Any] | None = None
) -> None:
    with session_scope(engine) as session:
        run = session.get(Run, run_uid)
        assert run is not None
        run.status = status
        run.inputs_done = run.inputs_count
        run.last_error = last_error
        run.finished_at = utcnow()
        run.updated_at = utcnow()
        session.add(run)


def get_delivery(engine: Engine, uid: str) -> Delivery:
    with session_scope(engine) as session:
        delivery = session.get(Delivery, uid)
        assert delivery is not None
        return delivery


def deliveries_of(
    engine: Engine, *, run_uid: str | None = None, workspace_uid: str | None = None
) -> list[Delivery]:
    with session_scope(engine) as session:
        query = select(Delivery)
        if run_uid is not None:
            query = query.where(Delivery.run_uid == run_uid)
        if workspace_uid is not None:
            query = query.where(Delivery.workspace_uid == workspace_uid)
        return list(session.exec(query).all())


async def closed_status(handle: Any, timeout: float = 10.0) -> str:
    """The workflow's status once it is no longer RUNNING (cancellation is asynchronous), or RUNNING."""
    name = "RUNNING"
    for _ in range(int(timeout / 0.1)):
        described = await handle.describe()
        name = described.status.name if described.status is not None else "RUNNING"
        if name != "RUNNING":
            break
        await asyncio.sleep(0.1)
    return name
