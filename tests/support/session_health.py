"""Helpers for the session health tests (tests/api/test_session_health*.py), written against the HTTP
contract, the sandbox's control API and the database."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from db.models import Integration
from tests.support.webhook_receiver import Receiver, wait_until

EXTRACT = "/v1/actions/linkedin-extract-people"
VISIT = "/v1/actions/linkedin-visit-profile"


async def requests_seen(sandbox: httpx.AsyncClient, account_id: int) -> int:
    response = await sandbox.get(f"/_sandbox/accounts/{account_id}/requests")
    assert response.status_code == 200, response.text
    return int(response.json()["requests"])


async def hook_events(client: httpx.AsyncClient, receiver: Receiver) -> str:
    """Point the workspace webhook at a fresh receiver path; returns the path."""
    url, path = receiver.url_for()
    response = await client.put("/v1/workspace/webhook", json={"url": url})
    assert response.status_code == 200, response.text
    return path


def events(receiver: Receiver, path: str) -> list[dict[str, Any]]:
    """Integration events received, one per event id (a retried delivery is the same event)."""
    unique: dict[str, dict[str, Any]] = {}
    for request in receiver.received(path):
        body = json.loads(request.body)
        unique[body["event_id"]] = body
    return sorted(unique.values(), key=lambda e: e["sequence"])


async def wait_events(receiver: Receiver, path: str, count: int) -> list[dict[str, Any]]:
    return await wait_until(
        lambda: events(receiver, path) if len(events(receiver, path)) >= count else None,
        30,
        f"{count} integration events",
    )


async def event_count(client: httpx.AsyncClient) -> int:
    """Events recorded for the workspace (a delivery each), whether or not they arrived yet."""
    response = await client.get("/v1/deliveries", params={"kind": "event"})
    assert response.status_code == 200, response.text
    return int(response.headers["X-Total-Count"])


async def people(sandbox: httpx.AsyncClient, **query: Any) -> list[dict[str, Any]]:
    response = await sandbox.get("/_sandbox/people", params=query)
    assert response.status_code == 200, response.text
    return list(response.json())


async def start_async(
    client: httpx.AsyncClient, identity_uid: str, targets: list[dict[str, Any]], action: str = EXTRACT
) -> str:
    """An async run of `action` (an action taking `linkedin_profile_url`) on these people; its uid."""
    response = await client.post(
        f"{action}/run/async",
        json={
            "inputs": [{"linkedin_profile_url": t["linkedin_profile_url"]} for t in targets],
            "identity_ids": [identity_uid],
        },
    )
    assert response.status_code == 202, response.text
    return str(response.json()["uid"])


async def live_extract(
    client: httpx.AsyncClient, identity_uid: str, target: dict[str, Any]
) -> httpx.Response:
    body = {"input": {"linkedin_profile_url": target["linkedin_profile_url"]}, "identity_ids": [identity_uid]}
    return await client.post(f"{EXTRACT}/run/live", json=body)


async def as_browser(
    sandbox_url: str, cookies: dict[str, str], method: str, path: str, **extra: Any
) -> httpx.Response:
    """A request of the account's own browser straight to LinkedIn (not through edgewise), without a
    cookie jar: it must not learn a rotated cookie either."""
    headers = {
        "cookie": f'li_at={cookies["li_at"]}; JSESSIONID="{cookies["JSESSIONID"]}"',
        "csrf-token": cookies["JSESSIONID"],
        **extra.pop("headers", {}),
    }
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=30) as browser:
        return await browser.request(method, path, headers=headers, **extra)


async def wait_run(client: httpx.AsyncClient, run_uid: str, status: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        run = (await client.get(f"/v1/runs/{run_uid}")).json()
        return dict(run) if run["status"] == status else None

    deadline = asyncio.get_running_loop().time() + 60
    while (run := await probe()) is None:
        if asyncio.get_running_loop().time() > deadline:
            last = (await client.get(f"/v1/runs/{run_uid}")).json()
            raise AssertionError(f"run {run_uid} never became {status}: {last}")
        await asyncio.sleep(0.2)
    return run


async def inputs_of(client: httpx.AsyncClient, run_uid: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/runs/{run_uid}/inputs")
    assert response.status_code == 200, response.text
    return list(response.json())


async def integration_of(client: httpx.AsyncClient, identity_uid: str) -> dict[str, Any]:
    response = await client.get(f"/v1/identities/{identity_uid}/integrations/linkedin")
    assert response.status_code == 200, response.text
    return dict(response.json())


def event_sequence(engine: Engine, integration_uid: str) -> int:
    """How many events the integration has emitted (its `sequence` counter, webhook or not)."""
    with Session(engine) as session:
        row = session.get(Integration, integration_uid)
        assert row is not None
        return row.event_sequence
