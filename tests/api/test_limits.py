"""Smart Limits routes (API.md §7): overrides of the workspace and of identities (validation, storage, roles,
isolation) and GET …/actions/{slug}/limits, whose numbers must be what the next request meets."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from temporalio.client import Client

from activities.accounts import give_back_lease, request_lease
from activities.permits import build_demand
from edgewise.catalog import CATALOG
from edgewise.config import Settings
from edgewise.crypto import Keyring
from edgewise.timeutil import iso_z
from edgewise.workspaces import create_workspace
from tests.api.helpers import add_member, assert_error, client_for
from tests.conftest import AccountPool
from tests.support.flows import connected_identity, create_identity
from workflows.contracts import LeaseGrant, LeaseRequest, account_workflow_id

pytestmark = pytest.mark.usefixtures("worker")


async def overrides(client: httpx.AsyncClient, path: str) -> dict[str, Any]:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return dict(response.json()["limits"])


# --- overrides -------------------------------------------------------------------------------------------


async def test_workspace_overrides_set_and_remove(client: httpx.AsyncClient) -> None:
    assert await overrides(client, "/v1/workspace/limits") == {}
    response = await client.put(
        "/v1/workspace/limits", json={"limits": {"LK_MESSAGES_SENT": 50, "LK_PROFILE_VISITS": 300}}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"limits": {"LK_PROFILE_VISITS": 300, "LK_MESSAGES_SENT": 50}}
    # A PUT changes the buckets it names; null removes one.
    response = await client.put(
        "/v1/workspace/limits", json={"limits": {"LK_PROFILE_VISITS": None, "LK_INMAILS": 0}}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"limits": {"LK_MESSAGES_SENT": 50, "LK_INMAILS": 0}}
    assert await overrides(client, "/v1/workspace/limits") == {"LK_MESSAGES_SENT": 50, "LK_INMAILS": 0}
    # Removing what is not set is fine; an empty document changes nothing.
    assert (
        await client.put("/v1/workspace/limits", json={"limits": {"LK_SEARCH_RESULTS": None}})
    ).status_code == 200
    assert (await client.put("/v1/workspace/limits", json={"limits": {}})).json() == {
        "limits": {"LK_MESSAGES_SENT": 50, "LK_INMAILS": 0}
    }


async def test_identity_overrides_set_and_remove(client: httpx.AsyncClient) -> None:
    identity = await create_identity(client)
    path = f"/v1/identities/{identity['uid']}/limits"
    assert await overrides(client, path) == {}
    response = await client.put(
        path, json={"limits": {"LK_CONNECTION_REQUESTS": 50, "LK_CONNECTION_NOTES": 0}}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"limits": {"LK_CONNECTION_REQUESTS": 50, "LK_CONNECTION_NOTES": 0}}
    response = await client.put(path, json={"limits": {"LK_CONNECTION_NOTES": None}})
    assert response.json() == {"limits": {"LK_CONNECTION_REQUESTS": 50}}
    assert await overrides(client, path) == {"LK_CONNECTION_REQUESTS": 50}
    # The identity object itself is unchanged in shape.
    assert "limits" not in (await client.get(f"/v1/identities/{identity['uid']}")).json()


BAD_BODIES: list[tuple[Any, str]] = [
    ({"limits": {"LK_MESSAGES_SENT": -1}}, "limits.LK_MESSAGES_SENT"),
    ({"limits": {"LK_MESSAGES_SENT": 1.5}}, "limits.LK_MESSAGES_SENT"),
    ({"limits": {"LK_MESSAGES_SENT": 50.0}}, "limits.LK_MESSAGES_SENT"),
    ({"limits": {"LK_MESSAGES_SENT": "50"}}, "limits.LK_MESSAGES_SENT"),
    ({"limits": {"LK_MESSAGES_SENT": True}}, "limits.LK_MESSAGES_SENT"),
    ({"limits": {"LK_MESSAGES_SENT": [1]}}, "limits.LK_MESSAGES_SENT"),
    ({"limits": {"LK_NOPE": 5}}, "limits.LK_NOPE"),
    ({"limits": {"lk_messages_sent": 5}}, "limits.lk_messages_sent"),
    ({"limits": {"LK_NOPE": None}}, "limits.LK_NOPE"),
    ({"limits": {"LK_MESSAGES_SENT": 10, "LK_SEARCH_RESULTS": 10**9}}, "limits.LK_SEARCH_RESULTS"),
    ({"limits": [1]}, "limits"),
    ({"limits": 5}, "limits"),
    ({"limits": {}, "extra": 1}, "extra"),
    ({}, "limits"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
async def test_bad_overrides_are_400_and_store_nothing(
    client: httpx.AsyncClient, body: Any, field: str
) -> None:
    identity = await create_identity(client)
    for path in ("/v1/workspace/limits", f"/v1/identities/{identity['uid']}/limits"):
        assert (await client.put(path, json={"limits": {"LK_PROFILE_VISITS": 7}})).status_code == 200
        assert_error(await client.put(path, json=body), 400, "BAD_INPUT", field)
        assert await overrides(client, path) == {"LK_PROFILE_VISITS": 7}


async def test_override_ceilings(client: httpx.AsyncClient) -> None:
    identity = await create_identity(client)
    mine = f"/v1/identities/{identity['uid']}/limits"
    # Workspace: up to 2× the highest default (visits: 2 × 150).
    assert (
        await client.put("/v1/workspace/limits", json={"limits": {"LK_PROFILE_VISITS": 300}})
    ).status_code == 200
    body = assert_error(
        await client.put("/v1/workspace/limits", json={"limits": {"LK_PROFILE_VISITS": 301}}),
        400,
        "BAD_INPUT",
        "limits.LK_PROFILE_VISITS",
    )
    assert "300" in body["params"]["validation_errors"][0]["message"]
    # Identity without a connected account: against the classic default (2 × 80).
    assert (await client.put(mine, json={"limits": {"LK_PROFILE_VISITS": 160}})).status_code == 200
    assert_error(
        await client.put(mine, json={"limits": {"LK_PROFILE_VISITS": 161}}),
        400,
        "BAD_INPUT",
        "limits.LK_PROFILE_VISITS",
    )
    assert_error(
        await client.put(mine, json={"limits": {"LK_INMAILS": 1}}), 400, "BAD_INPUT", "limits.LK_INMAILS"
    )
    # Unlimited by default on no level for the workspace → any count; notes are 5 on classic (max 10).
    assert (
        await client.put("/v1/workspace/limits", json={"limits": {"LK_CONNECTION_NOTES": 1000}})
    ).status_code == 200
    assert_error(
        await client.put(mine, json={"limits": {"LK_CONNECTION_NOTES": 11}}),
        400,
        "BAD_INPUT",
        "limits.LK_CONNECTION_NOTES",
    )
    # Every bad bucket is named at once.
    body = assert_error(
        await client.put(mine, json={"limits": {"LK_PROFILE_VISITS": 999, "LK_X": 1, "LK_INMAILS": -2}}),
        400,
        "BAD_INPUT",
    )
    assert {e["field"] for e in body["params"]["validation_errors"]} == {
        "limits.LK_PROFILE_VISITS",
        "limits.LK_X",
        "limits.LK_INMAILS",
    }


async def test_identity_override_ceiling_follows_the_connected_level(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    identity, integration = await connected_identity(client, sandbox, account_pool.take("sales_navigator"))
    assert integration["level"] == "sales_navigator"
    path = f"/v1/identities/{identity['uid']}/limits"
    assert (
        await client.put(path, json={"limits": {"LK_PROFILE_VISITS": 300, "LK_INMAILS": 100}})
    ).status_code == 200
    assert_error(
        await client.put(path, json={"limits": {"LK_PROFILE_VISITS": 301}}),
        400,
        "BAD_INPUT",
        "limits.LK_PROFILE_VISITS",
    )
    # Unlimited notes on Sales Navigator: any count.
    assert (await client.put(path, json={"limits": {"LK_CONNECTION_NOTES": 5000}})).status_code == 200


async def test_roles(client: httpx.AsyncClient, api_url: str) -> None:
    identity = await create_identity(client)
    mine = f"/v1/identities/{identity['uid']}/limits"
    action = f"/v1/identities/{identity['uid']}/actions/linkedin-visit-profile/limits"
    body = {"limits": {"LK_MESSAGES_SENT": 10}}
    ops = await add_member(client, "ops")
    user = await add_member(client, "user")
    async with client_for(api_url, ops["api_key"]) as as_ops, client_for(api_url, user["api_key"]) as as_user:
        # Workspace overrides: admin only.
        assert (await client.put("/v1/workspace/limits", json=body)).status_code == 200
        assert (await client.get("/v1/workspace/limits")).status_code == 200
        for other in (as_ops, as_user):
            assert_error(await other.get("/v1/workspace/limits"), 403, "FORBIDDEN")
            assert_error(
                await other.put("/v1/workspace/limits", json={"limits": {"LK_MESSAGES_SENT": 1}}),
                403,
                "FORBIDDEN",
            )
        # Identity overrides: ops or admin write; anyone reads.
        assert (await client.put(mine, json=body)).status_code == 200
        assert (await as_ops.put(mine, json={"limits": {"LK_MESSAGES_SENT": 20}})).status_code == 200
        assert_error(await as_user.put(mine, json={"limits": {"LK_MESSAGES_SENT": 30}}), 403, "FORBIDDEN")
        for reader in (client, as_ops, as_user):
            assert await overrides(reader, mine) == {"LK_MESSAGES_SENT": 20}
            assert (await reader.get(action)).status_code == 200
    async with client_for(api_url, None) as anonymous:
        for path in ("/v1/workspace/limits", mine, action):
            assert_error(await anonymous.get(path), 401, "UNAUTHORIZED")


async def test_other_workspaces_and_unknown_things_are_404(
    client: httpx.AsyncClient, api_url: str, engine: Engine, keyring: Keyring
) -> None:
    identity = await create_identity(client)
    other = create_workspace(engine, keyring, "other-ws", "admin@other.test")
    async with client_for(api_url, other.api_key) as stranger:
        assert_error(await stranger.get(f"/v1/identities/{identity['uid']}/limits"), 404, "NOT_FOUND")
        assert_error(
            await stranger.put(
                f"/v1/identities/{identity['uid']}/limits", json={"limits": {"LK_INMAILS": 0}}
            ),
            404,
            "NOT_FOUND",
        )
        assert_error(
            await stranger.get(f"/v1/identities/{identity['uid']}/actions/linkedin-visit-profile/limits"),
            404,
            "NOT_FOUND",
        )
        # The stranger's workspace overrides are its own.
        assert (
            await stranger.put("/v1/workspace/limits", json={"limits": {"LK_INMAILS": 1}})
        ).status_code == 200
    assert await overrides(client, "/v1/workspace/limits") == {}
    assert await overrides(client, f"/v1/identities/{identity['uid']}/limits") == {}
    assert_error(
        await client.get(f"/v1/identities/{identity['uid']}/actions/linkedin-nope/limits"), 404, "NOT_FOUND"
    )
    assert_error(
        await client.get("/v1/identities/nope/actions/linkedin-visit-profile/limits"), 404, "NOT_FOUND"
    )
    assert_error(await client.get("/v1/identities/nope/limits"), 404, "NOT_FOUND")


# --- an action's limits --------------------------------------------------------------------------------


async def test_action_limits_without_a_connected_account(client: httpx.AsyncClient) -> None:
    identity = await create_identity(client)
    await client.put(
        "/v1/workspace/limits", json={"limits": {"LK_CONNECTION_REQUESTS": 60, "LK_CONNECTION_NOTES": 3}}
    )
    await client.put(f"/v1/identities/{identity['uid']}/limits", json={"limits": {"LK_CONNECTION_NOTES": 4}})
    response = await client.get(f"/v1/identities/{identity['uid']}/actions/linkedin-connect-profile/limits")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["identity_uid"] == identity["uid"]
    assert body["action_slug"] == "linkedin-connect-profile"
    assert body["level"] == "classic"
    by_slug = {row["slug"]: row for row in body["limits"]}
    assert [row["slug"] for row in body["limits"]] == list(CATALOG["linkedin-connect-profile"].limit_buckets)
    # The workspace's 60 is capped at 2× the classic default; the identity's override wins for notes.
    assert by_slug["LK_CONNECTION_REQUESTS"] == {
        "slug": "LK_CONNECTION_REQUESTS",
        "max_limit": 50,
        "consumed": 0,
        "remaining": 50,
        "window_seconds": 86400,
        "has_reached_limit": False,
        "available_at": None,
        "applies_when": None,
    }
    assert by_slug["LK_CONNECTION_REQUESTS_WEEKLY"]["max_limit"] == 100
    assert by_slug["LK_CONNECTION_REQUESTS_WEEKLY"]["window_seconds"] == 7 * 86400
    notes = by_slug["LK_CONNECTION_NOTES"]
    assert notes["max_limit"] == 4 and notes["applies_when"] == "parameters.message is set"
    assert notes["window_seconds"] == 30 * 86400
    # An action without buckets has an empty list; InMails on classic are 0 and reached.
    me = (await client.get(f"/v1/identities/{identity['uid']}/actions/linkedin-me/limits")).json()
    assert me["limits"] == []
    inmail = (
        await client.get(f"/v1/identities/{identity['uid']}/actions/salesnavigator-inmail-profile/limits")
    ).json()
    assert inmail["limits"][0]["max_limit"] == 0 and inmail["limits"][0]["has_reached_limit"] is True
    assert inmail["limits"][0]["available_at"] is None


async def _ask(
    temporal_client: Client, settings: Settings, pid: int, engine: Engine, identity_uid: str, holder: str
) -> LeaseGrant:
    """A live-style permit for one invitation with a note, with the demand the live route builds."""
    spec = CATALOG["linkedin-connect-profile"]
    demand = build_demand(engine, settings, spec, {"message": "Hello"}, identity_uid, live=True)
    request = LeaseRequest(holder=holder, kind="live", demand=demand)
    return await request_lease(temporal_client, settings.temporal_task_queue, pid, request)


async def test_action_limits_agree_with_the_next_request(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    temporal_client: Client,
    settings: Settings,
    engine: Engine,
) -> None:
    identity, integration = await connected_identity(client, sandbox, account_pool.take("classic"))
    pid = int(integration["linkedin_profile_id"])
    path = f"/v1/identities/{identity['uid']}/actions/linkedin-connect-profile/limits"
    try:
        await client.put(
            f"/v1/identities/{identity['uid']}/limits", json={"limits": {"LK_CONNECTION_NOTES": 2}}
        )
        before = {row["slug"]: row for row in (await client.get(path)).json()["limits"]}
        assert (
            before["LK_CONNECTION_NOTES"]["max_limit"] == 2 and before["LK_CONNECTION_NOTES"]["consumed"] == 0
        )

        for n in range(2):
            grant = await _ask(temporal_client, settings, pid, engine, identity["uid"], f"live:test-{n}")
            assert grant.granted and grant.lease_id, grant
            assert grant.units == {
                "LK_CONNECTION_REQUESTS": 1,
                "LK_CONNECTION_REQUESTS_WEEKLY": 1,
                "LK_CONNECTION_NOTES": 1,
            }
            assert await give_back_lease(temporal_client, pid, grant.lease_id)
        body = (await client.get(path)).json()
        assert body["level"] == "classic"
        rows = {row["slug"]: row for row in body["limits"]}
        assert rows["LK_CONNECTION_REQUESTS"]["consumed"] == 2
        assert rows["LK_CONNECTION_REQUESTS"]["remaining"] == 23
        assert rows["LK_CONNECTION_REQUESTS_WEEKLY"]["remaining"] == 98
        notes = rows["LK_CONNECTION_NOTES"]
        assert notes["consumed"] == 2 and notes["remaining"] == 0 and notes["has_reached_limit"] is True
        assert notes["available_at"] is not None and notes["available_at"].endswith("Z")

        refused = await _ask(temporal_client, settings, pid, engine, identity["uid"], "live:test-3")
        assert not refused.granted and refused.reason == "LK_CONNECTION_NOTES"
        assert iso_z(refused.available_at) == notes["available_at"]

        # Raising the override (the next request's demand carries it) shows at once, and lets it through.
        await client.put(
            f"/v1/identities/{identity['uid']}/limits", json={"limits": {"LK_CONNECTION_NOTES": 3}}
        )
        notes = {row["slug"]: row for row in (await client.get(path)).json()["limits"]}["LK_CONNECTION_NOTES"]
        assert notes["max_limit"] == 3 and notes["remaining"] == 1 and notes["available_at"] is None
        grant = await _ask(temporal_client, settings, pid, engine, identity["uid"], "live:test-4")
        assert grant.granted and grant.lease_id
        await give_back_lease(
            temporal_client, pid, grant.lease_id, used={}
        )  # LinkedIn refused before sending
        notes = {row["slug"]: row for row in (await client.get(path)).json()["limits"]}["LK_CONNECTION_NOTES"]
        assert notes["consumed"] == 2 and notes["remaining"] == 1
    finally:
        try:
            await temporal_client.get_workflow_handle(account_workflow_id(pid)).terminate("test over")
        except Exception:
            pass
