"""The managed pool (API.md §4, `identity_mode: "managed"`): provisioning platform-owned accounts through the
cookie-connect workflow, and managed live and async runs over the real stack (API over HTTP, Temporal,
worker, sandbox over HTTP).

The pool is one per platform (database), so these tests provision it explicitly and empty it afterwards.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client

from db.models import Identity, Integration, LedgerEntry, Run, RunIdentity, RunInput
from edgewise.config import Settings
from edgewise.crypto import Keyring
from edgewise.managed import (
    MANAGED_WORKSPACE_UID,
    PoolAccount,
    PoolConfigError,
    PoolReport,
    parse_pool,
    pool_identity_uid,
    provision_on_start,
    provision_pool,
)
from linkedin.protocol import SessionCookies
from tests.api.helpers import assert_error
from tests.conftest import AccountPool
from tests.support.webhook_receiver import running_receiver

pytestmark = pytest.mark.usefixtures("worker")

CLASSIC_1, CLASSIC_2, NAVIGATOR = "pool-classic-one", "pool-classic-two", "pool-navigator"
EXTRACT_LIVE = "/v1/actions/linkedin-extract-people/run/live"
SEARCH = "https://www.linkedin.com/search/results/people/?keywords=a"
PROFILE = "https://www.linkedin.com/in/someone-1"
SN_SEARCH = "https://www.linkedin.com/sales/search/people?query=(keywords:engineer)"


# --- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def pool_accounts(sandbox_url: str, account_pool: AccountPool) -> dict[str, PoolAccount]:
    """Three sandbox accounts for the pool (two classic, one Sales Navigator), with fresh cookies."""
    taken = {
        CLASSIC_1: account_pool.take(),
        CLASSIC_2: account_pool.take(),
        NAVIGATOR: account_pool.take("sales_navigator"),
    }
    accounts: dict[str, PoolAccount] = {}
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=30) as sandbox:
        for name, account in taken.items():
            minted = await sandbox.post(f"/_sandbox/accounts/{account['id']}/sessions")
            assert minted.status_code == 200, minted.text
            data = minted.json()
            cookies = SessionCookies(li_at=data["li_at"], jsessionid=data["JSESSIONID"])
            accounts[name] = PoolAccount(name=name, cookies=cookies)
    return accounts


@pytest.fixture
def provision(
    engine: Engine, keyring: Keyring, settings: Settings, temporal_client: Client
) -> Any:
    async def run(accounts: list[PoolAccount]) -> PoolReport:
        return await provision_pool(engine, keyring, settings, temporal_client, accounts)

    return run


@pytest.fixture
async def managed_pool(
    provision: Any, pool_accounts: dict[str, PoolAccount]
) -> AsyncIterator[dict[str, str]]:
    """The full pool provisioned (name → its identity uid); emptied afterwards."""
    report = await provision(list(pool_accounts.values()))
    assert report.failed == {}, report
    yield {name: pool_identity_uid(name) for name in pool_accounts}
    await provision([])


@pytest.fixture
async def no_tolerances(sandbox: httpx.AsyncClient) -> AsyncIterator[None]:
    await sandbox.put("/_sandbox/tolerances", json={"enabled": False})
    yield
    await sandbox.put("/_sandbox/tolerances", json={"enabled": True})


async def wait_run(client: httpx.AsyncClient, run_uid: str, timeout: float = 90) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        run = (await client.get(f"/v1/runs/{run_uid}")).json()
        if run["status"] in ("SUCCEEDED", "FAILED", "PARTIAL_SUCCEEDED"):
            return dict(run)
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"run stayed {run['status']}: {run}")
        await asyncio.sleep(0.25)


async def all_rows(client: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    url: str | None = f"{path}?limit=500"
    while url:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        rows.extend(response.json())
        url = response.headers.get("X-Pagination-Next") if response.json() else None
    return rows


async def a_profile(sandbox: httpx.AsyncClient, offset: int) -> str:
    response = await sandbox.get("/_sandbox/people", params={"limit": 1, "offset": offset})
    return str(response.json()[0]["linkedin_profile_url"])


def ledger_identities(engine: Engine, run_uid: str) -> set[str | None]:
    with Session(engine) as session:
        return set(session.exec(select(LedgerEntry.identity_uid).where(LedgerEntry.run_uid == run_uid)).all())


def stored_run(engine: Engine, run_uid: str) -> Run:
    with Session(engine) as session:
        run = session.get(Run, run_uid)
        assert run is not None
        return run


# --- provisioning ---------------------------------------------------------------------------------------


async def test_provisioning_connects_the_pool_idempotently_in_a_hidden_workspace(
    provision: Any,
    pool_accounts: dict[str, PoolAccount],
    managed_pool: dict[str, str],
    client: httpx.AsyncClient,
    engine: Engine,
    keyring: Keyring,
) -> None:
    with Session(engine) as session:
        integrations = session.exec(
            select(Integration).where(
                Integration.workspace_uid == MANAGED_WORKSPACE_UID, col(Integration.deleted_at).is_(None)
            )
        ).all()
        by_identity = {i.identity_uid: i for i in integrations}
        assert set(by_identity) == set(managed_pool.values())
        assert {i.status for i in integrations} == {"VALID"}
        assert by_identity[managed_pool[NAVIGATOR]].level == "sales_navigator"
        # Stored encrypted, exactly like a customer's cookies.
        for integration in integrations:
            assert integration.cookies_enc
            assert pool_accounts[NAVIGATOR].cookies.li_at not in integration.cookies_enc  # type: ignore[union-attr]

    again = await provision(list(pool_accounts.values()))
    assert sorted(again.kept) == sorted(pool_accounts) and not again.connected and not again.failed

    # Invisible to customers: not listed, not found, not usable directly.
    listed = await client.get("/v1/identities", params={"limit": 100})
    assert listed.status_code == 200 and listed.json() == []
    for uid in managed_pool.values():
        assert_error(await client.get(f"/v1/identities/{uid}"), 404, "NOT_FOUND")
        assert_error(await client.get(f"/v1/identities/{uid}/integrations/linkedin"), 404, "NOT_FOUND")
        assert_error(
            await client.post(
                EXTRACT_LIVE,
                json={"input": {"linkedin_profile_url": PROFILE}, "identity_ids": [uid]},
            ),
            404,
            "NOT_FOUND",
        )


async def test_removed_entries_are_disconnected_and_refused_ones_skipped(
    provision: Any,
    pool_accounts: dict[str, PoolAccount],
    managed_pool: dict[str, str],
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bogus = PoolAccount("pool-bogus", SessionCookies(li_at="not-a-session-9f3c", jsessionid="ajax:0"))
    with caplog.at_level(logging.DEBUG):
        report = await provision([pool_accounts[CLASSIC_1], pool_accounts[NAVIGATOR], bogus])
    assert report.kept == [CLASSIC_1, NAVIGATOR]
    assert list(report.failed) == ["pool-bogus"] and report.disconnected == [CLASSIC_2]
    assert "not-a-session-9f3c" not in caplog.text and "pool-bogus" in caplog.text
    with Session(engine) as session:
        removed = session.exec(
            select(Integration).where(Integration.identity_uid == managed_pool[CLASSIC_2])
        ).all()
        assert removed and all(i.deleted_at is not None and i.cookies_enc is None for i in removed)
        bogus_live = session.exec(
            select(Integration).where(
                Integration.identity_uid == pool_identity_uid("pool-bogus"),
                col(Integration.deleted_at).is_(None),
            )
        ).first()
        assert bogus_live is None

    back = await provision(list(pool_accounts.values()))
    assert back.connected == [CLASSIC_2] and not back.failed


def test_the_pool_configuration_is_checked_without_echoing_secrets() -> None:
    good = json.dumps(
        [
            {"name": "acct-one", "cookies": {"li_at": "AQE-secret", "JSESSIONID": '"ajax:123"'}},
            {
                "name": "acct-two",
                "cookies": {"li_at": "x", "JSESSIONID": "ajax:9", "li_a": "y"},
                "user_agent": "UA",
            },
        ]
    )
    one, two = parse_pool(good)
    assert (one.name, one.cookies.jsessionid) == ("acct-one", "ajax:123")  # type: ignore[union-attr]
    assert (two.cookies.li_a, two.cookies.user_agent) == ("y", "UA")  # type: ignore[union-attr]
    for bad, where in [
        ("{not json", "not valid JSON"),
        ('{"name": "x"}', "JSON list"),
        ('[{"name": "acct", "cookies": {"li_at": "AQE-secret"}}]', "MANAGED_POOL[0].cookies.JSESSIONID"),
        ('[{"name": "acct", "cookies": {"li_at": "s", "JSESSIONID": "j"}, "pw": "AQE-secret"}]', "pw"),
    ]:
        with pytest.raises(PoolConfigError) as caught:
            parse_pool(bad)
        assert where in str(caught.value) and "AQE-secret" not in str(caught.value)


async def test_the_api_start_provisions_the_configured_pool(
    settings: Settings,
    engine: Engine,
    keyring: Keyring,
    temporal_client: Client,
    pool_accounts: dict[str, PoolAccount],
    provision: Any,
) -> None:
    state = SimpleNamespace(
        settings=settings, engine=engine, keyring=keyring, temporal_client=temporal_client
    )
    assert await provision_on_start(SimpleNamespace(state=state)) is None  # nothing configured: untouched

    account = pool_accounts[CLASSIC_1]
    assert account.cookies is not None
    cookies = {"li_at": account.cookies.li_at, "JSESSIONID": account.cookies.jsessionid}
    inline = json.dumps([{"name": CLASSIC_1, "cookies": cookies}])
    configured = settings.model_copy(update={"managed_pool": SecretStr(inline)})
    state.settings = configured
    try:
        report = await provision_on_start(SimpleNamespace(state=state))
        assert report is not None and report.connected == [CLASSIC_1], report
        broken = settings.model_copy(update={"managed_pool": SecretStr("[{")})
        state.settings = broken
        assert await provision_on_start(SimpleNamespace(state=state)) is None  # logged, pool untouched
        with Session(engine) as session:
            assert session.exec(
                select(Integration).where(
                    Integration.identity_uid == pool_identity_uid(CLASSIC_1),
                    col(Integration.deleted_at).is_(None),
                )
            ).one().status == "VALID"
    finally:
        await provision([])


async def test_make_dev_can_fill_the_pool_from_the_sandbox(
    settings: Settings, engine: Engine, keyring: Keyring, temporal_client: Client, provision: Any
) -> None:
    configured = settings.model_copy(update={"managed_pool_sandbox_accounts": 2})
    app = SimpleNamespace(
        state=SimpleNamespace(
            settings=configured, engine=engine, keyring=keyring, temporal_client=temporal_client
        )
    )
    try:
        report = await provision_on_start(app)
        assert report is not None and len(report.connected) == 2 and not report.failed, report
        with Session(engine) as session:
            levels = session.exec(
                select(Integration.level).where(
                    col(Integration.identity_uid).in_([pool_identity_uid(n) for n in report.connected]),
                    col(Integration.deleted_at).is_(None),
                )
            ).all()
        assert "sales_navigator" in levels
        again = await provision_on_start(app)  # a restart: VALID sessions are kept, none minted
        assert again is not None and sorted(again.kept) == sorted(report.connected)
    finally:
        await provision([])


# --- managed runs ---------------------------------------------------------------------------------------


async def test_live_managed_extract_runs_as_the_pool_and_costs_one_and_a_half(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, managed_pool: dict[str, str], engine: Engine
) -> None:
    profile = await a_profile(sandbox, 41)
    response = await client.post(
        EXTRACT_LIVE, json={"input": {"linkedin_profile_url": profile}, "identity_mode": "managed"}
    )
    assert response.status_code == 200, response.text
    assert len(response.json()) == 1
    run_uid = response.headers["X-Run-Uid"]
    run = (await client.get(f"/v1/runs/{run_uid}")).json()
    assert (run["identity_mode"], run["status"], run["credits_used"]) == ("managed", "SUCCEEDED", 1.5)
    assert (await client.get("/v1/workspace")).json()["credits_used"] == 1.5
    assert ledger_identities(engine, run_uid) <= set(managed_pool.values())


async def test_async_managed_search_runs_across_the_pool(
    client: httpx.AsyncClient, managed_pool: dict[str, str], engine: Engine, no_tolerances: None
) -> None:
    inputs = [{"linkedin_people_search_url": f"{SEARCH}&n={i}"} for i in range(120)]
    response = await client.post(
        "/v1/actions/linkedin-search-people/run/async",
        json={"inputs": inputs, "identity_mode": "managed", "parameters": {"max_results": 10}},
    )
    assert response.status_code == 202, response.text
    done = await wait_run(client, response.json()["uid"], timeout=180)
    assert done["status"] == "SUCCEEDED", done
    assert done["output_count"] == 1200
    assert done["credits_used"] == 180.0  # 0.1 × 1200 results × 1.5
    used = ledger_identities(engine, done["uid"])
    assert used <= set(managed_pool.values()) and len(used) >= 2, used


async def test_sales_navigator_search_uses_only_the_navigator_account(
    client: httpx.AsyncClient, managed_pool: dict[str, str], engine: Engine
) -> None:
    body: dict[str, Any] = {
        "input": {"sales_navigator_profile_search_url": SN_SEARCH},
        "identity_mode": "managed",
        "parameters": {"max_results": 25},
    }
    live = await client.post("/v1/actions/salesnavigator-search-people/run/live", json=body)
    assert live.status_code == 200, live.text
    assert len(live.json()) == 25
    assert stored_run(engine, live.headers["X-Run-Uid"]).identity_ids == [managed_pool[NAVIGATOR]]

    inputs = [{"sales_navigator_profile_search_url": f"{SN_SEARCH}&n={i}"} for i in range(6)]
    response = await client.post(
        "/v1/actions/salesnavigator-search-people/run/async",
        json={"inputs": inputs, "identity_mode": "managed", "parameters": {"max_results": 25}},
    )
    assert response.status_code == 202, response.text
    done = await wait_run(client, response.json()["uid"])
    assert done["status"] == "SUCCEEDED" and done["output_count"] == 150, done
    assert ledger_identities(engine, done["uid"]) == {managed_pool[NAVIGATOR]}


async def test_managed_mode_is_refused_for_outreach_and_with_identity_ids(
    client: httpx.AsyncClient, managed_pool: dict[str, str]
) -> None:
    profile = PROFILE
    for mode in ("live", "async"):
        payload: dict[str, Any] = {"identity_mode": "managed"}
        if mode == "live":
            payload["input"] = {"linkedin_profile_url": profile}
        else:
            payload["inputs"] = [{"linkedin_profile_url": profile}]
        assert_error(
            await client.post(f"/v1/actions/linkedin-connect-profile/run/{mode}", json=payload),
            400,
            "BAD_INPUT",
            "identity_mode",
        )
    own = (await client.post("/v1/identities", json={"name": "Own Identity"})).json()
    assert_error(
        await client.post(
            EXTRACT_LIVE,
            json={
                "input": {"linkedin_profile_url": profile},
                "identity_mode": "managed",
                "identity_ids": [own["uid"]],
            },
        ),
        400,
        "BAD_INPUT",
        "identity_ids",
    )
    assert (await client.get("/v1/runs")).headers["X-Total-Count"] == "0"


async def test_without_a_usable_pool_live_is_424_and_async_inputs_fail(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    provision: Any,
    pool_accounts: dict[str, PoolAccount],
) -> None:
    await provision([])
    profile = await a_profile(sandbox, 43)
    assert_error(
        await client.post(
            EXTRACT_LIVE, json={"input": {"linkedin_profile_url": profile}, "identity_mode": "managed"}
        ),
        424,
        "NO_VALID_ACCOUNT_CONFIGURED",
    )
    response = await client.post(
        "/v1/actions/linkedin-extract-people/run/async",
        json={"inputs": [{"linkedin_profile_url": profile}], "identity_mode": "managed"},
    )
    assert response.status_code == 202, response.text
    done = await wait_run(client, response.json()["uid"])
    assert done["status"] == "FAILED" and done["credits_used"] == 0
    [row] = await all_rows(client, f"/v1/runs/{done['uid']}/inputs")
    assert (row["status"], row["error"]["error_label"]) == ("FAILED", "NO_VALID_ACCOUNT_CONFIGURED")

    # A pool without Sales Navigator: the same for a Sales Navigator search.
    try:
        await provision([pool_accounts[CLASSIC_1]])
        sn = {"sales_navigator_profile_search_url": SN_SEARCH}
        assert_error(
            await client.post(
                "/v1/actions/salesnavigator-search-people/run/live",
                json={"input": sn, "identity_mode": "managed"},
            ),
            424,
            "NO_VALID_ACCOUNT_CONFIGURED",
        )
        response = await client.post(
            "/v1/actions/salesnavigator-search-people/run/async",
            json={"inputs": [sn], "identity_mode": "managed"},
        )
        done = await wait_run(client, response.json()["uid"])
        [row] = await all_rows(client, f"/v1/runs/{done['uid']}/inputs")
        assert (row["status"], row["error"]["error_label"]) == ("FAILED", "NO_VALID_ACCOUNT_CONFIGURED")
    finally:
        await provision([])


async def test_a_managed_live_search_pages_on_as_managed(
    client: httpx.AsyncClient, managed_pool: dict[str, str], engine: Engine
) -> None:
    body = {"input": {"linkedin_people_search_url": f"{SEARCH}&n=paging"}, "identity_mode": "managed"}
    first = await client.post("/v1/actions/linkedin-search-people/run/live", json=body)
    assert first.status_code == 200, first.text
    second = await client.post(first.headers["X-Pagination-Next"], json=body)
    assert second.status_code == 200, second.text
    assert {r["linkedin_profile_id"] for r in first.json()}.isdisjoint(
        r["linkedin_profile_id"] for r in second.json()
    )
    runs = [stored_run(engine, r.headers["X-Run-Uid"]) for r in (first, second)]
    assert [r.identity_mode for r in runs] == ["managed", "managed"]
    assert runs[0].identity_ids == runs[1].identity_ids and runs[0].identity_ids[0] in managed_pool.values()
    assert [r.credits_used_cents for r in runs] == [150, 150]  # 0.1 × 10 results × 1.5 each


async def test_managed_runs_do_not_expose_pool_identity_uids(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, managed_pool: dict[str, str], engine: Engine
) -> None:
    pool_uids = set(managed_pool.values())
    profile = await a_profile(sandbox, 45)
    live = await client.post(
        EXTRACT_LIVE, json={"input": {"linkedin_profile_url": profile}, "identity_mode": "managed"}
    )
    assert live.status_code == 200, live.text
    with running_receiver() as receiver:
        url, path = receiver.url_for()
        started = await client.post(
            "/v1/actions/linkedin-extract-people/run/async",
            json={
                "inputs": [{"linkedin_profile_url": await a_profile(sandbox, 46)}],
                "identity_mode": "managed",
                "callback": {"url": url, "on": "all"},
            },
        )
        assert started.status_code == 202 and started.json()["identity_ids"] == []
        done = await wait_run(client, started.json()["uid"])
        assert done["status"] == "SUCCEEDED"
        posts = [json.loads(r.body) for r in await receiver.wait_for(path, 2, timeout=30)]
    assert [row["identity_uid"] for post in posts for row in post["data"]] == [None]

    seen: list[Any] = [live.json(), started.json(), posts]
    for run_uid in (live.headers["X-Run-Uid"], done["uid"]):
        run = (await client.get(f"/v1/runs/{run_uid}")).json()
        assert run["identity_mode"] == "managed" and run["identity_ids"] == [], run
        inputs = await all_rows(client, f"/v1/runs/{run_uid}/inputs")
        outputs = await all_rows(client, f"/v1/runs/{run_uid}/outputs")
        assert inputs and outputs
        assert {r["identity_uid"] for r in inputs + outputs} == {None}
        seen += [run, inputs, outputs]
    seen.append((await client.get("/v1/runs", params={"limit": 100})).json())
    text = json.dumps(seen)
    assert not [uid for uid in pool_uids if uid in text]
    # A pool uid is no handle on the customer's runs either.
    for uid in pool_uids:
        listed = await client.get("/v1/runs", params={"identity_uid": uid})
        assert listed.headers["X-Total-Count"] == "0"
    with Session(engine) as session:
        assert session.exec(
            select(RunIdentity).where(col(RunIdentity.identity_uid).in_(list(pool_uids)))
        ).first() is None
        # Internally the inputs know which pool account ran them.
        ran = session.exec(select(RunInput.identity_uid).where(RunInput.run_uid == done["uid"])).all()
        assert set(ran) <= pool_uids
        assert session.exec(
            select(Identity).where(
                col(Identity.uid).in_(list(pool_uids)), Identity.workspace_uid != MANAGED_WORKSPACE_UID
            )
        ).first() is None
