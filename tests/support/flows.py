"""Common API flows for tests, written against the HTTP contract (API.md) only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx


async def create_identity(
    client: httpx.AsyncClient, name: str = "Test Identity", **extra: Any
) -> dict[str, Any]:
    response = await client.post("/v1/identities", json={"name": name, **extra})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def fresh_cookies(sandbox: httpx.AsyncClient, account_id: Any) -> dict[str, str]:
    response = await sandbox.post(f"/_sandbox/accounts/{account_id}/sessions")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def connected_identity(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account: dict[str, Any],
    name: str = "Connected One",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create an identity and connect `account` to it by cookies; return (identity, integration)."""
    identity = await create_identity(client, name)
    cookies = await fresh_cookies(sandbox, account["id"])
    response = await client.post(
        f"/v1/identities/{identity['uid']}/integrations/linkedin",
        json={"auth_data": {"cookies": cookies}},
    )
    assert response.status_code == 201, response.text
    return identity, dict(response.json())


@asynccontextmanager
async def sandbox_latency(
    sandbox: httpx.AsyncClient, account_id: Any, latency_ms: int, scope: str = "all"
) -> AsyncIterator[None]:
    """The sandbox answers this account's requests (`all`, `reads` or `writes`) that much later, for the
    block's duration; the fault is lifted afterwards whatever happens."""
    await sandbox.put(
        "/_sandbox/faults",
        json={"account_id": account_id, "latency_ms": latency_ms, "error_rate": 0, "scope": scope},
    )
    try:
        yield
    finally:
        await sandbox.put(
            "/_sandbox/faults",
            json={"account_id": account_id, "latency_ms": 0, "error_rate": 0, "scope": "all"},
        )
