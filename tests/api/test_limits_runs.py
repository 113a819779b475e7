"""Smart Limits seen through runs (API.md §7): live refusals at once, exact counts under concurrency,
async work postponed (SCHEDULED) instead of failed, and the limits route agreeing with what happens."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.api.helpers import assert_error
from tests.conftest import AccountPool
from tests.support.flows import connected_identity

pytestmark = pytest.mark.usefixtures("worker")


async def strangers(
    sandbox: httpx.AsyncClient, account_id: Any, limit: int, offset: int = 0
) -> list[dict[str, Any]]:
    response = await sandbox.get(
        "/_sandbox/people", params={"not_connected_to": account_id, "limit": limit, "offset": offset}
    )
    return list(response.json())


async def test_100_concurrent_live_connects_with_25_left_give_exactly_25(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    targets = await strangers(sandbox, account["id"], 100, offset=100)

    async def connect(person: dict[str, Any]) -> httpx.Response:
        return await client.post(
            "/v1/actions/linkedin-connect-profile/run/live",
            json={
                "input": {"linkedin_profile_url": person["linkedin_profile_url"]},
                "identity_ids": [identity["uid"]],
            },
        )

    responses = await asyncio.gather(*(connect(p) for p in targets))
    codes = [r.status_code for r in responses]
    assert codes.count(200) == 25, codes
    refused = [r for r in responses if r.status_code == 429]
    assert len(refused) == 75
    for response in refused:
        body = assert_error(response, 429, "LIMIT_REACHED")
        assert body["params"]["limit"] == "LK_CONNECTION_REQUESTS"
        assert body["params"]["postponed_until"].endswith("Z")
    outbox = (await sandbox.get(f"/_sandbox/accounts/{account['id']}/outbox")).json()
    assert len(outbox["invitations"]) == 25
    view = (
        await client.get(f"/v1/identities/{identity['uid']}/actions/linkedin-connect-profile/limits")
    ).json()
    daily = next(limit for limit in view["limits"] if limit["slug"] == "LK_CONNECTION_REQUESTS")
    assert (daily["max_limit"], daily["consumed"], daily["remaining"], daily["has_reached_limit"]) == (
        25,
        25,
        0,
        True,
    )
    # Credits: 25 invitations sent; the 75 refusals cost nothing.
    assert (await client.get("/v1/workspace")).json()["credits_used"] == 25.0


async def test_an_async_run_beyond_the_budget_is_scheduled_not_failed(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    assert (
        await client.put(
            f"/v1/identities/{identity['uid']}/limits", json={"limits": {"LK_CONNECTION_REQUESTS": 3}}
        )
    ).status_code == 200
    targets = await strangers(sandbox, account["id"], 5, offset=300)
    response = await client.post(
        "/v1/actions/linkedin-connect-profile/run/async",
        json={
            "inputs": [{"linkedin_profile_url": p["linkedin_profile_url"]} for p in targets],
            "identity_ids": [identity["uid"]],
        },
    )
    assert response.status_code == 202, response.text
    run_uid = response.json()["uid"]
    run: dict[str, Any] = {}
    for _ in range(150):
        run = (await client.get(f"/v1/runs/{run_uid}")).json()
        if run["status"] == "SCHEDULED":
            break
        await asyncio.sleep(0.2)
    assert run["status"] == "SCHEDULED", run
    assert run["inputs_done"] == 3 and run["postponed_until"] is not None
    inputs = (await client.get(f"/v1/runs/{run_uid}/inputs")).json()
    scheduled = [row for row in inputs if row["status"] == "SCHEDULED"]
    assert len(scheduled) == 2 and all(row["postponed_until"] for row in scheduled)
    outbox = (await sandbox.get(f"/_sandbox/accounts/{account['id']}/outbox")).json()
    assert len(outbox["invitations"]) == 3
    view = (
        await client.get(f"/v1/identities/{identity['uid']}/actions/linkedin-connect-profile/limits")
    ).json()
    daily = next(limit for limit in view["limits"] if limit["slug"] == "LK_CONNECTION_REQUESTS")
    assert daily["remaining"] == 0 and daily["available_at"] is not None
    assert_error(
        await client.post(
            "/v1/actions/linkedin-connect-profile/run/live",
            json={
                "input": {"linkedin_profile_url": targets[4]["linkedin_profile_url"]},
                "identity_ids": [identity["uid"]],
            },
        ),
        429,
        "LIMIT_REACHED",
    )
    assert (await client.post(f"/v1/runs/{run_uid}/stop")).status_code == 200


async def test_reinviting_costs_nothing_and_reads_are_cut_to_what_remains(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    person = (await strangers(sandbox, account["id"], 1, offset=400))[0]
    body = {
        "input": {"linkedin_profile_url": person["linkedin_profile_url"]},
        "identity_ids": [identity["uid"]],
    }
    first = await client.post("/v1/actions/linkedin-connect-profile/run/live", json=body)
    assert first.status_code == 200 and first.json()[0]["invitation_sent"] is True
    spelled = {
        **body,
        "input": {"linkedin_profile_url": person["linkedin_profile_url"].replace("www.", "de.") + "/"},
    }
    again = await client.post("/v1/actions/linkedin-connect-profile/run/live", json=spelled)
    assert again.status_code == 200, again.text
    assert (again.json()[0]["invitation_sent"], again.json()[0]["pending"]) == (False, True)
    view = (
        await client.get(f"/v1/identities/{identity['uid']}/actions/linkedin-connect-profile/limits")
    ).json()
    assert next(lim for lim in view["limits"] if lim["slug"] == "LK_CONNECTION_REQUESTS")["consumed"] == 1
    assert (await client.get("/v1/workspace")).json()["credits_used"] == 1.0

    await client.put(f"/v1/identities/{identity['uid']}/limits", json={"limits": {"LK_SEARCH_RESULTS": 15}})
    search = {
        "input": {
            "linkedin_people_search_url": "https://www.linkedin.com/search/results/people/?keywords=engineer"
        },
        "identity_ids": [identity["uid"]],
    }
    page1 = await client.post("/v1/actions/linkedin-search-people/run/live", json=search)
    page2 = await client.post(page1.headers["X-Pagination-Next"], json=search)
    assert (len(page1.json()), len(page2.json())) == (10, 5)  # the second page is cut to what remains
    assert_error(await client.post(page2.headers["X-Pagination-Next"], json=search), 429, "LIMIT_REACHED")


async def test_with_several_identities_a_live_call_goes_to_the_most_remaining_budget(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    first_account, second_account = account_pool.take(), account_pool.take()
    first, _ = await connected_identity(client, sandbox, first_account, name="Busy Sender")
    second, _ = await connected_identity(client, sandbox, second_account, name="Fresh Sender")
    # The first identity has spent most of its (overridden) daily budget.
    await client.put(f"/v1/identities/{first['uid']}/limits", json={"limits": {"LK_PROFILE_VISITS": 3}})
    await client.put(f"/v1/identities/{second['uid']}/limits", json={"limits": {"LK_PROFILE_VISITS": 3}})
    people = await strangers(sandbox, first_account["id"], 4, offset=600)
    visit = "/v1/actions/linkedin-visit-profile/run/live"
    for person in people[:2]:
        done = await client.post(
            visit,
            json={
                "input": {"linkedin_profile_url": person["linkedin_profile_url"]},
                "identity_ids": [first["uid"]],
            },
        )
        assert done.status_code == 200, done.text
    both = await client.post(
        visit,
        json={
            "input": {"linkedin_profile_url": people[2]["linkedin_profile_url"]},
            "identity_ids": [first["uid"], second["uid"]],
        },
    )
    assert both.status_code == 200, both.text
    assert both.json()[0]["identity_uid"] == second["uid"]


async def test_async_runs_racing_on_one_account_never_exceed_its_budget(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    await client.put(
        f"/v1/identities/{identity['uid']}/limits", json={"limits": {"LK_CONNECTION_REQUESTS": 5}}
    )
    targets = await strangers(sandbox, account["id"], 24, offset=700)

    async def start(chunk: list[dict[str, Any]]) -> str:
        response = await client.post(
            "/v1/actions/linkedin-connect-profile/run/async",
            json={
                "inputs": [{"linkedin_profile_url": p["linkedin_profile_url"]} for p in chunk],
                "identity_ids": [identity["uid"]],
            },
        )
        assert response.status_code == 202, response.text
        return str(response.json()["uid"])

    runs = await asyncio.gather(*(start(targets[i : i + 8]) for i in range(0, 24, 8)))
    statuses: list[str] = []
    for _ in range(200):
        statuses = [(await client.get(f"/v1/runs/{uid}")).json()["status"] for uid in runs]
        if all(status == "SCHEDULED" for status in statuses):
            break
        await asyncio.sleep(0.2)
    assert statuses == ["SCHEDULED"] * 3, statuses
    outbox = (await sandbox.get(f"/_sandbox/accounts/{account['id']}/outbox")).json()
    assert len(outbox["invitations"]) == 5
    done = sum([(await client.get(f"/v1/runs/{uid}")).json()["inputs_done"] for uid in runs])
    assert done == 5
    for uid in runs:
        assert (await client.post(f"/v1/runs/{uid}/stop")).status_code == 200


async def test_linkedins_own_note_limit_blocks_noted_invitations_but_not_plain_ones(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    """Classic accounts: LinkedIn refuses the 4th noted invitation in 30 days, before the platform's own
    default of 5 — from then on noted invitations are refused locally while plain ones still go."""
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    people = await strangers(sandbox, account["id"], 6, offset=800)
    url = "/v1/actions/linkedin-connect-profile/run/live"

    def body(person: dict[str, Any], note: str | None) -> dict[str, Any]:
        return {
            "input": {"linkedin_profile_url": person["linkedin_profile_url"]},
            "identity_ids": [identity["uid"]],
            "parameters": {"message": note} if note else {},
        }

    for person in people[:3]:
        sent = await client.post(url, json=body(person, "Hi, let's connect"))
        assert sent.status_code == 200 and sent.json()[0]["invitation_sent"] is True, sent.text
    assert_error(await client.post(url, json=body(people[3], "Hi again")), 424, "CUSTOM_INVITE_LIMIT_REACHED")
    refused = assert_error(await client.post(url, json=body(people[4], "One more")), 429, "LIMIT_REACHED")
    assert refused["params"]["limit"] == "LK_CONNECTION_NOTES"
    plain = await client.post(url, json=body(people[5], None))
    assert plain.status_code == 200 and plain.json()[0]["invitation_sent"] is True, plain.text
    outbox = (await sandbox.get(f"/_sandbox/accounts/{account['id']}/outbox")).json()
    assert [bool(i["note"]) for i in outbox["invitations"]] == [True, True, True, False]
