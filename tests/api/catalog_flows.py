"""Helpers for the catalog tests: run an action live as one identity, read its limits, its run, the
sandbox's people and outbox — all through the HTTP contract (API.md) and the sandbox's control API (§9)."""

from __future__ import annotations

from typing import Any

import httpx

# Fields every output row carries besides the action's own `output_fields` (API.md §5).
ROW_EXTRAS = frozenset({"run_input_uid", "identity_uid", "custom_data", "extracted_at"})


def route(slug: str, mode: str = "live") -> str:
    return f"/v1/actions/{slug}/run/{mode}"


async def live(
    client: httpx.AsyncClient,
    slug: str,
    identity_uid: str,
    item: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
) -> httpx.Response:
    """POST …/run/live as one direct identity."""
    body: dict[str, Any] = {"input": item or {}, "identity_ids": [identity_uid]}
    if parameters is not None:
        body["parameters"] = parameters
    return await client.post(route(slug), json=body)


def rows(response: httpx.Response) -> list[dict[str, Any]]:
    """The result rows of a 200 live answer."""
    assert response.status_code == 200, response.text
    return list(response.json())


async def run_of(client: httpx.AsyncClient, response: httpx.Response) -> dict[str, Any]:
    """The Run a live answer (or an error after the run was created) belongs to."""
    got = await client.get(f"/v1/runs/{response.headers['X-Run-Uid']}")
    assert got.status_code == 200, got.text
    return dict(got.json())


async def consumed(client: httpx.AsyncClient, identity_uid: str, slug: str) -> dict[str, int]:
    """bucket → consumed, from GET /v1/identities/{uid}/actions/{slug}/limits."""
    return {row["slug"]: row["consumed"] for row in (await limits(client, identity_uid, slug)).values()}


async def limits(client: httpx.AsyncClient, identity_uid: str, slug: str) -> dict[str, dict[str, Any]]:
    response = await client.get(f"/v1/identities/{identity_uid}/actions/{slug}/limits")
    assert response.status_code == 200, response.text
    return {row["slug"]: row for row in response.json()["limits"]}


async def credits(client: httpx.AsyncClient) -> float:
    return float((await client.get("/v1/workspace")).json()["credits_used"])


async def people(sandbox: httpx.AsyncClient, **query: Any) -> list[dict[str, Any]]:
    response = await sandbox.get("/_sandbox/people", params=query)
    assert response.status_code == 200, response.text
    return list(response.json())


async def friends(
    sandbox: httpx.AsyncClient, account: dict[str, Any], limit: int = 1
) -> list[dict[str, Any]]:
    return await people(sandbox, connected_to=account["id"], limit=limit)


async def strangers(
    sandbox: httpx.AsyncClient, account: dict[str, Any], limit: int = 1, offset: int = 0
) -> list[dict[str, Any]]:
    return await people(sandbox, not_connected_to=account["id"], limit=limit, offset=offset)


async def outbox(sandbox: httpx.AsyncClient, account: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    response = await sandbox.get(f"/_sandbox/accounts/{account['id']}/outbox")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def output_fields(client: httpx.AsyncClient, slug: str) -> set[str]:
    entry = (await client.get(f"/v1/actions/{slug}")).json()
    return set(entry["output_fields"]["properties"])


async def assert_rows_shaped(
    client: httpx.AsyncClient, slug: str, result: list[dict[str, Any]], optional: set[str] | None = None
) -> None:
    """Each row has exactly the action's output fields (`optional` ones only when asked) and the extras."""
    expected = (await output_fields(client, slug)) | ROW_EXTRAS
    for row in result:
        assert set(row) - (optional or set()) == expected - (optional or set()), (slug, row)
