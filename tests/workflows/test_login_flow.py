"""The credentials-login flow of the connect workflow, driven directly on the real Temporal dev server (with
the worker, the database and the sandbox): what its validator keeps out of history, and the checkpoint's
deadline — a short one here, the API always asks for API.md's 10 minutes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from api.login_service import prepare_login, run_login
from db.models import PendingLogin
from edgewise.config import Settings
from edgewise.crypto import Keyring
from edgewise.workspaces import CreatedWorkspace
from tests.api.helpers import assert_error
from tests.conftest import AccountPool
from tests.support.deliveries import set_webhook
from tests.support.flows import create_identity
from tests.support.logins import checkpoint_url, linkedin_url, login_attempts, verification_code
from tests.support.webhook_receiver import Receiver, running_receiver
from workflows.connect import MALFORMED_CODE, ConnectWorkflow
from workflows.contracts import ConnectInput
from workflows.login_contracts import CodeSubmission

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


async def start_login(
    client: Client,
    settings: Settings,
    engine: Engine,
    keyring: Keyring,
    workspace_uid: str,
    identity_uid: str,
    account: dict[str, str],
    ttl_seconds: float,
) -> str:
    """What the API does for a credentials POST, with a checkpoint deadline of `ttl_seconds`."""
    workflow_id, pending_uid = prepare_login(
        engine,
        keyring,
        settings,
        workspace_uid,
        identity_uid,
        (account["username"], account["password"]),
        None,
    )
    answer = await run_login(
        client,
        settings,
        workflow_id,
        ConnectInput(
            workspace_uid=workspace_uid,
            identity_uid=identity_uid,
            stash_uid=pending_uid,
            method="credentials",
            checkpoint_ttl_seconds=ttl_seconds,
        ),
    )
    assert answer.outcome == "PENDING", answer
    return workflow_id


async def test_the_deadline_ends_the_login_and_a_late_code_is_409(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    temporal_client: Client,
    settings: Settings,
    engine: Engine,
    keyring: Keyring,
    new_workspace: CreatedWorkspace,
    receiver: Receiver,
) -> None:
    url, path = receiver.url_for()
    set_webhook(engine, new_workspace.workspace_uid, url)
    account = account_pool.take("classic", "pin")
    identity = await create_identity(client, "Too Slow")
    workflow_id = await start_login(
        temporal_client,
        settings,
        engine,
        keyring,
        new_workspace.workspace_uid,
        identity["uid"],
        account,
        ttl_seconds=2.0,
    )
    handle = temporal_client.get_workflow_handle_for(ConnectWorkflow.run, workflow_id)

    # The validator refuses a malformed code before it reaches history (or LinkedIn).
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(ConnectWorkflow.submit_code, CodeSubmission(code="12 34 56"))
    assert isinstance(refused.value.cause, ApplicationError) and refused.value.cause.type == MALFORMED_CODE

    outcome = await handle.result()  # the deadline passes: the flow ends by itself
    assert outcome.outcome == "INVALID"
    history = await handle.fetch_history()
    accepted = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]
    assert accepted == [] or all(
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name != "submit_code"
        for e in accepted
    )

    integration = (await client.get(linkedin_url(identity["uid"]))).json()
    assert integration["status"] == "INVALID" and integration["checkpoint"] is None
    assert integration["last_error"]["reason"] == "EXPIRED"
    await receiver.wait_for(path, 2)
    events = sorted((json.loads(r.body) for r in receiver.received(path)), key=lambda e: e["sequence"])
    assert [(e["event"], e["action_to_be_taken"]) for e in events] == [
        ("AUTH_PENDING", None),
        ("AUTH_FAILED", "RETRY_LOGIN"),
    ]
    with Session(engine) as session:
        left = session.exec(select(PendingLogin).where(PendingLogin.identity_uid == identity["uid"])).all()
    assert left == []

    # The right code, too late: 409, and LinkedIn is not asked.
    code = await verification_code(sandbox, account["id"])
    assert_error(await client.post(checkpoint_url(identity["uid"]), json={"code": code}), 409, "CONFLICT")
    assert await login_attempts(sandbox, account["id"]) == {"logins": 1, "checkpoint_answers": 0}
