"""Connecting LinkedIn by username and password, with LinkedIn's verification checkpoint (API.md §3), over
the real API, Temporal dev server, database and sandbox.

LinkedIn must be asked to log in exactly once per request, and each code verified once: the sandbox counts
what every account received (`/_sandbox/accounts/{id}/login-attempts`). The password must never appear in
a response, a log record or the connect workflow's history (searched with its payloads decoded).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowExecutionStatus

from db.models import Integration, PendingLogin
from edgewise.workspaces import CreatedWorkspace
from tests.api.helpers import assert_error
from tests.conftest import AccountPool
from tests.support.deliveries import set_webhook
from tests.support.flows import connected_identity, create_identity, fresh_cookies
from tests.support.logins import (
    checkpoint_url,
    connect_workflow_ids,
    history_bytes,
    linkedin_url,
    logged_text,
    login,
    login_attempts,
    verification_code,
)
from tests.support.webhook_receiver import Receiver, running_receiver
from workflows.contracts import account_workflow_id

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def hook(receiver: Receiver, engine: Engine, new_workspace: CreatedWorkspace) -> str:
    url, path = receiver.url_for()
    set_webhook(engine, new_workspace.workspace_uid, url)
    return path


async def wait_events(receiver: Receiver, path: str, count: int) -> list[dict[str, Any]]:
    await receiver.wait_for(path, count)
    return sorted((json.loads(r.body) for r in receiver.received(path)), key=lambda e: e["sequence"])


def pending_logins(engine: Engine, identity_uid: str) -> list[PendingLogin]:
    with Session(engine) as session:
        return list(session.exec(select(PendingLogin).where(PendingLogin.identity_uid == identity_uid)).all())


def integrations_of(engine: Engine, identity_uid: str) -> list[Integration]:
    with Session(engine) as session:
        return list(session.exec(select(Integration).where(Integration.identity_uid == identity_uid)).all())


async def assert_secret_nowhere(
    temporal_client: Client, identity_uid: str, secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the connect workflow's history (payloads decoded) nor any log record holds `secret`."""
    (workflow_id,) = await connect_workflow_ids(temporal_client, identity_uid)
    assert secret.encode() not in await history_bytes(temporal_client, workflow_id)
    assert caplog.records, "the login logged nothing at all: the log check would prove nothing"
    assert secret not in logged_text(caplog.records)


# --- one login, no verification -----------------------------------------------------------------------------


async def test_a_plain_login_connects_once_and_keeps_the_password_nowhere(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    engine: Engine,
    temporal_client: Client,
    receiver: Receiver,
    hook: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    account = account_pool.take("premium")
    identity = await create_identity(client, "Plain Login")
    response = await login(client, identity["uid"], account["username"], account["password"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "VALID" and body["checkpoint"] is None
    assert body["level"] == "premium"  # detected from the account, not given
    assert body["linkedin_profile_id"] == account["linkedin_profile_id"]
    assert account["password"] not in response.text

    assert await login_attempts(sandbox, account["id"]) == {"logins": 1, "checkpoint_answers": 0}
    assert pending_logins(engine, identity["uid"]) == []
    (event,) = await wait_events(receiver, hook, 1)
    assert (event["event"], event["status"]) == ("AUTH_SUCCESS", "VALID")
    assert event["integration_uid"] == body["uid"]
    described = await temporal_client.get_workflow_handle(
        account_workflow_id(body["linkedin_profile_id"])
    ).describe()
    assert described.status == WorkflowExecutionStatus.RUNNING
    await assert_secret_nowhere(temporal_client, identity["uid"], account["password"], caplog)


async def test_a_wrong_password_fails_once_with_auth_failed(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    engine: Engine,
    receiver: Receiver,
    hook: str,
) -> None:
    account = account_pool.take()
    identity = await create_identity(client, "Wrong Password")
    response = await login(client, identity["uid"], account["username"], "not-the-password")
    error = assert_error(response, 424, "INTEGRATION_INVALID")
    assert error["params"]["action_to_be_taken"] == "RETRY_LOGIN"
    assert "not-the-password" not in response.text
    assert (await login_attempts(sandbox, account["id"]))["logins"] == 1
    (event,) = await wait_events(receiver, hook, 1)
    assert (event["event"], event["status"], event["action_to_be_taken"]) == (
        "AUTH_FAILED",
        "INVALID",
        "RETRY_LOGIN",
    )
    integration = (await client.get(linkedin_url(identity["uid"]))).json()
    assert integration["status"] == "INVALID" and integration["uid"] == event["integration_uid"]
    assert pending_logins(engine, identity["uid"]) == []


async def test_a_captcha_is_424_solve_in_browser(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    engine: Engine,
    receiver: Receiver,
    hook: str,
) -> None:
    account = account_pool.take("classic", "captcha")
    identity = await create_identity(client, "Captcha")
    response = await login(client, identity["uid"], account["username"], account["password"])
    error = assert_error(response, 424, "INTEGRATION_INVALID")
    assert error["params"]["action_to_be_taken"] == "SOLVE_CHALLENGE_IN_BROWSER"
    assert await login_attempts(sandbox, account["id"]) == {"logins": 1, "checkpoint_answers": 0}
    (event,) = await wait_events(receiver, hook, 1)
    assert (event["event"], event["action_to_be_taken"]) == ("AUTH_FAILED", "SOLVE_CHALLENGE_IN_BROWSER")
    assert pending_logins(engine, identity["uid"]) == []

    # Solved in a browser, its cookies connect it: the first time VALID is AUTH_SUCCESS, on the same uid.
    cookies = await fresh_cookies(sandbox, account["id"])
    connected = await client.post(linkedin_url(identity["uid"]), json={"auth_data": {"cookies": cookies}})
    assert connected.status_code == 201, connected.text
    assert connected.json()["uid"] == event["integration_uid"]
    assert [e["event"] for e in await wait_events(receiver, hook, 2)] == ["AUTH_FAILED", "AUTH_SUCCESS"]


# --- PIN and 2FA --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("login_kind", "checkpoint_type"), [("pin", "PIN"), ("2fa", "2FA")])
async def test_a_checkpoint_takes_a_wrong_code_then_the_right_one_with_spaces(
    login_kind: str,
    checkpoint_type: str,
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    engine: Engine,
    temporal_client: Client,
    receiver: Receiver,
    hook: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    account = account_pool.take("classic", login_kind)
    identity = await create_identity(client, f"Checkpoint {checkpoint_type}")
    started = await login(client, identity["uid"], account["username"], account["password"])
    assert started.status_code == 202, started.text
    pending = started.json()
    assert pending["status"] == "PENDING" and pending["linkedin_profile_id"] is None
    checkpoint = pending["checkpoint"]
    assert set(checkpoint) == {"type", "expires_at", "attempts_left"}
    assert checkpoint["type"] == checkpoint_type and checkpoint["attempts_left"] == 3
    expires = datetime.fromisoformat(checkpoint["expires_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10)
    assert (await client.get(linkedin_url(identity["uid"]))).json() == pending
    (asked,) = await wait_events(receiver, hook, 1)
    assert (asked["event"], asked["status"], asked["checkpoint"]) == ("AUTH_PENDING", "PENDING", checkpoint)

    wrong = await client.post(checkpoint_url(identity["uid"]), json={"code": "000000"})
    error = assert_error(wrong, 400, "BAD_INPUT", field="code")
    assert error["params"]["attempts_left"] == 2
    assert (await client.get(linkedin_url(identity["uid"]))).json()["checkpoint"]["attempts_left"] == 2

    code = await verification_code(sandbox, account["id"])
    passed = await client.post(checkpoint_url(identity["uid"]), json={"code": f"  {code}\t"})
    assert passed.status_code == 200, passed.text
    valid = passed.json()
    assert valid["uid"] == pending["uid"] and valid["status"] == "VALID" and valid["checkpoint"] is None
    assert valid["linkedin_profile_id"] == account["linkedin_profile_id"] and valid["level"] == "classic"

    assert await login_attempts(sandbox, account["id"]) == {"logins": 1, "checkpoint_answers": 2}
    events = await wait_events(receiver, hook, 2)
    assert [(e["event"], e["sequence"]) for e in events] == [("AUTH_PENDING", 1), ("AUTH_SUCCESS", 2)]
    assert pending_logins(engine, identity["uid"]) == []
    # Over: a further code finds nothing pending.
    late = await client.post(checkpoint_url(identity["uid"]), json={"code": code})
    assert_error(late, 409, "CONFLICT")
    await assert_secret_nowhere(temporal_client, identity["uid"], account["password"], caplog)


async def test_the_last_wrong_code_ends_the_login(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    engine: Engine,
    receiver: Receiver,
    hook: str,
) -> None:
    account = account_pool.take("classic", "pin")
    identity = await create_identity(client, "Three Strikes")
    assert (await login(client, identity["uid"], account["username"], account["password"])).status_code == 202
    left = []
    for wrong in ("111111", "222222", "333333"):
        response = await client.post(checkpoint_url(identity["uid"]), json={"code": wrong})
        left.append(assert_error(response, 400, "BAD_INPUT", field="code")["params"]["attempts_left"])
    assert left == [2, 1, 0]
    integration = (await client.get(linkedin_url(identity["uid"]))).json()
    assert integration["status"] == "INVALID" and integration["checkpoint"] is None
    assert integration["last_error"]["action_to_be_taken"] == "RETRY_LOGIN"
    events = await wait_events(receiver, hook, 2)
    assert [(e["event"], e["status"], e["action_to_be_taken"]) for e in events] == [
        ("AUTH_PENDING", "PENDING", None),
        ("AUTH_FAILED", "INVALID", "RETRY_LOGIN"),
    ]
    assert pending_logins(engine, identity["uid"]) == []
    assert_error(await client.post(checkpoint_url(identity["uid"]), json={"code": "444444"}), 409, "CONFLICT")
    assert await login_attempts(sandbox, account["id"]) == {"logins": 1, "checkpoint_answers": 3}


async def test_malformed_codes_are_refused_without_using_an_attempt(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take("classic", "2fa")
    identity = await create_identity(client, "Malformed Codes")
    assert (await login(client, identity["uid"], account["username"], account["password"])).status_code == 202
    url = checkpoint_url(identity["uid"])
    for body in (
        {"code": "12 34 56"},  # inner spaces are not "surrounding" ones
        {"code": "12345!"},
        {"code": "   "},
        {"code": "1" * 40},
        {"code": 123456},  # a number, not a string
        {},  # a PIN/2FA checkpoint needs its code
    ):
        assert_error(await client.post(url, json=body), 400, "BAD_INPUT", field="code")
    assert_error(await client.post(url, json={"code": "123456", "pin": "1"}), 400, "BAD_INPUT", field="pin")
    assert (await client.get(linkedin_url(identity["uid"]))).json()["checkpoint"]["attempts_left"] == 3
    assert await login_attempts(sandbox, account["id"]) == {"logins": 1, "checkpoint_answers": 0}


async def test_two_concurrent_right_codes_one_applies_the_other_409(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take("classic", "pin")
    identity = await create_identity(client, "Racing Codes")
    assert (await login(client, identity["uid"], account["username"], account["password"])).status_code == 202
    code = await verification_code(sandbox, account["id"])
    responses = await asyncio.gather(
        *(client.post(checkpoint_url(identity["uid"]), json={"code": code}) for _ in range(2))
    )
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    (winner,) = [r for r in responses if r.status_code == 200]
    assert winner.json()["status"] == "VALID"
    assert_error(next(r for r in responses if r.status_code == 409), 409, "CONFLICT")
    # Exactly one verification reached LinkedIn.
    assert await login_attempts(sandbox, account["id"]) == {"logins": 1, "checkpoint_answers": 1}


# --- in-app validation --------------------------------------------------------------------------------------


async def test_an_in_app_validation_is_rechecked_with_an_empty_body(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    receiver: Receiver,
    hook: str,
) -> None:
    account = account_pool.take("classic", "in_app")
    identity = await create_identity(client, "In App")
    started = await login(client, identity["uid"], account["username"], account["password"])
    assert started.status_code == 202, started.text
    assert started.json()["checkpoint"]["type"] == "IN_APP_VALIDATION"
    url = checkpoint_url(identity["uid"])

    not_yet = await client.post(url, json={})
    assert not_yet.status_code == 200, not_yet.text
    assert not_yet.json()["status"] == "PENDING" and not_yet.json()["checkpoint"]["attempts_left"] == 3
    assert_error(await client.post(url, json={"code": "123456"}), 400, "BAD_INPUT", field="code")

    approved = await sandbox.post(f"/_sandbox/accounts/{account['id']}/approve-in-app")
    assert approved.status_code == 200, approved.text
    done = await client.post(url, json={})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "VALID" and done.json()["uid"] == started.json()["uid"]
    assert [e["event"] for e in await wait_events(receiver, hook, 2)] == ["AUTH_PENDING", "AUTH_SUCCESS"]
    assert await login_attempts(sandbox, account["id"]) == {"logins": 1, "checkpoint_answers": 2}


# --- expiry at LinkedIn -------------------------------------------------------------------------------------


async def test_a_code_linkedin_finds_expired_ends_the_login_409(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    receiver: Receiver,
    hook: str,
) -> None:
    """LinkedIn's clock (the sandbox's) ran past the checkpoint before ours did: the code is late."""
    account = account_pool.take("classic", "pin")
    identity = await create_identity(client, "Expired At LinkedIn")
    assert (await login(client, identity["uid"], account["username"], account["password"])).status_code == 202
    code = await verification_code(sandbox, account["id"])
    await sandbox.put("/_sandbox/clock", json={"advance_seconds": 601})
    try:
        late = await client.post(checkpoint_url(identity["uid"]), json={"code": code})
    finally:
        await sandbox.put("/_sandbox/clock", json={"advance_seconds": -601})
    assert_error(late, 409, "CONFLICT")
    integration = (await client.get(linkedin_url(identity["uid"]))).json()
    assert integration["status"] == "INVALID" and integration["checkpoint"] is None
    events = await wait_events(receiver, hook, 2)
    assert [(e["event"], e["action_to_be_taken"]) for e in events] == [
        ("AUTH_PENDING", None),
        ("AUTH_FAILED", "RETRY_LOGIN"),
    ]


# --- reconnect and conflicts --------------------------------------------------------------------------------


async def test_a_login_reconnects_the_same_account_200_same_uid(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    receiver: Receiver,
    hook: str,
) -> None:
    account = account_pool.take()
    identity, first = await connected_identity(client, sandbox, account)
    again = await login(client, identity["uid"], account["username"], account["password"])
    assert again.status_code == 200, again.text
    assert again.json()["uid"] == first["uid"] and again.json()["status"] == "VALID"
    events = await wait_events(receiver, hook, 2)
    assert [e["event"] for e in events] == ["AUTH_SUCCESS", "AUTH_UPDATED"]


async def test_a_login_of_another_account_409_leaves_the_integration_as_it_was(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    engine: Engine,
) -> None:
    mine, someone_else = account_pool.take(), account_pool.take()
    identity, integration = await connected_identity(client, sandbox, mine)
    with Session(engine) as session:
        before = session.get(Integration, integration["uid"])
        assert before is not None
    response = await login(client, identity["uid"], someone_else["username"], someone_else["password"])
    assert_error(response, 409, "CONFLICT")
    with Session(engine) as session:
        after = session.get(Integration, integration["uid"])
        assert after is not None
    assert (after.status, after.cookies_enc, after.linkedin_profile_id, after.updated_at) == (
        before.status,
        before.cookies_enc,
        before.linkedin_profile_id,
        before.updated_at,
    )
    assert pending_logins(engine, identity["uid"]) == []


async def test_a_new_connect_while_a_checkpoint_is_pending_409(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool, engine: Engine
) -> None:
    account = account_pool.take("classic", "pin")
    identity = await create_identity(client, "Busy Identity")
    assert (await login(client, identity["uid"], account["username"], account["password"])).status_code == 202
    relogin = await login(client, identity["uid"], account["username"], account["password"])
    assert_error(relogin, 409, "CONFLICT")
    cookies = await fresh_cookies(sandbox, account["id"])
    by_cookies = await client.post(linkedin_url(identity["uid"]), json={"auth_data": {"cookies": cookies}})
    assert_error(by_cookies, 409, "CONFLICT")
    assert await login_attempts(sandbox, account["id"]) == {"logins": 1, "checkpoint_answers": 0}
    assert len(pending_logins(engine, identity["uid"])) == 1


async def test_disconnecting_a_pending_login_erases_it(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    engine: Engine,
    temporal_client: Client,
) -> None:
    account = account_pool.take("classic", "pin")
    identity = await create_identity(client, "Changed My Mind")
    assert (await login(client, identity["uid"], account["username"], account["password"])).status_code == 202
    (workflow_id,) = await connect_workflow_ids(temporal_client, identity["uid"])
    assert (await client.delete(linkedin_url(identity["uid"]))).status_code == 204
    assert pending_logins(engine, identity["uid"]) == []  # the pre-login cookie went with the row
    await temporal_client.get_workflow_handle(workflow_id).result()  # the flow stops waiting for a code
    code = await verification_code(sandbox, account["id"])
    assert_error(await client.post(checkpoint_url(identity["uid"]), json={"code": code}), 409, "CONFLICT")
    assert (await login_attempts(sandbox, account["id"]))["checkpoint_answers"] == 0
    # The identity may log in afresh.
    again = await login(client, identity["uid"], account["username"], account["password"])
    assert again.status_code == 202, again.text


async def test_deleting_an_identity_with_a_pending_login_erases_it_at_once(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    engine: Engine,
    temporal_client: Client,
) -> None:
    """The login's secrets (its pre-login cookie) go with the identity, not at the checkpoint's deadline."""
    account = account_pool.take("classic", "pin")
    identity = await create_identity(client, "Leaving Mid-Login")
    assert (await login(client, identity["uid"], account["username"], account["password"])).status_code == 202
    (workflow_id,) = await connect_workflow_ids(temporal_client, identity["uid"])
    assert (await client.delete(f"/v1/identities/{identity['uid']}")).status_code == 204
    assert pending_logins(engine, identity["uid"]) == []
    await temporal_client.get_workflow_handle(workflow_id).result()  # the flow stops waiting for a code
    assert (await login_attempts(sandbox, account["id"]))["checkpoint_answers"] == 0


# --- bad input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("basic", "field"),
    [
        ({"username": "", "password": "secret-pw"}, "auth_data.basic.username"),
        ({"username": "   ", "password": "secret-pw"}, "auth_data.basic.username"),
        ({"username": "{username}", "password": ""}, "auth_data.basic.password"),
        ({"username": "{username}", "password": "   "}, "auth_data.basic.password"),
        ({"username": "{username}"}, "auth_data.basic.password"),
        ({"password": "secret-pw"}, "auth_data.basic.username"),
        ({"username": "{username}", "password": 12345678}, "auth_data.basic.password"),
        ({"username": "{username}", "password": "secret-pw", "otp": "1"}, "auth_data.basic.otp"),
    ],
    ids=["empty-user", "blank-user", "empty-pw", "blank-pw", "no-pw", "no-user", "numeric-pw", "unknown"],
)
async def test_bad_credentials_bodies_400_nothing_stored_linkedin_not_asked(
    basic: dict[str, Any],
    field: str,
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    engine: Engine,
) -> None:
    account = account_pool.take()
    identity = await create_identity(client, "Bad Credentials")
    body = {
        key: value.replace("{username}", account["username"]) if isinstance(value, str) else value
        for key, value in basic.items()
    }
    response = await client.post(linkedin_url(identity["uid"]), json={"auth_data": {"basic": body}})
    assert_error(response, 400, "BAD_INPUT", field=field)
    assert "secret-pw" not in response.text
    assert integrations_of(engine, identity["uid"]) == [] and pending_logins(engine, identity["uid"]) == []
    assert (await login_attempts(sandbox, account["id"]))["logins"] == 0


async def test_a_code_without_a_pending_checkpoint_is_409(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    bare = await create_identity(client, "Never Connected")
    assert_error(await client.post(checkpoint_url(bare["uid"]), json={"code": "123456"}), 409, "CONFLICT")
    assert_error(await client.post(checkpoint_url(bare["uid"]), json={}), 409, "CONFLICT")
    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    assert_error(await client.post(checkpoint_url(identity["uid"]), json={"code": "123456"}), 409, "CONFLICT")
    unknown = "00000000-0000-0000-0000-000000000000"
    assert_error(await client.post(checkpoint_url(unknown), json={"code": "123456"}), 404, "NOT_FOUND")
