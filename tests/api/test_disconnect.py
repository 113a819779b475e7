"""Disconnecting an identity's LinkedIn account (API.md §3 DELETE …/integrations/linkedin), over the real
API, Temporal dev server, database and sandbox: the account's work stops (its waiting inputs go BLOCKED,
nothing more reaches LinkedIn), and its Smart Limits windows stay — they belong to the LinkedIn account,
so connecting it again, to this identity or another, does not reset them."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.api.helpers import assert_error
from tests.conftest import AccountPool
from tests.support.flows import connected_identity, create_identity, fresh_cookies, sandbox_latency
from tests.support.logins import linkedin_url

pytestmark = pytest.mark.usefixtures("worker")

EXTRACT = "linkedin-extract-people"
VISIT = "linkedin-visit-profile"


async def targets(sandbox: httpx.AsyncClient, account_id: int, count: int) -> list[str]:
    response = await sandbox.get(
        "/_sandbox/people", params={"not_connected_to": account_id, "limit": count, "offset": 2000}
    )
    assert response.status_code == 200, response.text
    return [p["linkedin_profile_url"] for p in response.json()]


async def consumed(client: httpx.AsyncClient, identity_uid: str, slug: str, bucket: str) -> int:
    response = await client.get(f"/v1/identities/{identity_uid}/actions/{slug}/limits")
    assert response.status_code == 200, response.text
    (row,) = [limit for limit in response.json()["limits"] if limit["slug"] == bucket]
    return int(row["consumed"])


async def connect(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, identity_uid: str, account_id: int
) -> str:
    cookies = await fresh_cookies(sandbox, account_id)
    response = await client.post(linkedin_url(identity_uid), json={"auth_data": {"cookies": cookies}})
    assert response.status_code == 201, response.text
    return str(response.json()["uid"])


async def eventually(probe: Any, what: str, timeout: float = 60) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await probe()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def test_reconnecting_a_disconnected_account_keeps_its_limit_windows(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take()
    identity, integration = await connected_identity(client, sandbox, account)
    (url,) = await targets(sandbox, account["id"], 1)
    live = await client.post(
        f"/v1/actions/{EXTRACT}/run/live",
        json={"input": {"linkedin_profile_url": url}, "identity_ids": [identity["uid"]]},
    )
    assert live.status_code == 200, live.text
    assert await consumed(client, identity["uid"], EXTRACT, "LK_PROFILE_ENRICHMENTS") == 1

    assert (await client.delete(linkedin_url(identity["uid"]))).status_code == 204
    # Nothing runs as the identity any more: a live call is refused before LinkedIn.
    refused = await client.post(
        f"/v1/actions/{EXTRACT}/run/live",
        json={"input": {"linkedin_profile_url": url}, "identity_ids": [identity["uid"]]},
    )
    assert_error(refused, 424, "INTEGRATION_INVALID")

    # The same LinkedIn account again, as a new integration: its windows are the account's, unchanged.
    again = await connect(client, sandbox, identity["uid"], account["id"])
    assert again != integration["uid"]
    assert await consumed(client, identity["uid"], EXTRACT, "LK_PROFILE_ENRICHMENTS") == 1
    # …and they follow the account to another identity.
    assert (await client.delete(linkedin_url(identity["uid"]))).status_code == 204
    elsewhere = await create_identity(client, "Next Owner")
    await connect(client, sandbox, elsewhere["uid"], account["id"])
    assert await consumed(client, elsewhere["uid"], EXTRACT, "LK_PROFILE_ENRICHMENTS") == 1


async def test_disconnecting_stops_the_accounts_work(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    urls = await targets(sandbox, account["id"], 12)

    async def visits() -> list[dict[str, Any]]:
        outbox = await sandbox.get(f"/_sandbox/accounts/{account['id']}/outbox")
        return list(outbox.json()["visits"])

    # Slow visits, so the disconnect lands in the middle of the run.
    async with sandbox_latency(sandbox, account["id"], 600, scope="writes"):
        started = await client.post(
            f"/v1/actions/{VISIT}/run/async",
            json={"inputs": [{"linkedin_profile_url": u} for u in urls], "identity_ids": [identity["uid"]]},
        )
        assert started.status_code == 202, started.text
        run_uid = started.json()["uid"]
        await eventually(visits, "a first visit")
        assert (await client.delete(linkedin_url(identity["uid"]))).status_code == 204

        async def blocked() -> dict[str, Any] | None:
            run = (await client.get(f"/v1/runs/{run_uid}")).json()
            return dict(run) if run["status"] == "BLOCKED" else None

        await eventually(blocked, "the run to be BLOCKED")

    rows = (await client.get(f"/v1/runs/{run_uid}/inputs", params={"limit": 100})).json()
    by_status: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_status.setdefault(row["status"], []).append(row)
    assert set(by_status) == {"SUCCEEDED", "BLOCKED"}, {s: len(r) for s, r in by_status.items()}
    assert all(r["error"]["error_label"] == "INTEGRATION_INVALID" for r in by_status["BLOCKED"])
    # What LinkedIn received is exactly the visits that succeeded: nothing went after the disconnect.
    assert len(await visits()) == len(by_status["SUCCEEDED"]) < len(urls)
