"""Live and async runs through the HTTP API, against the sandbox over real HTTP and a real Temporal server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.helpers import assert_error
from tests.conftest import AccountPool
from tests.support.flows import connected_identity, create_identity, sandbox_latency
from tests.support.history import decoded_history, history_text
from tests.support.webhook_receiver import Receiver, running_receiver

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
async def no_tolerances(sandbox: httpx.AsyncClient) -> Any:
    """Bulk tests run faster than LinkedIn's 120 requests/minute; the throttling path has its own test."""
    await sandbox.put("/_sandbox/tolerances", json={"enabled": False})
    yield
    await sandbox.put("/_sandbox/tolerances", json={"enabled": True})


async def people(sandbox: httpx.AsyncClient, **query: Any) -> list[dict[str, Any]]:
    response = await sandbox.get("/_sandbox/people", params=query)
    assert response.status_code == 200, response.text
    return list(response.json())


async def wait_run(
    client: httpx.AsyncClient, run_uid: str, statuses: set[str], timeout: float = 60
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        run = (await client.get(f"/v1/runs/{run_uid}")).json()
        if run["status"] in statuses:
            return dict(run)
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"run stayed {run['status']}: {run}")
        await asyncio.sleep(0.25)


async def all_pages(client: httpx.AsyncClient, path: str, limit: int = 100) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    url: str | None = f"{path}?limit={limit}"
    while url:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        page = response.json()
        rows.extend(page)
        url = response.headers.get("X-Pagination-Next") if page else None
    return rows


async def test_live_extract_returns_the_profile_and_records_the_run(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    target = (await people(sandbox, limit=1, offset=17))[0]
    spelled = target["linkedin_profile_url"].replace("https://www.", "") + "/?trk=abc"
    response = await client.post(
        "/v1/actions/linkedin-extract-people/run/live",
        json={
            "input": {"linkedin_profile_url": spelled, "custom_data": {"crm_id": 7}},
            "identity_ids": [identity["uid"]],
            "parameters": {"sections": ["skills"]},
        },
    )
    assert response.status_code == 200, response.text
    [row] = response.json()
    assert row["linkedin_profile_id"] == target["linkedin_profile_id"]
    assert row["linkedin_profile_urn"] == target["linkedin_profile_urn"]
    assert row["custom_data"] == {"crm_id": 7}
    assert isinstance(row["skills"], list)
    assert row["extracted_at"].endswith("Z")
    run = (await client.get(f"/v1/runs/{response.headers['X-Run-Uid']}")).json()
    assert (run["execution_mode"], run["status"], run["output_count"]) == ("LIVE", "SUCCEEDED", 1)
    assert run["credits_used"] == 1.0
    workspace = (await client.get("/v1/workspace")).json()
    assert workspace["credits_used"] == 1.0


async def test_live_search_pages_with_a_cursor(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    body = {
        "input": {
            "linkedin_people_search_url": "https://www.linkedin.com/search/results/people/?keywords=engineer"
        },
        "identity_ids": [identity["uid"]],
    }
    first = await client.post("/v1/actions/linkedin-search-people/run/live", json=body)
    assert first.status_code == 200, first.text
    assert len(first.json()) == 10
    next_url = first.headers["X-Pagination-Next"]
    assert "/v1/actions/linkedin-search-people/run/live?cursor=" in next_url
    second = await client.post(next_url, json=body)
    assert second.status_code == 200, second.text
    ids_first = {r["linkedin_profile_id"] for r in first.json()}
    ids_second = {r["linkedin_profile_id"] for r in second.json()}
    assert len(ids_second) == 10 and not ids_first & ids_second
    assert second.headers["X-Run-Uid"] != first.headers["X-Run-Uid"]  # each page is its own LIVE run

    other = {
        **body,
        "input": {
            "linkedin_people_search_url": "https://www.linkedin.com/search/results/people/?keywords=manager"
        },
    }
    assert_error(await client.post(next_url, json=other), 400, "BAD_INPUT", "cursor")
    tampered = next_url.replace("cursor=", "cursor=x")
    assert_error(await client.post(tampered, json=body), 400, "BAD_INPUT", "cursor")


async def test_async_extraction_of_200_profiles_reaches_the_callback(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    receiver: Receiver,
    no_tolerances: None,
) -> None:
    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    targets = await people(sandbox, limit=200, offset=300)
    url, path = receiver.url_for()
    inputs = [
        {"linkedin_profile_url": p["linkedin_profile_url"], "custom_data": {"n": i}}
        for i, p in enumerate(targets)
    ]
    inputs.append({"linkedin_profile_url": targets[0]["linkedin_profile_url"] + "/"})  # a duplicate spelling
    response = await client.post(
        "/v1/actions/linkedin-extract-people/run/async",
        json={
            "inputs": inputs,
            "identity_ids": [identity["uid"]],
            "label": "crm sync",
            "callback": {"url": url, "headers": {"Authorization": "Bearer caller"}, "on": "all"},
        },
    )
    assert response.status_code == 202, response.text
    run = response.json()
    assert run["execution_mode"] == "ASYNC" and run["inputs_count"] == 201 and run["label"] == "crm sync"
    done = await wait_run(client, run["uid"], {"SUCCEEDED", "FAILED", "PARTIAL_SUCCEEDED"})
    assert done["status"] == "SUCCEEDED" and done["output_count"] == 200

    outputs = await all_pages(client, f"/v1/runs/{run['uid']}/outputs", limit=77)
    assert len(outputs) == 200
    assert {o["linkedin_profile_id"] for o in outputs} == {t["linkedin_profile_id"] for t in targets}
    inputs_rows = await all_pages(client, f"/v1/runs/{run['uid']}/inputs", limit=500)
    assert len(inputs_rows) == 200 and all(r["status"] == "SUCCEEDED" for r in inputs_rows)

    posts = [json.loads(r.body) for r in await receiver.wait_for(path, 3, timeout=30)]
    deadline = asyncio.get_running_loop().time() + 30
    while not any(p["data"] == [] and p["run"]["status"] == "SUCCEEDED" for p in posts):
        assert asyncio.get_running_loop().time() < deadline, posts
        await asyncio.sleep(0.3)
        posts = [json.loads(r.body) for r in receiver.received(path)]
    delivered = [row for p in posts for row in p["data"]]
    assert len(delivered) == 200 and all(len(p["data"]) <= 100 for p in posts)
    assert {row["linkedin_profile_id"] for row in delivered} == {t["linkedin_profile_id"] for t in targets}
    assert all(r.headers["authorization"] == "Bearer caller" for r in receiver.received(path))


async def test_message_is_sent_exactly_once_per_input(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    friends = await people(sandbox, connected_to=account["id"], limit=3)
    stranger = (await people(sandbox, not_connected_to=account["id"], limit=1))[0]
    response = await client.post(
        "/v1/actions/linkedin-message-profile/run/async",
        json={
            "inputs": [{"linkedin_profile_url": f["linkedin_profile_url"]} for f in friends]
            + [{"linkedin_profile_url": stranger["linkedin_profile_url"]}],
            "identity_ids": [identity["uid"]],
            "parameters": {"message": "Grüße, Zoë! 👋"},
        },
    )
    assert response.status_code == 202, response.text
    done = await wait_run(client, response.json()["uid"], {"SUCCEEDED", "FAILED", "PARTIAL_SUCCEEDED"})
    assert done["status"] == "PARTIAL_SUCCEEDED"
    rows = await all_pages(client, f"/v1/runs/{done['uid']}/inputs")
    failed = [r for r in rows if r["status"] == "FAILED"]
    assert len(failed) == 1 and failed[0]["error"]["error_label"] == "NOT_CONNECTED"
    outbox = (await sandbox.get(f"/_sandbox/accounts/{account['id']}/outbox")).json()
    sent_to = [m["to_urn"] for m in outbox["messages"]]
    assert sorted(sent_to) == sorted(f["linkedin_profile_urn"] for f in friends)
    assert all(m["text"] == "Grüße, Zoë! 👋" for m in outbox["messages"])

    live = await client.post(
        "/v1/actions/linkedin-message-profile/run/live",
        json={
            "input": {"linkedin_profile_url": stranger["linkedin_profile_url"]},
            "identity_ids": [identity["uid"]],
            "parameters": {"message": "hi"},
        },
    )
    assert_error(live, 424, "NOT_CONNECTED")


async def test_live_conversations_page_by_cursor(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    body = {"input": {}, "identity_ids": [identity["uid"]]}
    first = await client.post("/v1/actions/linkedin-extract-conversations/run/live", json=body)
    assert first.status_code == 200, first.text
    assert 0 < len(first.json()) <= 20
    assert {"linkedin_thread_id", "participants", "unread"} <= set(first.json()[0])
    if "X-Pagination-Next" in first.headers:
        second = await client.post(first.headers["X-Pagination-Next"], json=body)
        assert second.status_code == 200
        assert not {r["linkedin_thread_id"] for r in first.json()} & {
            r["linkedin_thread_id"] for r in second.json()
        }


async def test_stop_and_resume_an_async_run(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool, no_tolerances: None
) -> None:
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    async with sandbox_latency(sandbox, account["id"], 40, "all"):
        targets = await people(sandbox, limit=150, offset=900)
        response = await client.post(
            "/v1/actions/linkedin-extract-people/run/async",
            json={
                "inputs": [{"linkedin_profile_url": p["linkedin_profile_url"]} for p in targets],
                "identity_ids": [identity["uid"]],
            },
        )
        run_uid = response.json()["uid"]
        await wait_run(client, run_uid, {"RUNNING"})
        stopped = await client.post(f"/v1/runs/{run_uid}/stop")
        assert stopped.status_code == 200 and stopped.json()["status"] == "STOPPED"
        assert (await client.post(f"/v1/runs/{run_uid}/stop")).status_code == 200
        await asyncio.sleep(2)
        frozen = (await client.get(f"/v1/runs/{run_uid}")).json()
        assert frozen["status"] == "STOPPED" and frozen["output_count"] < 150
        await asyncio.sleep(1)
        assert (await client.get(f"/v1/runs/{run_uid}")).json()["output_count"] == frozen["output_count"]
        resumed = await client.post(f"/v1/runs/{run_uid}/resume")
        assert resumed.status_code == 200, resumed.text
        done = await wait_run(client, run_uid, {"SUCCEEDED"})
        assert done["output_count"] == 150
        assert_error(await client.post(f"/v1/runs/{run_uid}/stop"), 409, "CONFLICT")
        assert_error(await client.post(f"/v1/runs/{run_uid}/resume"), 409, "CONFLICT")


async def test_search_stops_at_linkedins_cap_with_a_warning(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool, no_tolerances: None
) -> None:
    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    response = await client.post(
        "/v1/actions/linkedin-search-people/run/async",
        json={
            "inputs": [
                {"linkedin_people_search_url": "https://www.linkedin.com/search/results/people/?keywords=a"}
            ],
            "identity_ids": [identity["uid"]],
            "parameters": {"max_results": 5000},
        },
    )
    assert response.status_code == 202, response.text
    assert response.json()["parameters"]["max_results"] == 1000
    done = await wait_run(client, response.json()["uid"], {"SUCCEEDED", "FAILED"}, timeout=120)
    assert done["status"] == "SUCCEEDED" and done["output_count"] == 1000
    assert {"label": "SEARCH_CAP_REACHED"}.items() <= done["warnings"][0].items()
    outputs = await all_pages(client, f"/v1/runs/{done['uid']}/outputs", limit=500)
    assert len({o["linkedin_profile_id"] for o in outputs}) == 1000


async def test_a_small_search_ends_without_a_warning(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    response = await client.post(
        "/v1/actions/linkedin-search-people/run/async",
        json={
            "inputs": [
                {
                    "linkedin_people_search_url": "https://www.linkedin.com/search/results/people/?keywords=engineer"
                }
            ],
            "identity_ids": [identity["uid"]],
            "parameters": {"max_results": 25},
        },
    )
    done = await wait_run(client, response.json()["uid"], {"SUCCEEDED", "FAILED"})
    assert done["status"] == "SUCCEEDED" and done["output_count"] == 25 and done["warnings"] == []


# --- bad input: the contract's status and label, nothing stored, no workflow started --------------------

PROFILE = "https://www.linkedin.com/in/someone-1"


async def _assert_no_runs(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/runs")
    assert response.headers["X-Total-Count"] == "0", response.json()


async def test_bad_run_requests_are_refused_whole(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, api_url: str
) -> None:
    identity = await create_identity(client, "Bad Input Tester")
    ids = [identity["uid"]]
    live = "/v1/actions/linkedin-extract-people/run/live"
    run_async = "/v1/actions/linkedin-extract-people/run/async"
    assert_error(
        await client.post("/v1/actions/linkedin-nope/run/live", content=b"{nonsense"), 404, "NOT_FOUND"
    )
    assert_error(
        await client.post("/v1/actions/linkedin-nope/run/async", json={"inputs": []}), 404, "NOT_FOUND"
    )
    assert_error(
        await client.post(live, json={"inputs": [{"linkedin_profile_url": PROFILE}], "identity_ids": ids}),
        400,
        "BAD_INPUT",
        "inputs",
    )
    assert_error(
        await client.post(run_async, json={"input": {"linkedin_profile_url": PROFILE}, "identity_ids": ids}),
        400,
        "BAD_INPUT",
        "input",
    )
    assert_error(
        await client.post(run_async, json={"inputs": [], "identity_ids": ids}), 400, "BAD_INPUT", "inputs"
    )
    too_many = {"inputs": [{"linkedin_profile_url": PROFILE}] * 100_001, "identity_ids": ids}
    assert_error(await client.post(run_async, json=too_many), 400, "BAD_INPUT", "inputs")
    mixed = [{"linkedin_profile_url": f"{PROFILE}{i}"} for i in range(30)]
    mixed[17] = {"linkedin_profile_url": "https://example.com/in/not-linkedin"}
    assert_error(
        await client.post(run_async, json={"inputs": mixed, "identity_ids": ids}),
        400,
        "BAD_INPUT",
        "inputs[17].linkedin_profile_url",
    )
    assert_error(
        await client.post(
            live,
            json={
                "input": {"linkedin_profile_url": "https://www.linkedin.com/company/x"},
                "identity_ids": ids,
            },
        ),
        400,
        "BAD_INPUT",
        "input.linkedin_profile_url",
    )
    assert_error(
        await client.post(
            run_async,
            json={"inputs": [{"linkedin_profile_url": PROFILE}], "identity_ids": ids, "colour": "red"},
        ),
        400,
        "BAD_INPUT",
        "colour",
    )
    assert_error(
        await client.post(
            run_async,
            json={
                "inputs": [{"linkedin_profile_url": PROFILE}],
                "identity_ids": ids,
                "callback": {"url": "ftp://example.com/hook"},
            },
        ),
        400,
        "BAD_INPUT",
        "callback.url",
    )
    assert_error(
        await client.post(run_async, content=b'{"inputs": [', headers={"content-type": "application/json"}),
        400,
        "BAD_INPUT",
    )
    assert_error(
        await client.post(
            "/v1/actions/linkedin-message-profile/run/async",
            json={
                "inputs": [{"linkedin_profile_url": PROFILE}],
                "identity_ids": ids,
                "parameters": {"message": ""},
            },
        ),
        400,
        "BAD_PARAMETERS",
        "parameters.message",
    )
    assert_error(
        await client.post(
            run_async,
            json={
                "inputs": [{"linkedin_profile_url": PROFILE}],
                "identity_ids": ["00000000-0000-0000-0000-000000000000"],
            },
        ),
        404,
        "NOT_FOUND",
    )
    assert_error(
        await client.post(
            "/v1/actions/linkedin-me/run/async", json={"inputs": [{}], "identity_mode": "auto"}
        ),
        400,
        "BAD_INPUT",
        "identity_mode",
    )
    assert_error(
        await client.post(
            "/v1/actions/linkedin-connect-profile/run/async",
            json={"inputs": [{"linkedin_profile_url": PROFILE}], "identity_mode": "managed"},
        ),
        400,
        "BAD_INPUT",
        "identity_mode",
    )
    await _assert_no_runs(client)


async def test_identity_of_another_workspace_is_not_found(
    client: httpx.AsyncClient, api_url: str, engine: Any, keyring: Any
) -> None:
    from edgewise.workspaces import create_workspace

    other = create_workspace(engine, keyring, "Other Co", "boss@other.test")
    async with httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": other.api_key}) as other_client:
        foreign = await create_identity(other_client, "Foreign Identity")
    response = await client.post(
        "/v1/actions/linkedin-extract-people/run/async",
        json={"inputs": [{"linkedin_profile_url": PROFILE}], "identity_ids": [foreign["uid"]]},
    )
    assert_error(response, 404, "NOT_FOUND")
    await _assert_no_runs(client)


async def test_a_user_member_cannot_start_runs(client: httpx.AsyncClient, api_url: str) -> None:
    created = await client.post("/v1/members", json={"email": "reader@example.test", "role": "user"})
    assert created.status_code == 201, created.text
    identity = await create_identity(client, "Reader Target")
    async with httpx.AsyncClient(
        base_url=api_url, headers={"X-API-Key": created.json()["api_key"]}
    ) as reader:
        response = await reader.post(
            "/v1/actions/linkedin-extract-people/run/async",
            json={"inputs": [{"linkedin_profile_url": PROFILE}], "identity_ids": [identity["uid"]]},
        )
        assert_error(response, 403, "FORBIDDEN")
        assert (await reader.get("/v1/actions")).status_code == 200
    await _assert_no_runs(client)


async def test_live_run_on_an_identity_without_integration_is_424(client: httpx.AsyncClient) -> None:
    identity = await create_identity(client, "Not Connected Yet")
    response = await client.post(
        "/v1/actions/linkedin-extract-people/run/live",
        json={"input": {"linkedin_profile_url": PROFILE}, "identity_ids": [identity["uid"]]},
    )
    assert_error(response, 424, "INTEGRATION_INVALID")
    await _assert_no_runs(client)


async def test_idempotency_key_makes_run_creation_safe_to_retry(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    target = (await people(sandbox, limit=1, offset=4000))[0]
    body = {
        "inputs": [{"linkedin_profile_url": target["linkedin_profile_url"]}],
        "identity_ids": [identity["uid"]],
    }
    key = {"Idempotency-Key": "retry-me-1"}
    first = await client.post("/v1/actions/linkedin-extract-people/run/async", json=body, headers=key)
    again = await client.post("/v1/actions/linkedin-extract-people/run/async", json=body, headers=key)
    assert first.status_code == again.status_code == 202
    assert first.json()["uid"] == again.json()["uid"]
    other = {**body, "inputs": [{"linkedin_profile_url": target["linkedin_profile_url"] + "-x"}]}
    assert_error(
        await client.post("/v1/actions/linkedin-extract-people/run/async", json=other, headers=key),
        409,
        "CONFLICT",
    )

    live_body = {
        "input": {"linkedin_profile_url": target["linkedin_profile_url"]},
        "identity_ids": [identity["uid"]],
    }
    live_key = {"Idempotency-Key": "live-once"}
    live1 = await client.post(
        "/v1/actions/linkedin-extract-people/run/live", json=live_body, headers=live_key
    )
    live2 = await client.post(
        "/v1/actions/linkedin-extract-people/run/live", json=live_body, headers=live_key
    )
    assert live1.status_code == live2.status_code == 200, live2.text
    assert live1.json() == live2.json()
    assert live1.headers["X-Run-Uid"] == live2.headers["X-Run-Uid"]
    runs = await client.get("/v1/runs", params={"execution_mode": "LIVE"})
    assert runs.headers["X-Total-Count"] == "1"
    assert (await client.get("/v1/runs")).headers["X-Total-Count"] == "2"


async def test_deleting_an_identity_stops_its_runs_and_reports_deleted(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    receiver: Receiver,
    no_tolerances: None,
) -> None:
    account = account_pool.take()
    url, path = receiver.url_for()
    assert (await client.put("/v1/workspace/webhook", json={"url": url})).status_code == 200
    identity, integration = await connected_identity(client, sandbox, account)
    async with sandbox_latency(sandbox, account["id"], 40, "all"):
        targets = await people(sandbox, limit=120, offset=1500)
        response = await client.post(
            "/v1/actions/linkedin-extract-people/run/async",
            json={
                "inputs": [{"linkedin_profile_url": p["linkedin_profile_url"]} for p in targets],
                "identity_ids": [identity["uid"]],
            },
        )
        run_uid = response.json()["uid"]
        await wait_run(client, run_uid, {"RUNNING"})
        assert (await client.delete(f"/v1/identities/{identity['uid']}")).status_code == 204
        stopped = await wait_run(client, run_uid, {"STOPPED"})
        assert stopped["output_count"] < 120
    events = [json.loads(r.body) for r in await receiver.wait_for(path, 2, timeout=20)]
    assert [e["event"] for e in events][-1] == "DELETED"
    assert events[-1]["integration_uid"] == integration["uid"]


async def test_run_histories_carry_uids_not_profiles_or_cookies(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool, temporal_client: Any
) -> None:
    from workflows.contracts import run_workflow_id

    account = account_pool.take()
    cookies = (await sandbox.post(f"/_sandbox/accounts/{account['id']}/sessions")).json()
    identity = await create_identity(client, "History Checker")
    connected = await client.post(
        f"/v1/identities/{identity['uid']}/integrations/linkedin", json={"auth_data": {"cookies": cookies}}
    )
    assert connected.status_code == 201, connected.text
    targets = await people(sandbox, limit=5, offset=2500)
    response = await client.post(
        "/v1/actions/linkedin-extract-people/run/async",
        json={
            "inputs": [{"linkedin_profile_url": t["linkedin_profile_url"]} for t in targets],
            "identity_ids": [identity["uid"]],
            "callback": {
                "url": "http://127.0.0.1:9/never",
                "headers": {"Authorization": "Bearer s3cret-tok"},
            },
        },
    )
    done = await wait_run(client, response.json()["uid"], {"SUCCEEDED"})
    history = await temporal_client.get_workflow_handle(run_workflow_id(done["uid"])).fetch_history()
    text = history_text(await decoded_history(history))  # what the payloads carry, not their ciphertext
    assert done["uid"] in text
    for secret in (cookies["li_at"], cookies["JSESSIONID"], "s3cret-tok"):
        assert secret not in text
    for person in targets:
        assert person["public_identifier"] not in text and person["last_name"] not in text


async def test_runs_are_invisible_to_other_workspaces(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    api_url: str,
    engine: Any,
    keyring: Any,
) -> None:
    from edgewise.workspaces import create_workspace

    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    target = (await people(sandbox, limit=1, offset=2600))[0]
    live = await client.post(
        "/v1/actions/linkedin-extract-people/run/live",
        json={
            "input": {"linkedin_profile_url": target["linkedin_profile_url"]},
            "identity_ids": [identity["uid"]],
        },
    )
    run_uid = live.headers["X-Run-Uid"]
    other = create_workspace(engine, keyring, "Nosy Co", "nosy@other.test")
    async with httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": other.api_key}) as nosy:
        for path in ("", "/status", "/inputs", "/outputs"):
            assert_error(await nosy.get(f"/v1/runs/{run_uid}{path}"), 404, "NOT_FOUND")
        assert_error(await nosy.post(f"/v1/runs/{run_uid}/stop"), 404, "NOT_FOUND")
        assert (await nosy.get("/v1/runs")).headers["X-Total-Count"] == "0"
        cursor_url = (await client.get(f"/v1/runs/{run_uid}/outputs", params={"limit": 1})).headers.get(
            "X-Pagination-Next"
        )
        if cursor_url:
            assert_error(await nosy.get(cursor_url.replace(api_url, "")), 404, "NOT_FOUND")


async def test_hostile_bodies_get_a_400_and_store_nothing(client: httpx.AsyncClient) -> None:
    identity = await create_identity(client, "Hostile Input Target")
    ids = [identity["uid"]]
    live = "/v1/actions/linkedin-extract-people/run/live"
    run_async = "/v1/actions/linkedin-extract-people/run/async"
    # Python's json accepts NaN and Infinity; the contract's JSON does not.
    item = json.dumps({"linkedin_profile_url": PROFILE})[:-1]  # an open input object, completed below
    id_list = json.dumps(ids)
    nan_body = f'{{"input": {item}, "custom_data": {{"a": NaN}}}}, "identity_ids": {id_list}}}'.encode()
    inf_body = (
        f'{{"inputs": [{item}, "custom_data": {{"a": -Infinity}}}}], "identity_ids": {id_list}}}'.encode()
    )
    assert_error(
        await client.post(live, content=nan_body, headers={"content-type": "application/json"}),
        400,
        "BAD_INPUT",
        "body",
    )

    assert_error(
        await client.post(run_async, content=inf_body, headers={"content-type": "application/json"}),
        400,
        "BAD_INPUT",
        "body",
    )
    for url in (
        "https://www.linkedin.com/in/foo\u0000bar",
        "https://www.linkedin.com/in/foo%00bar",
        "https://www.linkedin.com/in/%ZZ%ZZ%ZZ",
        "https://www.linkedin.com/in/<script>",
        "https://www.linkedin.com:8443/in/someone",
    ):
        assert_error(
            await client.post(live, json={"input": {"linkedin_profile_url": url}, "identity_ids": ids}),
            400,
            "BAD_INPUT",
        )
    assert_error(
        await client.post(
            run_async,
            json={"inputs": [{"linkedin_profile_url": PROFILE}], "identity_ids": ids, "label": "a\u0000b"},
        ),
        400,
        "BAD_INPUT",
        "label",
    )
    assert_error(
        await client.post(
            "/v1/actions/linkedin-message-profile/run/async",
            json={
                "inputs": [{"linkedin_profile_url": PROFILE}],
                "identity_ids": ids,
                "parameters": {"message": "hi\u0000"},
            },
        ),
        400,
        "BAD_PARAMETERS",
        "parameters.message",
    )
    # A NUL is named where it is, in inputs as in parameters.
    assert_error(
        await client.post(
            run_async,
            json={
                "inputs": [{"linkedin_profile_url": PROFILE}, {"linkedin_profile_url": "x\u0000"}],
                "identity_ids": ids,
            },
        ),
        400,
        "BAD_INPUT",
        "inputs[1].linkedin_profile_url",
    )
    assert_error(
        await client.post(
            run_async, json={"inputs": [{"linkedin_profile_url": PROFILE}], "identity_ids": ["not-a-uuid"]}
        ),
        400,
        "BAD_INPUT",
        "identity_ids",
    )
    assert_error(
        await client.post(
            "/v1/actions/linkedin-search-people/run/async",
            json={
                "inputs": [
                    {
                        "linkedin_people_search_url": "https://www.linkedin.com/search/results/people/?keywords=a"
                    }
                ],
                "identity_ids": ids,
                "parameters": {"max_results": "10"},
            },
        ),
        400,
        "BAD_PARAMETERS",
        "parameters.max_results",
    )
    for headers in (
        {"X-A": "v\r\nX-Inject: 1"},
        {"bad header": "v"},
        {"Webhook-Signature": "v1,forged"},
        {f"X-H{i}": "v" for i in range(21)},
        {"X-Big": "v" * 5000},
    ):
        response = await client.post(
            run_async,
            json={
                "inputs": [{"linkedin_profile_url": PROFILE}],
                "identity_ids": ids,
                "callback": {"url": "http://127.0.0.1:9/hook", "headers": headers},
            },
        )
        assert_error(response, 400, "BAD_INPUT", "callback.headers")
    many_bad = [{"linkedin_profile_url": f"https://example.com/in/x{i}"} for i in range(300)]
    body = assert_error(
        await client.post(run_async, json={"inputs": many_bad, "identity_ids": ids}), 400, "BAD_INPUT"
    )
    assert len(body["params"]["validation_errors"]) == 100 and "(and 299 more)" in body["message"]
    assert_error(await client.get("/v1/runs", params={"offset": 2**63}), 400, "BAD_INPUT", "offset")
    await _assert_no_runs(client)


async def test_a_live_cursor_pins_the_identity_selection(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    other, _ = await connected_identity(client, sandbox, account_pool.take(), name="Other Searcher")
    body = {
        "input": {
            "linkedin_people_search_url": "https://www.linkedin.com/search/results/people/?keywords=engineer"
        },
        "identity_ids": [identity["uid"]],
    }
    first = await client.post("/v1/actions/linkedin-search-people/run/live", json=body)
    next_url = first.headers["X-Pagination-Next"]
    for selection in (
        {"identity_ids": [other["uid"]]},
        {"identity_ids": [identity["uid"], other["uid"]]},
        {"identity_ids": None, "identity_mode": "auto"},
    ):
        assert_error(await client.post(next_url, json={**body, **selection}), 400, "BAD_INPUT", "cursor")
    assert (await client.post(next_url, json=body)).status_code == 200


async def test_a_live_run_shows_running_while_its_page_runs(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    target = (await people(sandbox, limit=1, offset=2700))[0]
    async with sandbox_latency(sandbox, account["id"], 1500, "all"):
        call = asyncio.create_task(
            client.post(
                "/v1/actions/linkedin-extract-people/run/live",
                json={
                    "input": {"linkedin_profile_url": target["linkedin_profile_url"]},
                    "identity_ids": [identity["uid"]],
                },
            )
        )
        running: dict[str, Any] | None = None
        for _ in range(40):
            await asyncio.sleep(0.1)
            listed = (await client.get("/v1/runs", params={"execution_mode": "LIVE"})).json()
            if listed and listed[0]["status"] == "RUNNING":
                running = listed[0]
                break
        response = await call
    assert running is not None and running["started_at"] is not None
    assert response.status_code == 200
    done = (await client.get(f"/v1/runs/{response.headers['X-Run-Uid']}")).json()
    assert done["started_at"] < done["finished_at"]
