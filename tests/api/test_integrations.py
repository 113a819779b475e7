"""Connecting LinkedIn by cookies (API.md §3) over the real API, Temporal dev server and sandbox."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowExecutionStatus

from db.models import Integration, SecretStash
from edgewise.crypto import Keyring
from edgewise.workspaces import CreatedWorkspace, create_workspace
from tests.conftest import AccountPool
from tests.support.deliveries import set_webhook
from tests.support.flows import connected_identity, create_identity, fresh_cookies
from tests.support.webhook_receiver import Receiver, running_receiver
from workflows.contracts import account_workflow_id

pytestmark = pytest.mark.usefixtures("worker")

LEVELS = ["classic", "premium", "sales_navigator"]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def hook(receiver: Receiver, engine: Engine, new_workspace: CreatedWorkspace) -> str:
    """Point the test workspace's webhook at the receiver; returns the receiver path to read events from."""
    url, path = receiver.url_for()
    set_webhook(engine, new_workspace.workspace_uid, url)
    return path


def events(receiver: Receiver, path: str) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.received(path)]


async def wait_events(receiver: Receiver, path: str, count: int) -> list[dict[str, Any]]:
    await receiver.wait_for(path, count)
    return sorted(events(receiver, path), key=lambda e: e["sequence"])


def linkedin_url(identity_uid: str) -> str:
    return f"/v1/identities/{identity_uid}/integrations/linkedin"


def stored(engine: Engine, integration_uid: str) -> Integration:
    with Session(engine) as session:
        row = session.get(Integration, integration_uid)
        assert row is not None
        return row


def integrations_of(engine: Engine, identity_uid: str) -> list[Integration]:
    with Session(engine) as session:
        return list(session.exec(select(Integration).where(Integration.identity_uid == identity_uid)).all())


def stash_count(engine: Engine) -> int:
    with Session(engine) as session:
        return len(session.exec(select(SecretStash)).all())


def stored_cookies(engine: Engine, keyring: Keyring, integration_uid: str) -> dict[str, str]:
    row = stored(engine, integration_uid)
    assert row.cookies_enc
    return dict(keyring.decrypt_json(row.cookies_enc, associated=row.uid))


async def connect(
    client: httpx.AsyncClient, identity_uid: str, cookies: dict[str, Any], **extra: Any
) -> httpx.Response:
    return await client.post(linkedin_url(identity_uid), json={"auth_data": {"cookies": cookies, **extra}})


@pytest_asyncio.fixture
async def other_client(api_url: str, engine: Engine, keyring: Keyring) -> AsyncIterator[httpx.AsyncClient]:
    other = create_workspace(engine, keyring, "other-ws", "other@example.test")
    async with httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": other.api_key}, timeout=60) as http:
        yield http


# --- first connect --------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
async def test_first_connect_201_detects_level(
    level: str,
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    engine: Engine,
    keyring: Keyring,
    temporal_client: Client,
    receiver: Receiver,
    hook: str,
) -> None:
    account = account_pool.take(level)
    identity = await create_identity(client, f"Connect {level}")
    cookies = await fresh_cookies(sandbox, account["id"])
    response = await connect(client, identity["uid"], cookies, user_agent="Mozilla/5.0 test")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["identity_uid"] == identity["uid"]
    assert body["type"] == "linkedin"
    assert body["status"] == "VALID"
    assert body["level"] == level
    assert body["account_name"]
    assert isinstance(body["linkedin_profile_id"], int)
    assert body["linkedin_profile_urn"].startswith("urn:li:")
    assert body["checkpoint"] is None and body["last_error"] is None
    assert body["connected_at"].endswith("Z") and body["updated_at"].endswith("Z")
    assert set(body) == {
        "uid",
        "identity_uid",
        "type",
        "status",
        "level",
        "account_name",
        "linkedin_profile_id",
        "linkedin_profile_urn",
        "checkpoint",
        "last_error",
        "connected_at",
        "updated_at",
    }
    assert cookies["li_at"] not in response.text and cookies["JSESSIONID"] not in response.text

    fetched = await client.get(linkedin_url(identity["uid"]))
    assert fetched.status_code == 200 and fetched.json() == body
    listed = (await client.get(f"/v1/identities/{identity['uid']}")).json()
    assert [i["uid"] for i in listed["integrations"]] == [body["uid"]]

    # Stored encrypted (bound to the integration uid), with the user agent; the stash is gone.
    assert stored_cookies(engine, keyring, body["uid"]) == {
        "li_at": cookies["li_at"],
        "JSESSIONID": cookies["JSESSIONID"],
    }
    row = stored(engine, body["uid"])
    assert row.user_agent == "Mozilla/5.0 test" and row.public_identifier
    assert cookies["li_at"] not in (row.cookies_enc or "")
    assert stash_count(engine) == 0

    # The account's own workflow runs from now on.
    described = await temporal_client.get_workflow_handle(
        account_workflow_id(body["linkedin_profile_id"])
    ).describe()
    assert described.status == WorkflowExecutionStatus.RUNNING

    (event,) = await wait_events(receiver, hook, 1)
    assert event["event"] == "AUTH_SUCCESS" and event["status"] == "VALID"
    assert event["integration_uid"] == body["uid"] and event["identity_uid"] == identity["uid"]
    assert event["sequence"] == 1


async def test_quoted_jsessionid_is_accepted_and_stored_bare(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    engine: Engine,
    keyring: Keyring,
) -> None:
    account = account_pool.take()
    identity = await create_identity(client, "Quoted")
    cookies = await fresh_cookies(sandbox, account["id"])
    quoted = {"li_at": f"  {cookies['li_at']} ", "JSESSIONID": f'"{cookies["JSESSIONID"]}"'}
    response = await connect(client, identity["uid"], quoted)
    assert response.status_code == 201, response.text
    assert stored_cookies(engine, keyring, response.json()["uid"])["JSESSIONID"] == cookies["JSESSIONID"]


# --- reconnect ------------------------------------------------------------------------------------------


async def test_reconnect_same_account_200_same_uid_and_auth_updated(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    engine: Engine,
    keyring: Keyring,
    receiver: Receiver,
    hook: str,
) -> None:
    account = account_pool.take()
    identity, first = await connected_identity(client, sandbox, account)
    newer = await fresh_cookies(sandbox, account["id"])
    response = await connect(client, identity["uid"], newer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["uid"] == first["uid"] and body["status"] == "VALID"
    assert body["connected_at"] == first["connected_at"]
    assert stored_cookies(engine, keyring, body["uid"])["li_at"] == newer["li_at"]
    assert len(integrations_of(engine, identity["uid"])) == 1

    received = await wait_events(receiver, hook, 2)
    assert [(e["event"], e["sequence"]) for e in received] == [("AUTH_SUCCESS", 1), ("AUTH_UPDATED", 2)]
    assert all(e["integration_uid"] == first["uid"] for e in received)


async def test_reconnect_with_another_accounts_cookies_409(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    engine: Engine,
    keyring: Keyring,
) -> None:
    mine, someone_else = account_pool.take(), account_pool.take()
    identity, integration = await connected_identity(client, sandbox, mine)
    before = stored(engine, integration["uid"])
    response = await connect(client, identity["uid"], await fresh_cookies(sandbox, someone_else["id"]))
    assert response.status_code == 409, response.text
    assert response.json()["error_label"] == "CONFLICT"
    after = stored(engine, integration["uid"])
    assert (after.cookies_enc, after.updated_at, after.linkedin_profile_id) == (
        before.cookies_enc,
        before.updated_at,
        before.linkedin_profile_id,
    )
    assert stash_count(engine) == 0


async def test_account_already_on_another_identity_409(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool, engine: Engine
) -> None:
    account = account_pool.take()
    await connected_identity(client, sandbox, account, name="First Owner")
    second = await create_identity(client, "Second Owner")
    response = await connect(client, second["uid"], await fresh_cookies(sandbox, account["id"]))
    assert response.status_code == 409, response.text
    assert (await client.get(linkedin_url(second["uid"]))).status_code == 404
    assert integrations_of(engine, second["uid"]) == []


async def test_account_in_another_workspace_409(
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
) -> None:
    account = account_pool.take()
    await connected_identity(client, sandbox, account)
    theirs = await create_identity(other_client, "Elsewhere")
    response = await connect(other_client, theirs["uid"], await fresh_cookies(sandbox, account["id"]))
    assert response.status_code == 409, response.text
    assert "workspace" not in response.json()["message"].lower()


# --- refusals -------------------------------------------------------------------------------------------


async def test_expired_session_424_nothing_stored_no_event(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    engine: Engine,
    receiver: Receiver,
    hook: str,
) -> None:
    account = account_pool.take()
    identity = await create_identity(client, "Expired")
    cookies = await fresh_cookies(sandbox, account["id"])
    expired = await sandbox.post(f"/_sandbox/accounts/{account['id']}/expire-session")
    assert expired.status_code in (200, 204), expired.text
    response = await connect(client, identity["uid"], cookies)
    assert response.status_code == 424, response.text
    error = response.json()
    assert error["error_label"] == "INTEGRATION_INVALID" and error["error_scope"] == "integration"
    assert cookies["li_at"] not in response.text
    assert (await client.get(linkedin_url(identity["uid"]))).status_code == 404
    assert integrations_of(engine, identity["uid"]) == []
    assert stash_count(engine) == 0
    await asyncio.sleep(0.5)
    assert events(receiver, hook) == []


async def test_rejected_reconnect_leaves_the_integration_as_it_was(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool, engine: Engine
) -> None:
    account = account_pool.take()
    identity, integration = await connected_identity(client, sandbox, account)
    before = stored(engine, integration["uid"])
    stale = await fresh_cookies(sandbox, account["id"])
    await sandbox.post(f"/_sandbox/accounts/{account['id']}/expire-session")
    response = await connect(client, identity["uid"], stale)
    assert response.status_code == 424, response.text
    after = stored(engine, integration["uid"])
    assert (after.status, after.cookies_enc, after.updated_at, after.last_error) == (
        before.status,
        before.cookies_enc,
        before.updated_at,
        before.last_error,
    )
    # A fresh login fixes it: 200, same uid.
    again = await connect(client, identity["uid"], await fresh_cookies(sandbox, account["id"]))
    assert again.status_code == 200, again.text
    assert again.json()["uid"] == integration["uid"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"auth_data": {"cookies": {"JSESSIONID": "ajax:1"}}}, "auth_data.cookies.li_at"),
        ({"auth_data": {"cookies": {"li_at": "AQED"}}}, "auth_data.cookies.JSESSIONID"),
        ({"auth_data": {"cookies": {"li_at": "  ", "JSESSIONID": "ajax:1"}}}, "auth_data.cookies.li_at"),
        ({"auth_data": {"cookies": {"li_at": "AQED", "JSESSIONID": '""'}}}, "auth_data.cookies.JSESSIONID"),
        (
            {"auth_data": {"cookies": {"li_at": "AQED", "JSESSIONID": "ajax:1", "bcookie": "x"}}},
            "auth_data.cookies.bcookie",
        ),
        (
            {"auth_data": {"cookies": {"li_at": "AQED", "JSESSIONID": "ajax:1"}, "proxy": "x"}},
            "auth_data.proxy",
        ),
        ({"auth_data": {"cookies": {"li_at": "AQED", "JSESSIONID": "ajax:1"}}, "extra": 1}, "extra"),
        ({"auth_data": {}}, "auth_data.cookies"),
        ({}, "auth_data"),
        (
            {
                "auth_data": {
                    "cookies": {"li_at": "AQED", "JSESSIONID": "ajax:1"},
                    "basic": {"username": "a@b.test", "password": "pw"},
                }
            },
            "auth_data.basic",
        ),
    ],
    ids=[
        "no-li_at",
        "no-JSESSIONID",
        "blank-li_at",
        "empty-quoted",
        "unknown-cookie",
        "unknown-auth-field",
        "unknown-top-field",
        "no-cookies",
        "no-auth_data",
        "cookies-and-credentials",
    ],
)
async def test_bad_bodies_400_nothing_stored(
    body: dict[str, Any], field: str, client: httpx.AsyncClient, engine: Engine
) -> None:
    identity = await create_identity(client, "Bad Body")
    response = await client.post(linkedin_url(identity["uid"]), json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["error_label"] == "BAD_INPUT"
    assert field in [v["field"] for v in error["params"]["validation_errors"]]
    assert "pw" not in response.text and "AQED" not in response.text
    assert integrations_of(engine, identity["uid"]) == []
    assert stash_count(engine) == 0


# --- scoping and roles ----------------------------------------------------------------------------------


async def test_other_workspaces_identity_is_404(
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
) -> None:
    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    url = linkedin_url(identity["uid"])
    cookies = {"li_at": "AQEDxyz", "JSESSIONID": "ajax:1"}
    for response in (
        await other_client.post(url, json={"auth_data": {"cookies": cookies}}),
        await other_client.get(url),
        await other_client.delete(url),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error_label"] == "NOT_FOUND"
    assert (await client.get(url)).status_code == 200  # untouched
    unknown = await client.post(
        linkedin_url("00000000-0000-0000-0000-000000000000"), json={"auth_data": {"cookies": cookies}}
    )
    assert unknown.status_code == 404


async def test_user_role_may_read_but_not_connect(
    client: httpx.AsyncClient, api_url: str, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take()
    identity, integration = await connected_identity(client, sandbox, account)
    created = await client.post("/v1/members", json={"email": "reader@example.test", "role": "user"})
    assert created.status_code == 201, created.text
    async with httpx.AsyncClient(
        base_url=api_url, headers={"X-API-Key": created.json()["api_key"]}, timeout=60
    ) as reader:
        url = linkedin_url(identity["uid"])
        cookies = await fresh_cookies(sandbox, account["id"])
        posted = await reader.post(url, json={"auth_data": {"cookies": cookies}})
        assert posted.status_code == 403, posted.text
        assert posted.json()["error_label"] == "FORBIDDEN"
        assert (await reader.delete(url)).status_code == 403
        read = await reader.get(url)
        assert read.status_code == 200 and read.json()["uid"] == integration["uid"]


# --- disconnect -----------------------------------------------------------------------------------------


async def test_delete_erases_cookies_and_emits_deleted(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    engine: Engine,
    receiver: Receiver,
    hook: str,
) -> None:
    account = account_pool.take()
    identity, integration = await connected_identity(client, sandbox, account)
    url = linkedin_url(identity["uid"])
    response = await client.delete(url)
    assert response.status_code == 204, response.text
    assert (await client.get(url)).status_code == 404
    assert (await client.delete(url)).status_code == 404
    row = stored(engine, integration["uid"])
    assert row.cookies_enc is None and row.deleted_at is not None
    received = await wait_events(receiver, hook, 2)
    assert [e["event"] for e in received] == ["AUTH_SUCCESS", "DELETED"]

    # The account is free again: connecting it afresh makes a new integration (201, new uid).
    again = await connect(client, identity["uid"], await fresh_cookies(sandbox, account["id"]))
    assert again.status_code == 201, again.text
    assert again.json()["uid"] != integration["uid"]


async def test_concurrent_connects_of_one_account_one_wins(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool, engine: Engine
) -> None:
    account = account_pool.take()
    identities = [await create_identity(client, f"Racer {n}") for n in range(3)]
    cookies = [await fresh_cookies(sandbox, account["id"]) for _ in identities]
    responses = await asyncio.gather(
        *(connect(client, identity["uid"], c) for identity, c in zip(identities, cookies, strict=True))
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409], [r.text for r in responses]
    owners = [i for i in identities if integrations_of(engine, i["uid"])]
    assert len(owners) == 1
    assert stash_count(engine) == 0
