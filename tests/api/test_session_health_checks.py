"""The per-account workflow's periodic, jittered session health check, and what survives a worker restart.

These tests run their own API and worker (on their own task queue) with HEALTH_CHECK_INTERVAL_SECONDS=2
and HEALTH_CHECK_JITTER=0.5, so checks happen every 1–3 s — through the real configuration path: the
account workflows learn the interval from this worker's setting. Everything else is shared with the session
(the Temporal dev server, the database, the sandbox over HTTP). Waiting for a check to happen polls with a
generous deadline; no assertion is about how long anything took.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client

from activities.sessions import decrypt_cookies
from db.models import Integration
from edgewise.config import Settings
from edgewise.crypto import Keyring
from edgewise.workspaces import create_workspace
from tests.api.helpers import assert_error
from tests.conftest import AccountPool
from tests.support.flows import connected_identity, fresh_cookies
from tests.support.servers import free_port, serve_in_thread
from tests.support.session_health import (
    VISIT,
    as_browser,
    event_count,
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
from workflows.contracts import account_workflow_id

INTERVAL = 2.0
JITTER = 0.5


@dataclass
class Stack:
    """An API and a worker of their own, with a short health-check interval."""

    settings: Settings
    temporal_client: Client
    api_url: str
    worker: Any = None
    profile_ids: list[int] = field(default_factory=list)

    async def start_worker(self) -> None:
        from worker import build_worker

        self.worker = build_worker(self.temporal_client, self.settings)
        await self.worker.__aenter__()

    async def stop_worker(self) -> None:
        if self.worker is not None:
            worker, self.worker = self.worker, None
            await worker.__aexit__(None, None, None)

    async def health(self, linkedin_profile_id: int) -> dict[str, Any]:
        """The account workflow's health state (schedule, last outcome, checks so far)."""
        handle = self.temporal_client.get_workflow_handle(account_workflow_id(linkedin_profile_id))
        return dict((await handle.query("state"))["health"])

    async def checks_after(self, linkedin_profile_id: int, count: int) -> dict[str, Any]:
        """Wait until the account has been checked `count` more times (probes, or skips while in use)."""
        start = (await self.health(linkedin_profile_id))["checks"]

        async def probe() -> dict[str, Any] | None:
            health = await self.health(linkedin_profile_id)
            return health if health["checks"] >= start + count else None

        return await poll(probe, 60, f"{count} more health checks")


async def poll(probe: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    """Await `probe()` until it answers something (not None/False), within `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value is not None and value is not False:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


@pytest_asyncio.fixture(scope="module")
async def stack(settings: Settings, temporal_client: Client) -> AsyncIterator[Stack]:
    from api.app import create_app

    own = settings.model_copy(
        update={
            "temporal_task_queue": f"health-{uuid.uuid4().hex[:8]}",
            "api_port": free_port(),
            "health_check_interval_seconds": INTERVAL,
            "health_check_jitter": JITTER,
        }
    )
    with serve_in_thread(create_app(own), port=own.api_port) as api_url:
        running = Stack(own, temporal_client, api_url)
        await running.start_worker()
        try:
            yield running
        finally:
            # Their workflows would keep short timers on a queue nobody polls any more.
            for pid in running.profile_ids:
                with contextlib.suppress(Exception):
                    await temporal_client.get_workflow_handle(account_workflow_id(pid)).terminate("over")
            await running.stop_worker()


@pytest_asyncio.fixture
async def api(stack: Stack, engine: Engine, keyring: Keyring) -> AsyncIterator[httpx.AsyncClient]:
    """An admin of a new workspace, on this module's API."""
    workspace = create_workspace(engine, keyring, f"health-{uuid.uuid4().hex[:6]}", "admin@example.test")
    async with httpx.AsyncClient(
        base_url=stack.api_url, headers={"X-API-Key": workspace.api_key}, timeout=60
    ) as http:
        yield http


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def take(account_pool: AccountPool, stack: Stack) -> dict[str, Any]:
    account = account_pool.take()
    stack.profile_ids.append(int(account["linkedin_profile_id"]))
    return account


def stored_session(engine: Engine, keyring: Keyring, integration_uid: str) -> dict[str, str]:
    with Session(engine) as session:
        row = session.get(Integration, integration_uid)
        assert row is not None
        cookies = decrypt_cookies(keyring, row)
    return {"li_at": cookies.li_at, "JSESSIONID": cookies.jsessionid}


# --- the schedule ---------------------------------------------------------------------------------------


async def test_checks_follow_the_configured_interval_with_jitter(
    stack: Stack, api: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = take(account_pool, stack)
    identity, _ = await connected_identity(api, sandbox, account)
    pid = int(account["linkedin_profile_id"])
    delays: list[float] = []
    for _ in range(4):
        health = await stack.checks_after(pid, 1)
        assert health["enabled"] and health["last_outcome"] == "VALID"
        checked, due = (datetime.fromisoformat(health[k]) for k in ("last_check_at", "next_check_at"))
        delays.append((due - checked).total_seconds())
    assert (health["interval_seconds"], health["jitter"]) == (INTERVAL, JITTER)  # the worker's setting
    assert all(INTERVAL * (1 - JITTER) <= d <= INTERVAL * (1 + JITTER) for d in delays), delays
    assert len(set(delays)) > 1, delays  # drawn at random, not a fixed period

    # Disconnected: the next check finds no session to watch, and no further check is scheduled.
    assert (await api.delete(f"/v1/identities/{identity['uid']}/integrations/linkedin")).status_code == 204

    async def stopped() -> dict[str, Any] | None:
        health = await stack.health(pid)
        return None if health["enabled"] else health

    health = await poll(stopped, 60, "the health checks to stop")
    assert health["last_outcome"] == "NONE" and health["next_check_at"] is None


# --- expiry of an idle account --------------------------------------------------------------------------


async def test_an_idle_accounts_expiry_is_found_once_and_its_waiting_work_is_held(
    stack: Stack,
    api: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    receiver: Receiver,
) -> None:
    path = await hook_events(api, receiver)
    account = take(account_pool, stack)
    pid = int(account["linkedin_profile_id"])
    identity, _ = await connected_identity(api, sandbox, account)
    # A run that waits on a limit's window: one extraction a day, three inputs.
    limited = await api.put(
        f"/v1/identities/{identity['uid']}/limits", json={"limits": {"LK_PROFILE_ENRICHMENTS": 1}}
    )
    assert limited.status_code == 200, limited.text
    targets = await people(sandbox, limit=3, offset=200)
    run_uid = await start_async(api, identity["uid"], targets)
    await wait_run(api, run_uid, "SCHEDULED")

    await sandbox.post(f"/_sandbox/accounts/{account['id']}/expire-session")
    # Nothing uses the account: only the health check can find the expiry.
    await poll(
        lambda: _status_is(api, identity["uid"], "INVALID"), 60, "the health check to find the expiry"
    )
    blocked = await wait_run(api, run_uid, "BLOCKED")
    assert blocked["postponed_until"] is None
    rows = await inputs_of(api, run_uid)
    assert sorted(r["status"] for r in rows) == ["BLOCKED", "BLOCKED", "SUCCEEDED"], rows
    assert {r["error"]["error_label"] for r in rows if r["status"] == "BLOCKED"} == {"INTEGRATION_INVALID"}

    # Later checks see the integration INVALID and leave LinkedIn alone: no second event, no request.
    seen = await requests_seen(sandbox, account["id"])
    health = await stack.checks_after(pid, 2)
    assert health["last_outcome"] == "INVALID"
    assert await requests_seen(sandbox, account["id"]) == seen
    assert await event_count(api) == 2
    received = await wait_events(receiver, path, 2)
    assert [e["event"] for e in received] == ["AUTH_SUCCESS", "AUTH_EXPIRED"]

    # A reconnect releases the held inputs; the limit still refuses them, so they wait SCHEDULED again.
    reconnected = await api.post(
        f"/v1/identities/{identity['uid']}/integrations/linkedin",
        json={"auth_data": {"cookies": await fresh_cookies(sandbox, account["id"])}},
    )
    assert reconnected.status_code == 200, reconnected.text
    scheduled = await wait_run(api, run_uid, "SCHEDULED")
    assert scheduled["postponed_until"] is not None
    statuses = sorted(r["status"] for r in await inputs_of(api, run_uid))
    assert statuses == ["SCHEDULED", "SCHEDULED", "SUCCEEDED"]


async def _status_is(api: httpx.AsyncClient, identity_uid: str, status: str) -> bool:
    return (await integration_of(api, identity_uid))["status"] == status


# --- restriction ------------------------------------------------------------------------------------------


async def test_a_restriction_holds_the_work_and_its_lifting_resumes_it(
    stack: Stack,
    api: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    receiver: Receiver,
) -> None:
    path = await hook_events(api, receiver)
    account = take(account_pool, stack)
    pid = int(account["linkedin_profile_id"])
    identity, _ = await connected_identity(api, sandbox, account)
    targets = await people(sandbox, limit=3, offset=220)
    await sandbox.post(f"/_sandbox/accounts/{account['id']}/restrict")
    try:
        run_uid = await start_async(api, identity["uid"], targets[:2])
        await wait_run(api, run_uid, "BLOCKED")
        rows = await inputs_of(api, run_uid)
        assert [r["status"] for r in rows] == ["BLOCKED", "BLOCKED"], rows  # held, never failed
        assert {r["error"]["error_label"] for r in rows} == {"INTEGRATION_RESTRICTED"}
        assert (await integration_of(api, identity["uid"]))["status"] == "RESTRICTED"
        seen = await requests_seen(sandbox, account["id"])
        assert_error(await live_extract(api, identity["uid"], targets[2]), 424, "INTEGRATION_RESTRICTED")
        assert await requests_seen(sandbox, account["id"]) == seen  # refused without asking LinkedIn
        # The checks keep probing a restricted account (to see it lifted) without telling it again.
        assert (await stack.checks_after(pid, 2))["last_outcome"] == "RESTRICTED"
        assert await event_count(api) == 2  # AUTH_SUCCESS, RESTRICTED
    finally:
        await sandbox.post(f"/_sandbox/accounts/{account['id']}/unrestrict")

    done = await wait_run(api, run_uid, "SUCCEEDED")  # no reconnect, no resume: it goes on by itself
    assert done["output_count"] == 2
    assert (await integration_of(api, identity["uid"]))["status"] == "VALID"
    received = await wait_events(receiver, path, 3)
    assert [(e["event"], e["action_to_be_taken"]) for e in received] == [
        ("AUTH_SUCCESS", None),
        ("RESTRICTED", "WAIT"),
        ("AUTH_UPDATED", None),
    ]
    assert received[2]["status"] == "VALID"


# --- rotated cookies and a worker restart ---------------------------------------------------------------


async def test_a_jsessionid_rotated_by_a_write_is_stored_and_used_after_a_worker_restart(
    stack: Stack,
    api: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    sandbox_url: str,
    account_pool: AccountPool,
    engine: Engine,
    keyring: Keyring,
) -> None:
    account = take(account_pool, stack)
    identity, integration = await connected_identity(api, sandbox, account)
    minted = stored_session(engine, keyring, integration["uid"])
    targets = await people(sandbox, not_connected_to=account["id"], limit=2, offset=240)
    visit = await start_async(api, identity["uid"], targets[:1], action=VISIT)
    await wait_run(api, visit, "SUCCEEDED")

    # LinkedIn rotated the JSESSIONID on the write, and the store holds LinkedIn's current value.
    stored = stored_session(engine, keyring, integration["uid"])
    assert stored["li_at"] == minted["li_at"] and stored["JSESSIONID"] != minted["JSESSIONID"]
    me = "/voyager/api/me"
    assert (await as_browser(sandbox_url, minted, "GET", me)).status_code == 403
    assert (await as_browser(sandbox_url, stored, "GET", me)).status_code == 200

    # A new worker process knows nothing but the store: it goes on with the rotated session.
    await stack.stop_worker()
    await stack.start_worker()
    extract = await start_async(api, identity["uid"], targets[1:])
    done = await wait_run(api, extract, "SUCCEEDED")
    assert done["output_count"] == 1
    assert (await integration_of(api, identity["uid"]))["status"] == "VALID"

