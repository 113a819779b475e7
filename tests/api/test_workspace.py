"""The workspace, its webhook and signing secret, and credit consumption (API.md §2)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from db.models import LedgerEntry, Workspace
from edgewise.crypto import Keyring
from edgewise.timeutil import utcnow
from edgewise.workspaces import CreatedWorkspace, create_workspace
from tests.api.helpers import assert_error


async def test_get_workspace(
    client: httpx.AsyncClient, new_workspace: CreatedWorkspace, engine: Engine
) -> None:
    with Session(engine) as session:
        workspace = session.get(Workspace, new_workspace.workspace_uid)
        assert workspace is not None
        workspace.credits_used_cents = 1234
        session.add(workspace)
        session.commit()
    body = (await client.get("/v1/workspace")).json()
    assert set(body) == {"uid", "name", "credits_used", "webhook", "created_at"}
    assert body["uid"] == new_workspace.workspace_uid
    assert body["credits_used"] == 12.34
    assert body["webhook"] is None
    assert body["created_at"].endswith("Z")
    await client.put("/v1/workspace/webhook", json={"url": "http://127.0.0.1:9/hooks"})
    assert (await client.get("/v1/workspace")).json()["webhook"] == {"url": "http://127.0.0.1:9/hooks"}


async def test_webhook_lifecycle(client: httpx.AsyncClient) -> None:
    first = (await client.get("/v1/workspace/webhook")).json()
    assert first["url"] is None
    assert first["secret"].startswith("whsec_")
    put = await client.put("/v1/workspace/webhook", json={"url": "https://127.0.0.1:8443/edgewise"})
    assert put.status_code == 200, put.text
    assert put.json() == {"url": "https://127.0.0.1:8443/edgewise", "secret": first["secret"]}
    assert (await client.get("/v1/workspace/webhook")).json()["url"] == "https://127.0.0.1:8443/edgewise"
    assert (await client.delete("/v1/workspace/webhook")).status_code == 204
    assert (await client.get("/v1/workspace/webhook")).json() == {"url": None, "secret": first["secret"]}
    assert (await client.delete("/v1/workspace/webhook")).status_code == 204  # idempotent


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"url": None},
        {"url": 12},
        {"url": ""},
        {"url": "ftp://127.0.0.1/x"},
        {"url": "http://"},
        {"url": "not a url"},
        {"url": "http://does-not-resolve.invalid/hook"},
        {"url": "http://127.0.0.1:9/x", "secret": "mine"},
    ],
)
async def test_bad_webhook_bodies_are_400_and_change_nothing(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    await client.put("/v1/workspace/webhook", json={"url": "http://127.0.0.1:9/keep"})
    assert_error(await client.put("/v1/workspace/webhook", json=body), 400, "BAD_INPUT")
    assert (await client.get("/v1/workspace/webhook")).json()["url"] == "http://127.0.0.1:9/keep"


async def test_webhook_to_the_api_itself_is_refused(client: httpx.AsyncClient, api_url: str) -> None:
    port = api_url.rsplit(":", 1)[1]
    for url in (f"{api_url}/v1/hook", f"http://localhost:{port}/x", f"http://0.0.0.0:{port}/x"):
        assert_error(
            await client.put("/v1/workspace/webhook", json={"url": url}), 400, "BAD_INPUT", field="url"
        )


async def test_rotate_secret_keeps_the_previous_one_for_a_day(
    client: httpx.AsyncClient, new_workspace: CreatedWorkspace, engine: Engine, keyring: Keyring
) -> None:
    old = (await client.get("/v1/workspace/webhook")).json()["secret"]
    response = await client.post("/v1/workspace/webhook/rotate-secret")
    assert response.status_code == 200, response.text
    new = response.json()["secret"]
    assert new.startswith("whsec_") and new != old
    assert (await client.get("/v1/workspace/webhook")).json()["secret"] == new
    with Session(engine) as session:
        workspace = session.get(Workspace, new_workspace.workspace_uid)
        assert (
            workspace is not None and workspace.previous_secret_enc and workspace.previous_secret_expires_at
        )
        assert keyring.decrypt_json(workspace.previous_secret_enc, associated=workspace.uid) == old
        remaining = workspace.previous_secret_expires_at - utcnow()
        assert timedelta(hours=23, minutes=59) < remaining <= timedelta(hours=24)


# --- consumption ---------------------------------------------------------------------------------------


def _ledger(engine: Engine, workspace_uid: str, action: str, cents: int, results: int, at: datetime) -> None:
    with Session(engine) as session:
        session.add(
            LedgerEntry(
                idempotency_token=uuid.uuid4().hex,
                workspace_uid=workspace_uid,
                action_name=action,
                credits_cents=cents,
                results=results,
                at=at,
            )
        )
        session.commit()


async def test_consumption_defaults_to_this_month(
    client: httpx.AsyncClient, new_workspace: CreatedWorkspace, engine: Engine, keyring: Keyring
) -> None:
    now = utcnow()
    month_start = datetime(now.year, now.month, 1, tzinfo=UTC)
    ws = new_workspace.workspace_uid
    _ledger(engine, ws, "linkedin-extract-people", 10, 1, now)
    _ledger(engine, ws, "linkedin-extract-people", 25, 2, month_start)  # first instant counts
    _ledger(engine, ws, "linkedin-search-people", 105, 10, now)
    _ledger(engine, ws, "linkedin-search-people", 999, 99, month_start - timedelta(seconds=1))  # last month
    other = create_workspace(engine, keyring, "other", "x@other.test")
    _ledger(engine, other.workspace_uid, "linkedin-search-people", 5000, 500, now)

    body = (await client.get("/v1/workspace/consumption")).json()
    assert body["period_start"] == month_start.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert body["credits_used"] == 1.4
    assert body["by_action"] == [
        {"action_name": "linkedin-extract-people", "credits": 0.35, "results": 3},
        {"action_name": "linkedin-search-people", "credits": 1.05, "results": 10},
    ]
    assert body["period_end"] > body["period_start"]


async def test_consumption_with_explicit_period(
    client: httpx.AsyncClient, new_workspace: CreatedWorkspace, engine: Engine
) -> None:
    ws = new_workspace.workspace_uid
    _ledger(engine, ws, "linkedin-visit-profile", 100, 1, datetime(2025, 3, 10, 12, 0, tzinfo=UTC))
    _ledger(engine, ws, "linkedin-visit-profile", 100, 1, datetime(2025, 3, 10, 23, 0, tzinfo=UTC))
    # 2025-03-10T00:00+02:00 .. 2025-03-11T00:00+02:00 == 09T22:00Z .. 10T22:00Z: only the first entry.
    response = await client.get(
        "/v1/workspace/consumption",
        params={"from": "2025-03-10T00:00:00+02:00", "to": "2025-03-11T00:00:00+02:00"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["credits_used"] == 1
    assert body["by_action"] == [{"action_name": "linkedin-visit-profile", "credits": 1, "results": 1}]
    assert body["period_start"] == "2025-03-09T22:00:00.000Z"
    assert body["period_end"] == "2025-03-10T22:00:00.000Z"
    empty = (
        await client.get(
            "/v1/workspace/consumption", params={"from": "2020-01-01T00:00:00Z", "to": "2020-02-01T00:00:00Z"}
        )
    ).json()
    assert empty["credits_used"] == 0 and empty["by_action"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2025-03-10T00:00:00"}, "from"),
        ({"to": "2025-03-10T00:00:00"}, "to"),
        ({"from": "2025-03-10"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2025-03-11T00:00:00Z", "to": "2025-03-10T00:00:00Z"}, "to"),
        ({"from": "2025-03-10T00:00:00Z", "to": "2025-03-10T00:00:00Z"}, "to"),
    ],
)
async def test_bad_consumption_periods_are_400(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    assert_error(await client.get("/v1/workspace/consumption", params=params), 400, "BAD_INPUT", field=field)
