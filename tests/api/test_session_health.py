"""Session health when actions meet it (API.md §3, §5 BLOCKED): an expired session is recorded once per
expiry whoever meets it, its work is held and resumes by itself after a reconnect, live calls are refused
without reaching LinkedIn, and a CSRF failure is a stale JSESSIONID — refreshed once — not an expiry.

Over the real stack: the API and worker, the Temporal dev server, the database and the sandbox over HTTP;
the sandbox's request counter (`GET /_sandbox/accounts/{id}/requests`) proves what did not reach LinkedIn.
The periodic health check has its own module (test_session_health_checks.py: it needs a short interval).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.engine import Engine
from temporalio.client import Client

from activities.deps import ActivityDeps
from activities.session_adapter import open_session_adapter
from activities.sessions import mark_session_expired
from edgewise.config import Settings
from edgewise.crypto import Keyring
from linkedin.http_adapter import http_adapter_factory
from tests.api.helpers import assert_error
from tests.conftest import AccountPool
from tests.support.flows import connected_identity, fresh_cookies
from tests.support.session_health import (
    as_browser,
    event_count,
    event_sequence,
    hook_events,
    inputs_of,
    integration_of,
    live_extract,
    people,
    requests_seen,
    start_async,
    wait_events,
    wait_run,
)
from tests.support.webhook_receiver import Receiver, running_receiver

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def deps(settings: Settings, engine: Engine, keyring: Keyring, temporal_client: Client) -> ActivityDeps:
    """What a worker's activities get, with the real HTTP adapter (against the sandbox)."""
    return ActivityDeps(
        settings=settings,
        engine=engine,
        keyring=keyring,
        client=temporal_client,
        adapter_factory=http_adapter_factory(settings),
    )


# --- expiry met by actions --------------------------------------------------------------------------------


async def test_an_expiry_met_by_concurrent_runs_and_live_calls_is_one_event_and_holds_the_work(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool, receiver: Receiver
) -> None:
    path = await hook_events(client, receiver)
    account = account_pool.take()
    identity, integration = await connected_identity(client, sandbox, account)
    await wait_events(receiver, path, 1)  # AUTH_SUCCESS
    targets = await people(sandbox, not_connected_to=account["id"], limit=10, offset=40)
    await sandbox.post(f"/_sandbox/accounts/{account['id']}/expire-session")

    # Three async runs, then at once four live calls, while the runs' lanes go: whoever meets the expiry
    # first records it. (The runs are created first: creating a run while a live call starts on SQLite can
    # stall the API's event loop on the database lock — a separate issue, reported.)
    run_uids = await asyncio.gather(
        *(start_async(client, identity["uid"], targets[i : i + 2]) for i in (0, 2, 4))
    )
    lives = await asyncio.gather(*(live_extract(client, identity["uid"], t) for t in targets[6:10]))
    for response in lives:
        assert_error(response, 424, "INTEGRATION_INVALID")
    for run_uid in run_uids:
        await wait_run(client, run_uid, "BLOCKED")
        rows = await inputs_of(client, run_uid)
        assert [r["status"] for r in rows] == ["BLOCKED", "BLOCKED"], rows  # held, not failed
        assert all(r["error"]["error_label"] == "INTEGRATION_INVALID" for r in rows), rows

    found = await integration_of(client, identity["uid"])
    assert found["status"] == "INVALID" and found["last_error"]["error_label"] == "INTEGRATION_INVALID"
    # Every call has answered and every run is held: all events are recorded by now. One expiry, one event.
    assert await event_count(client) == 2
    received = await wait_events(receiver, path, 2)
    assert [(e["event"], e["sequence"]) for e in received] == [("AUTH_SUCCESS", 1), ("AUTH_EXPIRED", 2)]
    expired = received[1]
    assert expired["integration_uid"] == integration["uid"] and expired["status"] == "INVALID"
    assert expired["action_to_be_taken"] == "RETRY_LOGIN"


async def test_live_calls_on_an_invalid_or_restricted_integration_are_refused_without_reaching_linkedin(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    expired_account, restricted_account = account_pool.take(), account_pool.take()
    expired_identity, _ = await connected_identity(client, sandbox, expired_account, "Expiring One")
    restricted_identity, _ = await connected_identity(client, sandbox, restricted_account, "Restricted One")
    target = (await people(sandbox, limit=1, offset=60))[0]
    await sandbox.post(f"/_sandbox/accounts/{expired_account['id']}/expire-session")
    await sandbox.post(f"/_sandbox/accounts/{restricted_account['id']}/restrict")
    try:
        # The first call meets LinkedIn's refusal and records it ...
        assert_error(await live_extract(client, expired_identity["uid"], target), 424, "INTEGRATION_INVALID")
        assert_error(
            await live_extract(client, restricted_identity["uid"], target), 424, "INTEGRATION_RESTRICTED"
        )
        assert (await integration_of(client, restricted_identity["uid"]))["status"] == "RESTRICTED"
        # ... the next ones are refused at once: not a single request reaches LinkedIn.
        before = [await requests_seen(sandbox, a["id"]) for a in (expired_account, restricted_account)]
        for _ in range(3):
            assert_error(
                await live_extract(client, expired_identity["uid"], target), 424, "INTEGRATION_INVALID"
            )
            assert_error(
                await live_extract(client, restricted_identity["uid"], target), 424, "INTEGRATION_RESTRICTED"
            )
        after = [await requests_seen(sandbox, a["id"]) for a in (expired_account, restricted_account)]
        assert after == before
    finally:
        await sandbox.post(f"/_sandbox/accounts/{restricted_account['id']}/unrestrict")


async def test_a_reconnect_makes_it_valid_and_blocked_work_resumes_by_itself(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool, receiver: Receiver
) -> None:
    path = await hook_events(client, receiver)
    account = account_pool.take()
    identity, integration = await connected_identity(client, sandbox, account)
    targets = await people(sandbox, limit=3, offset=80)
    await sandbox.post(f"/_sandbox/accounts/{account['id']}/expire-session")
    run_uid = await start_async(client, identity["uid"], targets[:2])
    await wait_run(client, run_uid, "BLOCKED")

    reconnected = await client.post(
        f"/v1/identities/{identity['uid']}/integrations/linkedin",
        json={"auth_data": {"cookies": await fresh_cookies(sandbox, account["id"])}},
    )
    assert reconnected.status_code == 200, reconnected.text
    assert reconnected.json()["uid"] == integration["uid"] and reconnected.json()["status"] == "VALID"
    # No POST /v1/runs/{uid}/resume: the held inputs go on by themselves.
    done = await wait_run(client, run_uid, "SUCCEEDED")
    assert done["output_count"] == 2
    assert [r["status"] for r in await inputs_of(client, run_uid)] == ["SUCCEEDED", "SUCCEEDED"]

    # Once per expiry, not once per integration: the next expiry is told again.
    await sandbox.post(f"/_sandbox/accounts/{account['id']}/expire-session")
    assert_error(await live_extract(client, identity["uid"], targets[2]), 424, "INTEGRATION_INVALID")
    received = await wait_events(receiver, path, 4)
    assert [(e["event"], e["sequence"]) for e in received] == [
        ("AUTH_SUCCESS", 1),
        ("AUTH_EXPIRED", 2),
        ("AUTH_UPDATED", 3),
        ("AUTH_EXPIRED", 4),
    ]


async def test_concurrent_reports_of_one_expiry_flip_it_once(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    deps: ActivityDeps,
    engine: Engine,
) -> None:
    """Many activities reporting the same expiry at the same instant (row lock on the integration)."""
    account = account_pool.take()
    _, integration = await connected_identity(client, sandbox, account)
    flipped = await asyncio.gather(
        *(mark_session_expired(deps, integration["uid"], reason="login wall") for _ in range(8))
    )
    assert sorted(flipped) == [False] * 7 + [True]
    assert event_sequence(engine, integration["uid"]) == 2  # AUTH_SUCCESS, then one AUTH_EXPIRED


# --- CSRF is not an expiry --------------------------------------------------------------------------------


async def test_a_csrf_failure_refreshes_the_jsessionid_once_from_the_store(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    deps: ActivityDeps,
    engine: Engine,
) -> None:
    """Two holders of one session: a write through one rotates the JSESSIONID (and stores it); the other,
    loaded before, is refused by LinkedIn's CSRF check, reloads the stored session and succeeds."""
    account = account_pool.take()
    _, integration = await connected_identity(client, sandbox, account)
    target = (await people(sandbox, not_connected_to=account["id"], limit=1, offset=100))[0]
    early = await open_session_adapter(deps, integration["uid"])
    writer = await open_session_adapter(deps, integration["uid"])
    assert (await early.me()).linkedin_profile_id == account["linkedin_profile_id"]  # loaded now
    assert (await writer.visit_profile(target["linkedin_profile_urn"])).sent  # rotates, stored
    assert writer.session.jsessionid != early.session.jsessionid

    before = await requests_seen(sandbox, account["id"])
    assert (await early.me()).linkedin_profile_id == account["linkedin_profile_id"]
    assert await requests_seen(sandbox, account["id"]) - before == 2  # refused once, retried once
    assert early.session.jsessionid == writer.session.jsessionid
    found = await integration_of(client, integration["identity_uid"])
    assert found["status"] == "VALID" and found["last_error"] is None
    assert event_sequence(engine, integration["uid"]) == 1  # AUTH_SUCCESS only


async def test_a_rotation_edgewise_never_stored_is_recovered_from_linkedin_not_an_expiry(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    sandbox_url: str,
    account_pool: AccountPool,
    engine: Engine,
) -> None:
    account = account_pool.take()
    cookies = await fresh_cookies(sandbox, account["id"])
    identity_response = await client.post("/v1/identities", json={"name": "Stale Cookie"})
    identity = identity_response.json()
    connected = await client.post(
        f"/v1/identities/{identity['uid']}/integrations/linkedin", json={"auth_data": {"cookies": cookies}}
    )
    assert connected.status_code == 201, connected.text
    # Someone else uses the same browser session for a write: LinkedIn rotates its JSESSIONID, and
    # edgewise never hears of the new value.
    target = (await people(sandbox, not_connected_to=account["id"], limit=1, offset=120))[0]
    outside = await as_browser(
        sandbox_url,
        cookies,
        "POST",
        "/voyager/api/voyagerIdentityDashProfileViews",
        json={"viewedProfileUrn": target["linkedin_profile_urn"]},
    )
    assert outside.status_code == 201 and "JSESSIONID" in outside.headers["set-cookie"]

    # (The same happens when a worker dies between LinkedIn's answer to a write and storing the rotation.)
    before = await requests_seen(sandbox, account["id"])
    response = await live_extract(client, identity["uid"], target)
    assert response.status_code == 200, response.text
    # Refused (CSRF), a page load that hands out the current JSESSIONID, the call again: three requests.
    assert await requests_seen(sandbox, account["id"]) - before == 3
    found = await integration_of(client, identity["uid"])
    assert found["status"] == "VALID" and found["last_error"] is None
    assert event_sequence(engine, connected.json()["uid"]) == 1  # AUTH_SUCCESS only, no AUTH_EXPIRED
    # The recovered JSESSIONID was stored: the next call goes through at once.
    before = await requests_seen(sandbox, account["id"])
    assert (await live_extract(client, identity["uid"], target)).status_code == 200
    assert await requests_seen(sandbox, account["id"]) - before == 1


async def test_the_sandbox_counts_every_request_presenting_an_accounts_session(
    sandbox: httpx.AsyncClient, sandbox_url: str, account_pool: AccountPool
) -> None:
    """The counter the tests above rely on: admitted and refused requests count, other accounts' do not."""
    account, other = account_pool.take(), account_pool.take()
    cookies = await fresh_cookies(sandbox, account["id"])
    before = await requests_seen(sandbox, account["id"])
    other_before = await requests_seen(sandbox, other["id"])
    me = "/voyager/api/me"
    assert (await as_browser(sandbox_url, cookies, "GET", me)).status_code == 200
    assert (await as_browser(sandbox_url, cookies, "GET", me, headers={"csrf-token": "x"})).status_code == 403
    await sandbox.post(f"/_sandbox/accounts/{account['id']}/expire-session")
    assert (await as_browser(sandbox_url, cookies, "GET", me)).status_code == 302
    assert await requests_seen(sandbox, account["id"]) - before == 3
    assert await requests_seen(sandbox, other["id"]) == other_before
    assert (await sandbox.get("/_sandbox/accounts/999999/requests")).status_code == 404
