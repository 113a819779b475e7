"""Members and their keys (API.md §2)."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from db.models import Member
from edgewise.crypto import hash_api_key
from edgewise.workspaces import CreatedWorkspace
from tests.api.helpers import add_member, assert_error, client_for, total

Z_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


async def test_create_member_shows_the_key_once(
    client: httpx.AsyncClient, api_url: str, engine: Engine
) -> None:
    response = await client.post("/v1/members", json={"email": "Sam@Example.test", "role": "ops"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {"uid", "email", "role", "api_key", "created_at"}
    assert created["email"] == "sam@example.test"
    assert created["role"] == "ops"
    assert Z_TIMESTAMP.match(created["created_at"])
    with Session(engine) as session:
        stored = session.get(Member, created["uid"])
        assert stored is not None
        assert stored.key_hash == hash_api_key(created["api_key"])  # only the hash is kept
    async with client_for(api_url, created["api_key"]) as as_new:
        assert (await as_new.get("/v1/workspace")).status_code == 200
    listed = (await client.get("/v1/members")).json()
    assert all("api_key" not in m for m in listed)
    one = (await client.get(f"/v1/members/{created['uid']}")).json()
    assert one == {k: v for k, v in created.items() if k != "api_key"}


async def test_list_members_pages_newest_first(
    client: httpx.AsyncClient, new_workspace: CreatedWorkspace
) -> None:
    made = [await add_member(client, "user") for _ in range(3)]
    response = await client.get("/v1/members?limit=2")
    assert response.headers["X-Total-Count"] == "4"
    assert [m["uid"] for m in response.json()] == [made[2]["uid"], made[1]["uid"]]
    oldest = (await client.get("/v1/members?sort=created_at&limit=1")).json()
    assert oldest[0]["uid"] == new_workspace.member_uid
    rest = (await client.get("/v1/members?limit=2&offset=2")).json()
    assert [m["uid"] for m in rest] == [made[0]["uid"], new_workspace.member_uid]


async def test_duplicate_email_is_409(client: httpx.AsyncClient) -> None:
    await client.post("/v1/members", json={"email": "dup@example.test", "role": "user"})
    assert_error(
        await client.post("/v1/members", json={"email": "DUP@example.test", "role": "ops"}), 409, "CONFLICT"
    )
    # The workspace's first admin too.
    assert_error(
        await client.post("/v1/members", json={"email": "admin@example.test", "role": "user"}),
        409,
        "CONFLICT",
    )
    assert await total(client, "/v1/members") == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "user"}, "email"),
        ({"email": "x@example.test"}, "role"),
        ({"email": "not-an-email", "role": "user"}, "email"),
        ({"email": "a@b", "role": "user"}, "email"),
        ({"email": 42, "role": "user"}, "email"),
        ({"email": "x@example.test", "role": "owner"}, "role"),
        ({"email": "x@example.test", "role": "ADMIN"}, "role"),
        ({"email": "x@example.test", "role": "user", "name": "X"}, "name"),
        ({"email": "x" * 320 + "@example.test", "role": "user"}, "email"),
    ],
)
async def test_bad_member_bodies_are_400_and_store_nothing(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    assert_error(await client.post("/v1/members", json=body), 400, "BAD_INPUT", field=field)
    assert await total(client, "/v1/members") == 1


async def test_change_role(client: httpx.AsyncClient, api_url: str) -> None:
    member = await add_member(client, "user")
    response = await client.patch(f"/v1/members/{member['uid']}", json={"role": "ops"})
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "ops"
    async with client_for(api_url, member["api_key"]) as as_ops:
        assert (await as_ops.post("/v1/identities", json={"name": "Now Allowed"})).status_code == 201
    assert_error(
        await client.patch(f"/v1/members/{member['uid']}", json={"role": "boss"}), 400, "BAD_INPUT", "role"
    )
    assert_error(await client.patch(f"/v1/members/{member['uid']}", json={}), 400, "BAD_INPUT", "role")


async def test_last_admin_cannot_be_demoted_or_removed(
    client: httpx.AsyncClient, new_workspace: CreatedWorkspace
) -> None:
    me = new_workspace.member_uid
    assert_error(await client.patch(f"/v1/members/{me}", json={"role": "ops"}), 409, "CONFLICT")
    assert_error(await client.delete(f"/v1/members/{me}"), 409, "CONFLICT")
    assert (await client.get(f"/v1/members/{me}")).json()["role"] == "admin"
    # With a second admin, the first may step down.
    other = await add_member(client, "admin")
    assert (await client.patch(f"/v1/members/{me}", json={"role": "ops"})).status_code == 200
    assert (await client.get("/v1/workspace")).status_code == 200
    async with client_for(str(client.base_url), other["api_key"]) as as_other:
        assert_error(await as_other.delete(f"/v1/members/{other['uid']}"), 409, "CONFLICT")


async def test_remove_member(client: httpx.AsyncClient) -> None:
    member = await add_member(client, "ops")
    assert (await client.delete(f"/v1/members/{member['uid']}")).status_code == 204
    assert_error(await client.get(f"/v1/members/{member['uid']}"), 404, "NOT_FOUND")
    assert_error(await client.delete(f"/v1/members/{member['uid']}"), 404, "NOT_FOUND")


async def test_admin_rotates_anyones_key(client: httpx.AsyncClient, api_url: str) -> None:
    member = await add_member(client, "user")
    response = await client.post(f"/v1/members/{member['uid']}/rotate-key")
    assert response.status_code == 200
    assert set(response.json()) == {"api_key"}
    async with client_for(api_url, member["api_key"]) as old:
        assert_error(await old.get("/v1/workspace"), 401, "UNAUTHORIZED")


async def test_non_admin_cannot_rotate_someone_elses_key(client: httpx.AsyncClient, api_url: str) -> None:
    ops = await add_member(client, "ops")
    user = await add_member(client, "user")
    async with client_for(api_url, ops["api_key"]) as as_ops:
        assert_error(await as_ops.post(f"/v1/members/{user['uid']}/rotate-key"), 403, "FORBIDDEN")
    async with client_for(api_url, user["api_key"]) as as_user:
        assert (await as_user.get("/v1/workspace")).status_code == 200  # key unchanged


async def test_other_workspaces_members_are_404(
    client: httpx.AsyncClient, api_url: str, engine: Engine, keyring: object
) -> None:
    from edgewise.workspaces import create_workspace

    other = create_workspace(engine, keyring, "other", "boss@other.test")  # type: ignore[arg-type]
    uid = other.member_uid
    assert_error(await client.get(f"/v1/members/{uid}"), 404, "NOT_FOUND")
    assert_error(await client.patch(f"/v1/members/{uid}", json={"role": "user"}), 404, "NOT_FOUND")
    assert_error(await client.delete(f"/v1/members/{uid}"), 404, "NOT_FOUND")
    assert_error(await client.post(f"/v1/members/{uid}/rotate-key"), 404, "NOT_FOUND")
    assert uid not in {m["uid"] for m in (await client.get("/v1/members")).json()}
    async with client_for(api_url, other.api_key) as theirs:
        assert (await theirs.get(f"/v1/members/{uid}")).json()["role"] == "admin"
    with Session(engine) as session:
        assert session.exec(select(Member).where(Member.uid == uid)).one().role == "admin"
