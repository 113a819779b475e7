"""Sticky egress over the real stack: an API and a worker configured with a pool of two real HTTP forward
proxies on loopback (PyPI `proxy.py`, recording what passes through them), the Temporal dev server, and the
sandbox over HTTP.

LinkedIn is configured as `http://linkedin.egress.invalid:<sandbox port>`: a name only the proxies resolve
(to the sandbox). A request that bypassed its proxy cannot reach LinkedIn at all, so every successful
connect or run below is proof that all of that identity's traffic went through a proxy, and the proxies'
records show through which one. This stack has its own database, so its start-up assignment of proxies
sees only its own identities.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import select
from temporalio.client import Client

from db.engine import make_engine, session_scope
from db.migrate import upgrade
from db.models import EgressProxy, Identity, Integration
from edgewise.config import Settings
from edgewise.crypto import load_keyring
from edgewise.timeutil import utcnow
from edgewise.workspaces import create_workspace
from tests.api.helpers import assert_error
from tests.conftest import AccountPool
from tests.support.database import fresh_database
from tests.support.recording_proxy import RecordingProxy, recording_proxy
from tests.support.servers import free_port, serve_in_thread

LINKEDIN_HOST = "linkedin.egress.invalid"
ME_LIVE = "/v1/actions/linkedin-me/run/live"
EXTRACT_ASYNC = "/v1/actions/linkedin-extract-people/run/async"


@dataclass
class Stack:
    api_url: str
    engine: Engine
    settings: Settings
    api_key: str
    de: RecordingProxy
    fr: RecordingProxy
    de_id: str
    fr_id: str


@pytest.fixture(scope="module")
def proxies(session_tmp: Path) -> Iterator[tuple[RecordingProxy, RecordingProxy]]:
    workdir = session_tmp / f"egress-{uuid.uuid4().hex[:6]}"
    with ExitStack() as stack:
        de = stack.enter_context(recording_proxy(workdir, "de", {LINKEDIN_HOST: "127.0.0.1"}))
        fr = stack.enter_context(recording_proxy(workdir, "fr", {LINKEDIN_HOST: "127.0.0.1"}))
        yield de, fr


@pytest.fixture(scope="module")
async def stack(
    session_tmp: Path,
    settings: Settings,
    temporal_client: Client,
    sandbox_url: str,
    proxies: tuple[RecordingProxy, RecordingProxy],
) -> AsyncIterator[Stack]:
    from api.app import create_app
    from worker import build_worker

    de, fr = proxies
    suffix = uuid.uuid4().hex[:6]
    de_id, fr_id = f"de-{suffix}", f"fr-{suffix}"
    # Listed FR first and DE second, and "de-…" sorts before "fr-…": only the time-zone preference explains
    # a Paris identity getting FR and a Berlin one DE.
    pool = [{"id": fr_id, "url": fr.url, "country": "fr"}, {"id": de_id, "url": de.url, "country": "DE"}]
    with fresh_database(session_tmp) as database_url:
        upgrade(database_url)
        egress_settings = settings.model_copy(
            update={
                "database_url": database_url,
                "temporal_task_queue": f"egress-{suffix}",
                "api_port": free_port(),
                "linkedin_base_url": f"http://{LINKEDIN_HOST}:{urlsplit(sandbox_url).port}",
                # The sandbox is reachable through the proxies only; `test` would check it directly.
                "safety_profile": "standard",
                "egress_required": True,
                "egress_proxies": SecretStr(json.dumps(pool)),
            }
        )
        engine = make_engine(database_url)
        created = create_workspace(engine, load_keyring(egress_settings), "egress", "admin@example.test")
        try:
            async with build_worker(temporal_client, egress_settings):
                with serve_in_thread(create_app(egress_settings), port=egress_settings.api_port) as api_url:
                    yield Stack(api_url, engine, egress_settings, created.api_key, de, fr, de_id, fr_id)
        finally:
            engine.dispose()


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"X-API-Key": stack.api_key}
    async with httpx.AsyncClient(base_url=stack.api_url, headers=headers, timeout=60) as http:
        yield http


async def _identity(api: httpx.AsyncClient, name: str, timezone: str) -> dict[str, Any]:
    response = await api.post("/v1/identities", json={"name": name, "timezone": timezone})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _cookies(sandbox: httpx.AsyncClient, account: dict[str, Any]) -> dict[str, str]:
    response = await sandbox.post(f"/_sandbox/accounts/{account['id']}/sessions")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _connect(api: httpx.AsyncClient, identity_uid: str, cookies: dict[str, str]) -> httpx.Response:
    return await api.post(
        f"/v1/identities/{identity_uid}/integrations/linkedin", json={"auth_data": {"cookies": cookies}}
    )


def _traffic(proxy: RecordingProxy, li_at: str) -> list[dict[str, Any]]:
    return [r for r in proxy.requests() if r["li_at"] == li_at]


async def test_each_identity_uses_its_own_proxy_for_all_its_linkedin_traffic(
    stack: Stack, api: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    # Created Paris first: without the time-zone preference it would get "de-…", the first free by id.
    paris = await _identity(api, "Élodie Fournier", "Europe/Paris")
    berlin = await _identity(api, "Jürgen Groß", "Europe/Berlin")
    assert paris["egress"] == {"proxy_id": stack.fr_id, "country": "FR"}
    assert berlin["egress"] == {"proxy_id": stack.de_id, "country": "DE"}

    paris_cookies = await _cookies(sandbox, account_pool.take())
    berlin_cookies = await _cookies(sandbox, account_pool.take())
    for identity, cookies in ((paris, paris_cookies), (berlin, berlin_cookies)):
        connected = await _connect(api, identity["uid"], cookies)
        assert connected.status_code == 201, connected.text
        assert connected.json()["status"] == "VALID"

    # Live: each identity's own profile, through its own proxy.
    for identity in (paris, berlin):
        response = await api.post(ME_LIVE, json={"input": {}, "identity_ids": [identity["uid"]]})
        assert response.status_code == 200, response.text

    # Async: the worker's batches go through the proxy too.
    people = (await sandbox.get("/_sandbox/people", params={"limit": 1, "offset": 4000})).json()
    run = await api.post(
        EXTRACT_ASYNC,
        json={"inputs": [{"linkedin_profile_url": p["linkedin_profile_url"]} for p in people],
              "identity_ids": [berlin["uid"]]},
    )
    assert run.status_code == 202, run.text
    status = await _wait_for_run(api, run.json()["uid"])
    assert status == "SUCCEEDED"

    paris_li_at, berlin_li_at = paris_cookies["li_at"], berlin_cookies["li_at"]
    assert _traffic(stack.de, paris_li_at) == [] and _traffic(stack.fr, berlin_li_at) == []
    paris_paths = [r["path"] for r in _traffic(stack.fr, paris_li_at)]
    berlin_paths = [r["path"] for r in _traffic(stack.de, berlin_li_at)]
    # The connect's session check and the live call: /voyager/api/me, twice.
    assert paris_paths.count("/voyager/api/me") >= 2, paris_paths
    assert berlin_paths.count("/voyager/api/me") >= 2, berlin_paths
    # The async run's extraction went through the Berlin identity's proxy.
    assert [p for p in berlin_paths if p != "/voyager/api/me"], berlin_paths
    linkedin = (LINKEDIN_HOST, urlsplit(stack.settings.linkedin_base_url).port)
    for record in _traffic(stack.fr, paris_li_at) + _traffic(stack.de, berlin_li_at):
        assert (record["host"], record["port"]) == linkedin

    # Kept for life: a new time zone does not move the identity to another proxy.
    moved = await api.put(f"/v1/identities/{paris['uid']}", json={"timezone": "Europe/Berlin"})
    assert moved.status_code == 200 and moved.json()["egress"] == {"proxy_id": stack.fr_id, "country": "FR"}


async def test_no_free_proxy_means_no_connect_and_a_freed_one_waits_30_days(
    stack: Stack, api: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    await _release_all(stack)  # this test needs the pool in a known state: both proxies held
    first = await _identity(api, "Holder One", "Europe/Paris")
    second = await _identity(api, "Holder Two", "Europe/Berlin")
    assert {first["egress"]["proxy_id"], second["egress"]["proxy_id"]} == {stack.fr_id, stack.de_id}

    # The pool is used up: the identity exists, without egress, and cannot connect (EGRESS_REQUIRED).
    late = await _identity(api, "Zoë Late", "Europe/Berlin")
    assert late["egress"] is None
    cookies = await _cookies(sandbox, account_pool.take())
    assert_error(await _connect(api, late["uid"], cookies), 424, "NO_EGRESS_AVAILABLE")
    assert (await api.get(f"/v1/identities/{late['uid']}/integrations/linkedin")).status_code == 404
    assert _traffic(stack.de, cookies["li_at"]) == _traffic(stack.fr, cookies["li_at"]) == []

    # Deleting the Berlin holder frees its proxy, but not for another identity before 30 days.
    assert (await api.delete(f"/v1/identities/{second['uid']}")).status_code == 204
    assert_error(await _connect(api, late["uid"], cookies), 424, "NO_EGRESS_AVAILABLE")
    with session_scope(stack.engine) as session:
        row = session.get(EgressProxy, stack.de_id)
        assert row is not None and row.identity_uid is None and row.released_at is not None
        row.released_at = utcnow() - timedelta(days=30, minutes=1)
        session.add(row)

    # Thirty days later it goes to the next identity that needs one, and carries its traffic.
    connected = await _connect(api, late["uid"], cookies)
    assert connected.status_code == 201, connected.text
    shown = (await api.get(f"/v1/identities/{late['uid']}")).json()
    assert shown["egress"] == {"proxy_id": stack.de_id, "country": "DE"}
    assert [r["path"] for r in _traffic(stack.de, cookies["li_at"])] == ["/voyager/api/me"]
    assert _traffic(stack.fr, cookies["li_at"]) == []


async def test_managed_pool_accounts_get_their_own_proxy(
    stack: Stack,
    api: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    temporal_client: Client,
) -> None:
    """The operator's managed pool goes through the same egress: each pool account holds a proxy of its own,
    and one that cannot get a proxy (EGRESS_REQUIRED) is skipped, never connected from the host's address."""
    from edgewise.managed import PoolAccount, provision_pool
    from linkedin.protocol import SessionCookies

    await _release_all(stack)
    await _identity(api, "Customer", "Europe/Paris")  # holds FR: one proxy is left for the pool
    suffix = uuid.uuid4().hex[:6]
    accounts = []
    for index in range(2):
        cookies = await _cookies(sandbox, account_pool.take())
        accounts.append(
            PoolAccount(
                name=f"egress-pool-{index}-{suffix}",
                cookies=SessionCookies(li_at=cookies["li_at"], jsessionid=cookies["JSESSIONID"]),
            )
        )
    keyring = load_keyring(stack.settings)
    report = await provision_pool(stack.engine, keyring, stack.settings, temporal_client, accounts)
    try:
        assert report.connected == [accounts[0].name], report
        assert "NO_EGRESS_AVAILABLE" in report.failed[accounts[1].name]
        first, second = (a.cookies for a in accounts)
        assert first is not None and second is not None
        assert [r["path"] for r in _traffic(stack.de, first.li_at)] == ["/voyager/api/me"]
        assert _traffic(stack.de, second.li_at) == _traffic(stack.fr, second.li_at) == []

        people = (await sandbox.get("/_sandbox/people", params={"limit": 1, "offset": 4100})).json()
        response = await api.post(
            "/v1/actions/linkedin-extract-people/run/live",
            json={
                "input": {"linkedin_profile_url": people[0]["linkedin_profile_url"]},
                "identity_mode": "managed",
            },
        )
        assert response.status_code == 200, response.text
        assert len(_traffic(stack.de, first.li_at)) >= 2 and _traffic(stack.fr, first.li_at) == []
    finally:
        await provision_pool(stack.engine, keyring, stack.settings, temporal_client, [])


async def _release_all(stack: Stack) -> None:
    """Delete this stack's identities that hold a proxy, and make the proxies free again at once."""
    with session_scope(stack.engine) as session:
        for identity in session.exec(select(Identity).where(Identity.deleted_at.is_(None))).all():  # type: ignore[union-attr]
            identity.deleted_at = utcnow()
            identity.egress_proxy_id = identity.egress_country = None
            session.add(identity)
        for integration in session.exec(select(Integration)).all():
            integration.deleted_at = utcnow()
            session.add(integration)
        for row in session.exec(select(EgressProxy)).all():
            row.identity_uid, row.released_at = None, None
            session.add(row)


async def _wait_for_run(api: httpx.AsyncClient, run_uid: str, timeout: float = 60.0) -> str:
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while True:
        status = (await api.get(f"/v1/runs/{run_uid}/status")).json()["status"]
        if status in ("SUCCEEDED", "FAILED", "PARTIAL_SUCCEEDED") or time.monotonic() > deadline:
            return str(status)
        await asyncio.sleep(0.2)


async def test_a_live_call_gives_an_identity_left_without_a_proxy_a_free_one(
    stack: Stack, api: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    """An identity whose proxy went away (the operator removed it; here: taken from it in the database) and
    for which one is free again: its next live call takes the free proxy and goes through it, instead of
    a 424 NO_EGRESS_AVAILABLE until its next connect."""
    await _release_all(stack)
    identity = await _identity(api, "Left Without", "Europe/Paris")
    cookies = await _cookies(sandbox, account_pool.take())
    assert (await _connect(api, identity["uid"], cookies)).status_code == 201
    with session_scope(stack.engine) as session:
        for row in session.exec(select(EgressProxy)).all():
            row.identity_uid, row.released_at = None, None
            session.add(row)
        held = session.get(Identity, identity["uid"])
        assert held is not None
        held.egress_proxy_id = held.egress_country = None
        session.add(held)

    response = await api.post(ME_LIVE, json={"input": {}, "identity_ids": [identity["uid"]]})
    assert response.status_code == 200, response.text
    shown = (await api.get(f"/v1/identities/{identity['uid']}")).json()
    assert shown["egress"] == {"proxy_id": stack.fr_id, "country": "FR"}
    assert "/voyager/api/me" in [r["path"] for r in _traffic(stack.fr, cookies["li_at"])][1:]
