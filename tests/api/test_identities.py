"""Identities (API.md §3): create, list, get, update, delete; validation; workspace isolation; timestamps."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from db.engine import normalize_url
from db.models import Identity, Integration
from edgewise.crypto import Keyring
from edgewise.timeutil import iso_z
from edgewise.workspaces import CreatedWorkspace, create_workspace
from tests.api.helpers import assert_error, client_for, total

DEFAULT_HOURS = {"days": [1, 2, 3, 4, 5], "start": "08:00", "end": "19:00"}


async def _create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/identities", json={"name": "Test Identity", **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _integration(engine: Engine, identity: dict[str, Any], workspace_uid: str, **fields: Any) -> Integration:
    with Session(engine, expire_on_commit=False) as session:
        row = Integration(
            workspace_uid=workspace_uid,
            identity_uid=identity["uid"],
            status="VALID",
            level="premium",
            account_name="Zoë Ławrynowicz",
            linkedin_profile_id=123456789,
            linkedin_profile_urn="urn:li:fsd_profile:ACoAAB",
            cookies_enc="ciphertext",
            **fields,
        )
        session.add(row)
        session.commit()
        return row


async def test_create_with_defaults(client: httpx.AsyncClient) -> None:
    body = await _create(client, name="Alice Martin")
    assert set(body) == {
        "uid",
        "name",
        "timezone",
        "working_hours",
        "egress",
        "integrations",
        "created_at",
        "updated_at",
    }
    assert body["name"] == "Alice Martin"
    assert body["timezone"] == "UTC"
    assert body["working_hours"] == DEFAULT_HOURS
    assert body["egress"] is None
    assert body["integrations"] == []
    assert body["created_at"].endswith("Z") and body["updated_at"].endswith("Z")
    assert (await client.get(f"/v1/identities/{body['uid']}")).json() == body


@pytest.mark.parametrize("tz", ["Europe/Paris", "America/Argentina/Buenos_Aires", "UTC", "Asia/Kolkata"])
async def test_valid_time_zones(client: httpx.AsyncClient, tz: str) -> None:
    assert (await _create(client, timezone=tz))["timezone"] == tz


async def test_custom_and_null_working_hours(client: httpx.AsyncClient) -> None:
    hours = {"days": [6, 7], "start": "00:00", "end": "23:59"}
    assert (await _create(client, working_hours=hours))["working_hours"] == hours
    assert (await _create(client, working_hours=None))["working_hours"] is None


async def test_name_is_stripped(client: httpx.AsyncClient) -> None:
    assert (await _create(client, name="  Zoë Ławrynowicz  "))["name"] == "Zoë Ławrynowicz"


BAD_BODIES: list[tuple[dict[str, Any], str]] = [
    ({}, "name"),
    ({"name": None}, "name"),
    ({"name": "ab"}, "name"),
    ({"name": "   ab   "}, "name"),
    ({"name": "x" * 256}, "name"),
    ({"name": 12345}, "name"),
    ({"name": "Alice", "timezone": "CEST"}, "timezone"),
    ({"name": "Alice", "timezone": "CET"}, "timezone"),
    ({"name": "Alice", "timezone": "UTC+2"}, "timezone"),
    ({"name": "Alice", "timezone": "Etc/GMT-2"}, "timezone"),
    ({"name": "Alice", "timezone": "Etc/UTC"}, "timezone"),
    ({"name": "Alice", "timezone": "+02:00"}, "timezone"),
    ({"name": "Alice", "timezone": "europe/paris"}, "timezone"),
    ({"name": "Alice", "timezone": "Europe/Atlantis"}, "timezone"),
    ({"name": "Alice", "timezone": "US/Eastern"}, "timezone"),
    ({"name": "Alice", "timezone": None}, "timezone"),
    ({"name": "Alice", "timezone": ""}, "timezone"),
    (
        {"name": "Alice", "working_hours": {"days": [0, 1], "start": "08:00", "end": "19:00"}},
        "working_hours.days[0]",
    ),
    (
        {"name": "Alice", "working_hours": {"days": [8], "start": "08:00", "end": "19:00"}},
        "working_hours.days[0]",
    ),
    (
        {"name": "Alice", "working_hours": {"days": [1, 1], "start": "08:00", "end": "19:00"}},
        "working_hours.days",
    ),
    (
        {"name": "Alice", "working_hours": {"days": [], "start": "08:00", "end": "19:00"}},
        "working_hours.days",
    ),
    (
        {"name": "Alice", "working_hours": {"days": ["1"], "start": "08:00", "end": "19:00"}},
        "working_hours.days[0]",
    ),
    (
        {"name": "Alice", "working_hours": {"days": [True], "start": "08:00", "end": "19:00"}},
        "working_hours.days[0]",
    ),
    (
        {"name": "Alice", "working_hours": {"days": [1], "start": "8:00", "end": "19:00"}},
        "working_hours.start",
    ),
    (
        {"name": "Alice", "working_hours": {"days": [1], "start": "08:00", "end": "24:00"}},
        "working_hours.end",
    ),
    ({"name": "Alice", "working_hours": {"days": [1], "start": "19:00", "end": "08:00"}}, "working_hours"),
    ({"name": "Alice", "working_hours": {"days": [1], "start": "08:00", "end": "08:00"}}, "working_hours"),
    ({"name": "Alice", "working_hours": {"days": [1], "start": "08:00"}}, "working_hours.end"),
    (
        {"name": "Alice", "working_hours": {"days": [1], "start": "08:00", "end": "19:00", "tz": "UTC"}},
        "working_hours.tz",
    ),
    ({"name": "Alice", "working_hours": "9-5"}, "working_hours"),
    ({"name": "Alice", "egress": None}, "egress"),
]


@pytest.mark.parametrize(
    ("body", "field"), BAD_BODIES, ids=[f"{i}-{f}" for i, (_, f) in enumerate(BAD_BODIES)]
)
async def test_bad_identity_bodies_are_400_and_store_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    assert_error(await client.post("/v1/identities", json=body), 400, "BAD_INPUT", field=field)
    assert await total(client, "/v1/identities") == 0


async def test_list_filters_pages_and_sorts(client: httpx.AsyncClient) -> None:
    names = ["Alice Martin", "Bob Stone", "Alicia Keys", "100% Real_Name"]
    made = [await _create(client, name=n) for n in names]
    response = await client.get("/v1/identities")
    assert response.headers["X-Total-Count"] == "4"
    assert [i["uid"] for i in response.json()] == [m["uid"] for m in reversed(made)]
    oldest = (await client.get("/v1/identities?sort=created_at&limit=2")).json()
    assert [i["uid"] for i in oldest] == [made[0]["uid"], made[1]["uid"]]
    page2 = await client.get("/v1/identities?limit=2&offset=2")
    assert [i["uid"] for i in page2.json()] == [made[1]["uid"], made[0]["uid"]]
    assert page2.headers["X-Total-Count"] == "4"
    beyond = await client.get("/v1/identities?offset=10")
    assert beyond.json() == [] and beyond.headers["X-Total-Count"] == "4"
    found = await client.get("/v1/identities", params={"query": "ALI"})
    assert {i["name"] for i in found.json()} == {"Alice Martin", "Alicia Keys"}
    assert found.headers["X-Total-Count"] == "2"
    # LIKE wildcards in the query are literal.
    assert [i["name"] for i in (await client.get("/v1/identities", params={"query": "%"})).json()] == [
        "100% Real_Name"
    ]
    assert (await client.get("/v1/identities", params={"query": "_"})).headers["X-Total-Count"] == "1"
    assert (await client.get("/v1/identities?limit=100")).status_code == 200


async def test_update_identity(client: httpx.AsyncClient) -> None:
    made = await _create(client, name="Before", timezone="Europe/Paris")
    response = await client.put(f"/v1/identities/{made['uid']}", json={"name": "After"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "After" and body["timezone"] == "Europe/Paris"
    assert body["working_hours"] == DEFAULT_HOURS
    assert body["updated_at"] >= made["updated_at"] and body["created_at"] == made["created_at"]
    hours = {"days": [1, 3], "start": "09:30", "end": "17:00"}
    body = (
        await client.put(
            f"/v1/identities/{made['uid']}", json={"timezone": "America/New_York", "working_hours": hours}
        )
    ).json()
    assert (
        body["timezone"] == "America/New_York" and body["working_hours"] == hours and body["name"] == "After"
    )
    body = (await client.put(f"/v1/identities/{made['uid']}", json={"working_hours": None})).json()
    assert body["working_hours"] is None
    assert (await client.get(f"/v1/identities/{made['uid']}")).json() == body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "ab"}, "name"),
        ({"name": None}, "name"),
        ({"timezone": "CEST"}, "timezone"),
        ({"timezone": None}, "timezone"),
        ({"working_hours": {"days": [9], "start": "08:00", "end": "19:00"}}, "working_hours.days[0]"),
        ({"uid": "mine"}, "uid"),
    ],
)
async def test_bad_updates_are_400_and_change_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    made = await _create(client, name="Unchanged")
    assert_error(await client.put(f"/v1/identities/{made['uid']}", json=body), 400, "BAD_INPUT", field=field)
    assert (await client.get(f"/v1/identities/{made['uid']}")).json() == made


async def test_integrations_are_listed_and_erased_on_delete(
    client: httpx.AsyncClient, new_workspace: CreatedWorkspace, engine: Engine
) -> None:
    made = await _create(client, name="Connected")
    connected_at = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    row = _integration(engine, made, new_workspace.workspace_uid, connected_at=connected_at)
    _integration(engine, made, new_workspace.workspace_uid, deleted_at=connected_at)  # an old one: hidden
    body = (await client.get(f"/v1/identities/{made['uid']}")).json()
    assert body["integrations"] == [
        {
            "uid": row.uid,
            "identity_uid": made["uid"],
            "type": "linkedin",
            "status": "VALID",
            "level": "premium",
            "account_name": "Zoë Ławrynowicz",
            "linkedin_profile_id": 123456789,
            "linkedin_profile_urn": "urn:li:fsd_profile:ACoAAB",
            "checkpoint": None,
            "last_error": None,
            "connected_at": "2026-01-01T21:34:05.678Z",
            "updated_at": iso_z(row.updated_at),
        }
    ]
    listed = (await client.get("/v1/identities")).json()
    assert listed[0]["integrations"][0]["uid"] == row.uid

    assert (await client.delete(f"/v1/identities/{made['uid']}")).status_code == 204
    assert_error(await client.get(f"/v1/identities/{made['uid']}"), 404, "NOT_FOUND")
    assert_error(await client.put(f"/v1/identities/{made['uid']}", json={"name": "Ghost"}), 404, "NOT_FOUND")
    assert_error(await client.delete(f"/v1/identities/{made['uid']}"), 404, "NOT_FOUND")
    assert await total(client, "/v1/identities") == 0
    with Session(engine) as session:
        identity = session.get(Identity, made["uid"])
        integration = session.get(Integration, row.uid)
        assert identity is not None and identity.deleted_at is not None  # soft delete
        assert integration is not None and integration.deleted_at is not None
        assert integration.cookies_enc is None


async def test_other_workspaces_identities_are_404(
    client: httpx.AsyncClient, api_url: str, engine: Engine, keyring: Keyring
) -> None:
    other = create_workspace(engine, keyring, "other", "boss@other.test")
    async with client_for(api_url, other.api_key) as theirs:
        foreign = (await theirs.post("/v1/identities", json={"name": "Not Yours"})).json()
    uid = foreign["uid"]
    assert_error(await client.get(f"/v1/identities/{uid}"), 404, "NOT_FOUND")
    assert_error(await client.put(f"/v1/identities/{uid}", json={"name": "Mine now"}), 404, "NOT_FOUND")
    assert_error(await client.delete(f"/v1/identities/{uid}"), 404, "NOT_FOUND")
    assert await total(client, "/v1/identities") == 0
    assert (await client.get("/v1/identities", params={"query": "Not Yours"})).json() == []
    async with client_for(api_url, other.api_key) as theirs:
        assert (await theirs.get(f"/v1/identities/{uid}")).json()["name"] == "Not Yours"


async def test_unknown_uid_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/identities/00000000-0000-0000-0000-000000000000"), 404, "NOT_FOUND")
    assert_error(await client.get("/v1/identities/" + "x" * 300), 404, "NOT_FOUND")


async def test_timestamps_are_the_same_instant_in_any_session_time_zone(
    client: httpx.AsyncClient, engine: Engine, database_url: str
) -> None:
    made = await _create(client, name="Timekeeper")
    with Session(engine) as session:
        identity = session.get(Identity, made["uid"])
        assert identity is not None
        assert identity.created_at.tzinfo is not None
        assert iso_z(identity.created_at) == made["created_at"]
    if not database_url.startswith("postgresql"):
        return
    # A PostgreSQL session in another time zone reads the same instant.
    tokyo = create_engine(normalize_url(database_url), connect_args={"options": "-c timezone=Asia/Tokyo"})
    try:
        with tokyo.connect() as conn:
            assert conn.execute(text("SHOW timezone")).scalar() == "Asia/Tokyo"
            raw = conn.execute(
                text("SELECT created_at FROM identities WHERE uid = :u"), {"u": made["uid"]}
            ).scalar()
            assert isinstance(raw, datetime) and raw.utcoffset() == timedelta(hours=9)
            assert iso_z(raw) == made["created_at"]
    finally:
        tokyo.dispose()


def test_postgres_is_exercised_when_configured(database_url: str) -> None:
    wanted = os.environ.get("TEST_DATABASE_URL", "")
    assert database_url.startswith("postgresql") == wanted.startswith("postgres")
