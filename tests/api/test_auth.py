"""Authentication (X-API-Key) and the role matrix of API.md §2 on workspace, member and identity routes."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.api.helpers import add_member, assert_error, client_for

PUBLIC_PATHS = ["/healthz", "/metrics", "/openapi.json", "/docs"]

PROTECTED: list[tuple[str, str]] = [
    ("GET", "/v1/workspace"),
    ("GET", "/v1/workspace/webhook"),
    ("PUT", "/v1/workspace/webhook"),
    ("DELETE", "/v1/workspace/webhook"),
    ("POST", "/v1/workspace/webhook/rotate-secret"),
    ("GET", "/v1/workspace/consumption"),
    ("GET", "/v1/members"),
    ("POST", "/v1/members"),
    ("GET", "/v1/members/x"),
    ("PATCH", "/v1/members/x"),
    ("DELETE", "/v1/members/x"),
    ("POST", "/v1/members/x/rotate-key"),
    ("GET", "/v1/identities"),
    ("POST", "/v1/identities"),
    ("GET", "/v1/identities/x"),
    ("PUT", "/v1/identities/x"),
    ("DELETE", "/v1/identities/x"),
]


async def test_public_routes_need_no_key(api_url: str) -> None:
    async with client_for(api_url, None) as anonymous:
        for path in PUBLIC_PATHS:
            assert (await anonymous.get(path)).status_code == 200, path
        assert (await anonymous.get("/readyz")).status_code == 200


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_missing_or_unknown_key_is_401(api_url: str, method: str, path: str) -> None:
    body = {"name": "Alice"} if method in ("POST", "PUT", "PATCH") else None
    async with client_for(api_url, None) as anonymous:
        assert_error(await anonymous.request(method, path, json=body), 401, "UNAUTHORIZED")
    async with client_for(api_url, "ew_" + uuid.uuid4().hex) as stranger:
        assert_error(await stranger.request(method, path, json=body), 401, "UNAUTHORIZED")
    async with client_for(api_url, "") as empty:
        assert_error(await empty.request(method, path, json=body), 401, "UNAUTHORIZED")


async def test_malformed_json_without_a_key_is_401(api_url: str) -> None:
    async with client_for(api_url, None) as anonymous:
        response = await anonymous.post(
            "/v1/identities", content=b"{oops", headers={"Content-Type": "application/json"}
        )
        assert_error(response, 401, "UNAUTHORIZED")


async def test_malformed_json_from_a_user_is_403(client: httpx.AsyncClient, api_url: str) -> None:
    user = await add_member(client, "user")
    async with client_for(api_url, user["api_key"]) as as_user:
        response = await as_user.post(
            "/v1/identities", content=b"{oops", headers={"Content-Type": "application/json"}
        )
        assert_error(response, 403, "FORBIDDEN")


async def test_a_deleted_members_key_stops_working(client: httpx.AsyncClient, api_url: str) -> None:
    ops = await add_member(client, "ops")
    async with client_for(api_url, ops["api_key"]) as as_ops:
        assert (await as_ops.get("/v1/workspace")).status_code == 200
        assert (await client.delete(f"/v1/members/{ops['uid']}")).status_code == 204
        assert_error(await as_ops.get("/v1/workspace"), 401, "UNAUTHORIZED")


# --- role matrix ---------------------------------------------------------------------------------------

Setup = Callable[[httpx.AsyncClient], Awaitable[dict[str, Any]]]


async def _identity(admin: httpx.AsyncClient) -> dict[str, Any]:
    response = await admin.post("/v1/identities", json={"name": "Matrix Identity"})
    assert response.status_code == 201
    return {"identity": response.json()["uid"]}


async def _member(admin: httpx.AsyncClient) -> dict[str, Any]:
    return {"member": (await add_member(admin, "user"))["uid"]}


async def _nothing(_admin: httpx.AsyncClient) -> dict[str, Any]:
    return {}


# (method, path template, json body, setup, expected status per role {admin, ops, user})
MATRIX: list[tuple[str, str, Any, Setup, dict[str, int]]] = [
    ("GET", "/v1/workspace", None, _nothing, {"admin": 200, "ops": 200, "user": 200}),
    ("GET", "/v1/workspace/webhook", None, _nothing, {"admin": 200, "ops": 403, "user": 403}),
    (
        "PUT",
        "/v1/workspace/webhook",
        {"url": "http://127.0.0.1:9/hook"},
        _nothing,
        {"admin": 200, "ops": 403, "user": 403},
    ),
    ("DELETE", "/v1/workspace/webhook", None, _nothing, {"admin": 204, "ops": 403, "user": 403}),
    ("POST", "/v1/workspace/webhook/rotate-secret", None, _nothing, {"admin": 200, "ops": 403, "user": 403}),
    ("GET", "/v1/workspace/consumption", None, _nothing, {"admin": 200, "ops": 200, "user": 200}),
    ("GET", "/v1/members", None, _nothing, {"admin": 200, "ops": 200, "user": 200}),
    ("GET", "/v1/members/{member}", None, _member, {"admin": 200, "ops": 200, "user": 200}),
    (
        "POST",
        "/v1/members",
        {"email": "new-{rand}@example.test", "role": "user"},
        _nothing,
        {"admin": 201, "ops": 403, "user": 403},
    ),
    ("PATCH", "/v1/members/{member}", {"role": "ops"}, _member, {"admin": 200, "ops": 403, "user": 403}),
    ("DELETE", "/v1/members/{member}", None, _member, {"admin": 204, "ops": 403, "user": 403}),
    ("POST", "/v1/members/{member}/rotate-key", None, _member, {"admin": 200, "ops": 403, "user": 403}),
    ("GET", "/v1/identities", None, _nothing, {"admin": 200, "ops": 200, "user": 200}),
    ("GET", "/v1/identities/{identity}", None, _identity, {"admin": 200, "ops": 200, "user": 200}),
    (
        "POST",
        "/v1/identities",
        {"name": "Created By Role"},
        _nothing,
        {"admin": 201, "ops": 201, "user": 403},
    ),
    (
        "PUT",
        "/v1/identities/{identity}",
        {"name": "Renamed"},
        _identity,
        {"admin": 200, "ops": 200, "user": 403},
    ),
    ("DELETE", "/v1/identities/{identity}", None, _identity, {"admin": 204, "ops": 204, "user": 403}),
]


@pytest.mark.parametrize("role", ["admin", "ops", "user"])
@pytest.mark.parametrize(
    ("method", "template", "body", "setup", "expected"), MATRIX, ids=[f"{m[0]} {m[1]}" for m in MATRIX]
)
async def test_role_matrix(
    client: httpx.AsyncClient,
    api_url: str,
    role: str,
    method: str,
    template: str,
    body: Any,
    setup: Setup,
    expected: dict[str, int],
) -> None:
    caller = await add_member(client, role)
    ids = await setup(client)
    path = template.format(**ids)
    if isinstance(body, dict):
        body = {k: v.format(rand=uuid.uuid4().hex[:8]) if isinstance(v, str) else v for k, v in body.items()}
    async with client_for(api_url, caller["api_key"]) as as_role:
        response = await as_role.request(method, path, json=body)
    if expected[role] == 403:
        body_out = assert_error(response, 403, "FORBIDDEN")
        assert body_out["error_scope"] == "auth"
    else:
        assert response.status_code == expected[role], response.text


@pytest.mark.parametrize("role", ["ops", "user"])
async def test_every_member_may_rotate_their_own_key(
    client: httpx.AsyncClient, api_url: str, role: str
) -> None:
    member = await add_member(client, role)
    async with client_for(api_url, member["api_key"]) as as_member:
        response = await as_member.post(f"/v1/members/{member['uid']}/rotate-key")
    assert response.status_code == 200, response.text
    new_key = response.json()["api_key"]
    assert new_key != member["api_key"]
    async with client_for(api_url, member["api_key"]) as old, client_for(api_url, new_key) as new:
        assert_error(await old.get("/v1/workspace"), 401, "UNAUTHORIZED")
        assert (await new.get("/v1/workspace")).status_code == 200
