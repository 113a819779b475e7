"""Idempotency-Key on creating POSTs (API.md §1)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api import idempotency
from db.models import IdempotencyRecord
from edgewise.crypto import Keyring
from edgewise.workspaces import CreatedWorkspace, create_workspace
from tests.api.helpers import assert_error, client_for, total


async def test_identity_replay_returns_the_stored_response(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "create-alice-1"}
    first = await client.post(
        "/v1/identities", json={"name": "Alice", "timezone": "Europe/Paris"}, headers=headers
    )
    assert first.status_code == 201
    # Same body in another key order and spacing is the same request.
    again = await client.post(
        "/v1/identities",
        content=b'{ "timezone": "Europe/Paris",   "name": "Alice" }',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert await total(client, "/v1/identities") == 1


async def test_same_key_different_body_is_409(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "k-409"}
    assert (await client.post("/v1/identities", json={"name": "Alice"}, headers=headers)).status_code == 201
    assert_error(
        await client.post("/v1/identities", json={"name": "Alicia"}, headers=headers), 409, "CONFLICT"
    )
    assert await total(client, "/v1/identities") == 1


async def test_without_a_key_each_request_creates(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        assert (await client.post("/v1/identities", json={"name": "Alice"})).status_code == 201
    assert await total(client, "/v1/identities") == 2


async def test_member_replay_omits_the_api_key(client: httpx.AsyncClient, api_url: str) -> None:
    headers = {"Idempotency-Key": "member-1"}
    body = {"email": "once@example.test", "role": "ops"}
    first = await client.post("/v1/members", json=body, headers=headers)
    assert first.status_code == 201 and first.json()["api_key"]
    again = await client.post("/v1/members", json=body, headers=headers)
    assert again.status_code == 201
    assert "api_key" not in again.json()
    assert again.json() == {k: v for k, v in first.json().items() if k != "api_key"}
    assert await total(client, "/v1/members") == 2
    async with client_for(api_url, first.json()["api_key"]) as as_new:  # the first key still works
        assert (await as_new.get("/v1/workspace")).status_code == 200
    assert_error(
        await client.post("/v1/members", json={**body, "role": "user"}, headers=headers), 409, "CONFLICT"
    )


async def test_keys_are_scoped_per_route_and_workspace(
    client: httpx.AsyncClient, api_url: str, engine: Engine, keyring: Keyring
) -> None:
    headers = {"Idempotency-Key": "shared"}
    assert (await client.post("/v1/identities", json={"name": "Alice"}, headers=headers)).status_code == 201
    member = await client.post(
        "/v1/members", json={"email": "m@example.test", "role": "user"}, headers=headers
    )
    assert member.status_code == 201 and "api_key" in member.json()
    other = create_workspace(engine, keyring, "other", "boss@other.test")
    async with client_for(api_url, other.api_key) as theirs:
        response = await theirs.post("/v1/identities", json={"name": "Alice"}, headers=headers)
        assert response.status_code == 201
        assert response.headers.get("Idempotent-Replayed") is None
        assert await total(theirs, "/v1/identities") == 1


@pytest.mark.parametrize("key", ["", "k" * 256])
async def test_bad_keys_are_400(client: httpx.AsyncClient, key: str) -> None:
    response = await client.post("/v1/identities", json={"name": "Alice"}, headers={"Idempotency-Key": key})
    assert_error(response, 400, "BAD_INPUT", field="Idempotency-Key")
    assert await total(client, "/v1/identities") == 0


async def test_key_of_255_chars_is_fine(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "k" * 255}
    assert (await client.post("/v1/identities", json={"name": "Alice"}, headers=headers)).status_code == 201


async def test_a_failed_request_does_not_use_up_the_key(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "retry-after-fix"}
    assert_error(await client.post("/v1/identities", json={"name": "Al"}, headers=headers), 400, "BAD_INPUT")
    assert (await client.post("/v1/identities", json={"name": "Alice"}, headers=headers)).status_code == 201


async def test_concurrent_identical_requests_create_once(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "race"}
    responses = await asyncio.gather(
        *(client.post("/v1/identities", json={"name": "Racer"}, headers=headers) for _ in range(6))
    )
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["uid"] for r in responses}) == 1
    assert await total(client, "/v1/identities") == 1


async def test_an_expired_key_may_be_reused(
    client: httpx.AsyncClient, new_workspace: CreatedWorkspace, engine: Engine
) -> None:
    headers = {"Idempotency-Key": "old"}
    first = (await client.post("/v1/identities", json={"name": "Alice"}, headers=headers)).json()
    with Session(engine) as session:
        record = session.exec(
            select(IdempotencyRecord).where(IdempotencyRecord.workspace_uid == new_workspace.workspace_uid)
        ).one()
        record.created_at = record.created_at - timedelta(hours=24, minutes=1)
        session.add(record)
        session.commit()
    again = await client.post("/v1/identities", json={"name": "Alice"}, headers=headers)
    assert again.status_code == 201 and again.json()["uid"] != first["uid"]
    assert await total(client, "/v1/identities") == 2


async def test_a_pending_key_answers_409_after_waiting(
    client: httpx.AsyncClient,
    new_workspace: CreatedWorkspace,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(idempotency, "PENDING_WAIT_SECONDS", 0.3)
    body = {"name": "Alice"}
    with Session(engine) as session:
        session.add(
            IdempotencyRecord(
                workspace_uid=new_workspace.workspace_uid,
                key="in-flight",
                route="POST /v1/identities",
                request_hash=idempotency.request_fingerprint(json.dumps(body).encode(), ""),
            )
        )
        session.commit()
    response = await client.post("/v1/identities", json=body, headers={"Idempotency-Key": "in-flight"})
    assert_error(response, 409, "CONFLICT")
    assert await total(client, "/v1/identities") == 0
