"""Helpers for the API tests: the contract's error shape, members of a given role, extra clients."""

from __future__ import annotations

from typing import Any

import httpx

ERROR_KEYS = {"error_label", "error_scope", "error_ref", "message", "status_code", "params"}


def assert_error(
    response: httpx.Response, status: int, label: str, field: str | None = None
) -> dict[str, Any]:
    """The response is the contract's error body with this status and label (and names `field`)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_KEYS, body
    assert body["error_label"] == label, body
    assert body["status_code"] == status
    assert isinstance(body["error_ref"], str) and body["error_ref"]
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["params"], dict)
    if field is not None:
        fields = [e["field"] for e in body["params"].get("validation_errors", [])]
        assert field in fields, body
    return dict(body)


async def add_member(client: httpx.AsyncClient, role: str, email: str | None = None) -> dict[str, Any]:
    """Create a member through the API as the client's admin; returns {uid, email, role, api_key, …}."""
    import uuid

    email = email or f"{role}-{uuid.uuid4().hex[:8]}@example.test"
    response = await client.post("/v1/members", json={"email": email, "role": role})
    assert response.status_code == 201, response.text
    return dict(response.json())


def client_for(api_url: str, api_key: str | None) -> httpx.AsyncClient:
    headers = {"X-API-Key": api_key} if api_key is not None else {}
    return httpx.AsyncClient(base_url=api_url, headers=headers, timeout=60)


async def total(client: httpx.AsyncClient, path: str) -> int:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return int(response.headers["X-Total-Count"])
