"""The connect workflow and the session helpers, over the real Temporal dev server, database and sandbox:
retry safety, no secret in any workflow history, expiry/restriction recorded once with their events."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client

from activities.connect import new_cookie_stash
from activities.deps import ActivityDeps
from activities.sessions import encrypt_cookies, load_session, mark_restricted, mark_session_expired
from db.engine import session_scope
from db.models import Identity, Integration, SecretStash
from edgewise.config import Settings
from edgewise.crypto import Keyring
from edgewise.workspaces import CreatedWorkspace
from linkedin.protocol import AccountRestricted, SessionCookies, SessionExpired
from tests.conftest import AccountPool
from tests.support.deliveries import make_deps, set_webhook
from tests.support.flows import connected_identity, create_identity, fresh_cookies
from tests.support.history import decoded_history
from tests.support.webhook_receiver import Receiver, running_receiver
from workflows.connect import ConnectWorkflow, integration_uid_for_stash
from workflows.contracts import ConnectInput, ConnectOutcome, account_workflow_id, connect_workflow_id

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def deps(settings: Settings, engine: Engine, keyring: Keyring, temporal_client: Client) -> ActivityDeps:
    return make_deps(settings, engine, keyring, temporal_client)


def make_identity(engine: Engine, workspace_uid: str) -> str:
    with session_scope(engine) as session:
        identity = Identity(workspace_uid=workspace_uid, name="Direct")
        session.add(identity)
        return identity.uid


def stash(engine: Engine, keyring: Keyring, cookies: dict[str, str]) -> str:
    with session_scope(engine) as session:
        row = new_cookie_stash(
            keyring, SessionCookies(li_at=cookies["li_at"], jsessionid=cookies["JSESSIONID"])
        )
        session.add(row)
        return row.uid


def stash_exists(engine: Engine, stash_uid: str) -> bool:
    with Session(engine) as session:
        return session.get(SecretStash, stash_uid) is not None


def secrets_in_history(history: Any, secrets: list[str]) -> list[str]:
    blob = b"".join(event.SerializeToString() for event in history.events)
    text = json.dumps(history.to_json_dict()) if hasattr(history, "to_json_dict") else ""
    return [s for s in secrets if s.encode() in blob or s in text]


async def run_connect(
    client: Client, settings: Settings, input: ConnectInput, integration_uid: str
) -> ConnectOutcome:
    return await client.execute_workflow(
        ConnectWorkflow.run,
        input,
        id=connect_workflow_id(integration_uid, f"{input.stash_uid}:{uuid.uuid4().hex[:6]}"),
        task_queue=settings.temporal_task_queue,
    )


# --- the workflow ---------------------------------------------------------------------------------------


async def test_connect_is_retry_safe_and_keeps_secrets_out_of_history(
    temporal_client: Client,
    settings: Settings,
    engine: Engine,
    keyring: Keyring,
    new_workspace: CreatedWorkspace,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
) -> None:
    account = account_pool.take()
    cookies = await fresh_cookies(sandbox, account["id"])
    identity_uid = make_identity(engine, new_workspace.workspace_uid)
    stash_uid = stash(engine, keyring, cookies)
    input = ConnectInput(
        workspace_uid=new_workspace.workspace_uid, identity_uid=identity_uid, stash_uid=stash_uid
    )
    expected_uid = integration_uid_for_stash(stash_uid)

    handle = await temporal_client.start_workflow(
        ConnectWorkflow.run,
        input,
        id=connect_workflow_id(expected_uid, stash_uid),
        task_queue=settings.temporal_task_queue,
    )
    outcome = await handle.result()
    assert outcome.outcome == "VALID" and outcome.created and outcome.integration_uid == expected_uid
    assert not stash_exists(engine, stash_uid)

    # The same attempt again (an activity retry after a lost answer): the stash is gone, same answer.
    again = await run_connect(temporal_client, settings, input, expected_uid)
    assert again.outcome == "VALID" and again.created and again.integration_uid == expected_uid
    with Session(engine) as session:
        rows = session.exec(select(Integration).where(Integration.identity_uid == identity_uid)).all()
    assert len(rows) == 1

    history = await decoded_history(await handle.fetch_history())
    assert secrets_in_history(history, [cookies["li_at"], cookies["JSESSIONID"]]) == []
    assert outcome.linkedin_profile_id is not None
    account_history = await temporal_client.get_workflow_handle(
        account_workflow_id(outcome.linkedin_profile_id)
    ).fetch_history()
    account_history = await decoded_history(account_history)
    assert secrets_in_history(account_history, [cookies["li_at"], cookies["JSESSIONID"]]) == []


async def test_api_connects_leave_no_secret_in_any_history(
    client: httpx.AsyncClient,
    temporal_client: Client,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
) -> None:
    account, other = account_pool.take(), account_pool.take()
    identity = await create_identity(client, "History Check")
    url = f"/v1/identities/{identity['uid']}/integrations/linkedin"
    secrets: list[str] = []
    statuses: list[int] = []
    first = await fresh_cookies(sandbox, account["id"])
    second = await fresh_cookies(sandbox, account["id"])
    foreign = await fresh_cookies(sandbox, other["id"])
    for cookies in (first, second, foreign):
        secrets += [cookies["li_at"], cookies["JSESSIONID"]]
        response = await client.post(url, json={"auth_data": {"cookies": cookies}})
        statuses.append(response.status_code)
    await sandbox.post(f"/_sandbox/accounts/{account['id']}/expire-session")
    response = await client.post(url, json={"auth_data": {"cookies": second}})
    statuses.append(response.status_code)
    assert statuses == [201, 200, 409, 424]

    integration_uid = (await client.get(url)).json()["uid"]

    async def connect_workflows() -> list[str] | None:
        ids = [
            execution.id
            async for execution in temporal_client.list_workflows("WorkflowType = 'ConnectWorkflow'")
            if execution.id.startswith(f"connect:{integration_uid}:")
        ]
        return ids if len(ids) >= 4 else None

    found: list[str] | None = None
    for _ in range(100):  # visibility lags the workflows a little
        found = await connect_workflows()
        if found:
            break
        await asyncio.sleep(0.1)
    assert found is not None and len(found) == 4
    for workflow_id in found:
        history = await temporal_client.get_workflow_handle(workflow_id).fetch_history()
        history = await decoded_history(history)
        assert secrets_in_history(history, secrets) == [], workflow_id


# --- session helpers ------------------------------------------------------------------------------------


def make_integration(engine: Engine, keyring: Keyring, workspace_uid: str, status: str = "VALID") -> str:
    identity_uid = make_identity(engine, workspace_uid)
    with session_scope(engine) as session:
        integration = Integration(
            workspace_uid=workspace_uid,
            identity_uid=identity_uid,
            status=status,
            level="classic",
            linkedin_profile_id=int(uuid.uuid4().int % 10**12),
        )
        integration.cookies_enc = encrypt_cookies(
            keyring, integration.uid, SessionCookies(li_at="AQEDsecret", jsessionid="ajax:111", li_a="liA")
        )
        integration.user_agent = "UA/1"
        session.add(integration)
        return integration.uid


def reload(engine: Engine, uid: str) -> Integration:
    with Session(engine) as session:
        row = session.get(Integration, uid)
        assert row is not None
        return row


async def test_load_session_and_rotation(
    deps: ActivityDeps, engine: Engine, new_workspace: CreatedWorkspace
) -> None:
    uid = make_integration(engine, deps.keyring, new_workspace.workspace_uid)
    cookies, sink = await load_session(deps, uid)
    assert (cookies.li_at, cookies.jsessionid, cookies.li_a, cookies.user_agent) == (
        "AQEDsecret",
        "ajax:111",
        "liA",
        "UA/1",
    )
    assert "AQEDsecret" not in repr(cookies)
    before = reload(engine, uid).updated_at
    await sink(SessionCookies(li_at="AQEDsecret", jsessionid="ajax:222", li_a="liA"))
    rotated, _ = await load_session(deps, uid)
    assert rotated.jsessionid == "ajax:222" and rotated.li_a == "liA"
    assert reload(engine, uid).updated_at > before


async def test_rotation_does_not_overwrite_a_newer_session(
    deps: ActivityDeps, engine: Engine, new_workspace: CreatedWorkspace
) -> None:
    uid = make_integration(engine, deps.keyring, new_workspace.workspace_uid)
    _, sink = await load_session(deps, uid)
    with session_scope(engine) as session:  # a reconnect replaced the session meanwhile
        row = session.get(Integration, uid)
        assert row is not None
        row.cookies_enc = encrypt_cookies(
            deps.keyring, uid, SessionCookies(li_at="AQEDnew", jsessionid="ajax:9")
        )
        session.add(row)
    await sink(SessionCookies(li_at="AQEDsecret", jsessionid="ajax:333"))
    current, _ = await load_session(deps, uid)
    assert (current.li_at, current.jsessionid) == ("AQEDnew", "ajax:9")


async def test_session_expiry_is_recorded_once_with_one_event(
    deps: ActivityDeps, engine: Engine, new_workspace: CreatedWorkspace, receiver: Receiver
) -> None:
    url, path = receiver.url_for()
    set_webhook(engine, new_workspace.workspace_uid, url)
    uid = make_integration(engine, deps.keyring, new_workspace.workspace_uid)
    results = [
        await mark_session_expired(deps, uid, reason="redirect loop to the login wall") for _ in range(3)
    ]
    assert results == [True, False, False]
    row = reload(engine, uid)
    assert row.status == "INVALID"
    assert row.last_error and row.last_error["error_label"] == "INTEGRATION_INVALID"
    assert "login wall" in row.last_error["message"]
    with pytest.raises(SessionExpired):
        await load_session(deps, uid)
    await receiver.wait_for(path, 1)
    event = json.loads(receiver.received(path)[0].body)
    assert (event["event"], event["status"], event["action_to_be_taken"]) == (
        "AUTH_EXPIRED",
        "INVALID",
        "RETRY_LOGIN",
    )
    # Restriction after expiry: recorded once too.
    assert await mark_restricted(deps, uid) is True
    assert await mark_restricted(deps, uid) is False
    with pytest.raises(AccountRestricted):
        await load_session(deps, uid)
    await receiver.wait_for(path, 2)
    kinds = sorted(
        (json.loads(r.body)["sequence"], json.loads(r.body)["event"]) for r in receiver.received(path)
    )
    assert kinds == [(1, "AUTH_EXPIRED"), (2, "RESTRICTED")]
    assert json.loads(receiver.received(path)[-1].body)["action_to_be_taken"] in ("WAIT", "RETRY_LOGIN")


async def test_expiry_of_a_replaced_session_is_ignored(
    deps: ActivityDeps, engine: Engine, new_workspace: CreatedWorkspace
) -> None:
    uid = make_integration(engine, deps.keyring, new_workspace.workspace_uid)
    stale = SessionCookies(li_at="AQEDold", jsessionid="ajax:0")
    assert await mark_session_expired(deps, uid, reason="expired", session=stale) is False
    assert reload(engine, uid).status == "VALID"
    current, _ = await load_session(deps, uid)
    assert await mark_session_expired(deps, uid, reason="expired", session=current) is True


async def test_reconnect_after_expiry_is_valid_again(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    deps: ActivityDeps,
    engine: Engine,
) -> None:
    account = account_pool.take()
    identity, integration = await connected_identity(client, sandbox, account)
    assert await mark_session_expired(deps, integration["uid"], reason="expired")
    invalid = (await client.get(f"/v1/identities/{identity['uid']}/integrations/linkedin")).json()
    assert invalid["status"] == "INVALID" and invalid["last_error"]["error_label"] == "INTEGRATION_INVALID"
    response = await client.post(
        f"/v1/identities/{identity['uid']}/integrations/linkedin",
        json={"auth_data": {"cookies": await fresh_cookies(sandbox, account["id"])}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["uid"] == integration["uid"] and body["status"] == "VALID" and body["last_error"] is None
