"""GET /v1/deliveries, GET /v1/deliveries/{uid}, POST /v1/deliveries/{uid}/replay — over real HTTP, with the
worker, the Temporal dev server and a real webhook receiver on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.engine import Engine
from standardwebhooks.webhooks import Webhook

from db.engine import session_scope
from db.models import Delivery, Member
from edgewise.crypto import Keyring, hash_api_key, new_api_key
from edgewise.timeutil import utcnow
from edgewise.webhooks import create_delivery, encode_body
from edgewise.workspaces import CreatedWorkspace, create_workspace
from tests.support.deliveries import get_delivery, make_run, secret_of
from tests.support.webhook_receiver import Receiver, running_receiver, wait_until

pytestmark = pytest.mark.usefixtures("worker")

FIELDS = {"uid", "kind", "webhook_id", "url", "status", "attempts", "last_http_status", "last_error",
          "next_attempt_at", "run_uid", "created_at", "updated_at"}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def add_delivery(engine: Engine, keyring: Keyring, workspace_uid: str, url: str, *, kind: str = "event",
                 status: str = "FAILED", run_uid: str | None = None, age: float = 0.0,
                 payload: object = None) -> Delivery:
    with session_scope(engine) as session:
        delivery = create_delivery(
            session, keyring, workspace_uid=workspace_uid, kind=kind, webhook_id=str(uuid.uuid4()), url=url,
            body=encode_body(payload or {"hello": "Zoë"}), headers=None, run_uid=run_uid,
        )
        delivery.status = status
        delivery.created_at = delivery.updated_at = utcnow() - timedelta(seconds=age)
        if status == "FAILED":
            delivery.attempts, delivery.last_http_status, delivery.last_error = 9, 500, "HTTP 500"
            delivery.next_attempt_at = None
        session.add(delivery)
    return delivery


def add_member(engine: Engine, workspace_uid: str, role: str) -> str:
    key = new_api_key()
    with session_scope(engine) as session:
        session.add(Member(workspace_uid=workspace_uid, email=f"{role}-{uuid.uuid4().hex[:6]}@example.test",
                           role=role, key_hash=hash_api_key(key)))
    return key


async def test_list_filters_pages_and_shape(
    client: httpx.AsyncClient, engine: Engine, keyring: Keyring, new_workspace: CreatedWorkspace,
) -> None:
    ws = new_workspace.workspace_uid
    url = "https://hooks.example.test/in"
    run = make_run(engine, keyring, ws, url=url)
    old_event = add_delivery(engine, keyring, ws, url, age=30)
    callback = add_delivery(engine, keyring, ws, url, kind="callback", status="SUCCEEDED", run_uid=run.uid,
                            age=20)
    new_event = add_delivery(engine, keyring, ws, url, status="PENDING", age=10)
    other = create_workspace(engine, keyring, "other", "x@example.test")
    add_delivery(engine, keyring, other.workspace_uid, url)

    response = await client.get("/v1/deliveries")
    assert response.status_code == 200, response.text
    assert response.headers["X-Total-Count"] == "3"
    body = response.json()
    assert [d["uid"] for d in body] == [new_event.uid, callback.uid, old_event.uid]  # newest first
    assert set(body[0]) == FIELDS
    assert body[2]["status"] == "FAILED" and body[2]["last_http_status"] == 500 and body[2]["attempts"] == 9
    assert body[2]["last_error"] == "HTTP 500" and body[2]["next_attempt_at"] is None
    assert body[0]["next_attempt_at"].endswith("Z") and body[0]["created_at"].endswith("Z")
    assert body[1]["run_uid"] == run.uid and body[1]["kind"] == "callback" and body[0]["run_uid"] is None

    async def uids(**params: str | int) -> list[str]:
        r = await client.get("/v1/deliveries", params=params)
        assert r.status_code == 200, r.text
        return [d["uid"] for d in r.json()]

    assert await uids(kind="event") == [new_event.uid, old_event.uid]
    assert await uids(kind="callback") == [callback.uid]
    assert await uids(status="FAILED") == [old_event.uid]
    assert await uids(run_uid=run.uid) == [callback.uid]
    assert await uids(kind="event", status="PENDING") == [new_event.uid]
    assert await uids(sort="created_at") == [old_event.uid, callback.uid, new_event.uid]
    assert await uids(limit=1, offset=1) == [callback.uid]
    paged = await client.get("/v1/deliveries", params={"limit": 1})
    assert paged.headers["X-Total-Count"] == "3" and len(paged.json()) == 1

    for bad in ({"kind": "sms"}, {"status": "DONE"}, {"limit": 0}, {"limit": 101}, {"sort": "uid"}):
        r = await client.get("/v1/deliveries", params=bad)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error_label"] == "BAD_INPUT"


async def test_get_one_and_other_workspaces_are_404(
    client: httpx.AsyncClient, engine: Engine, keyring: Keyring, new_workspace: CreatedWorkspace,
) -> None:
    mine = add_delivery(engine, keyring, new_workspace.workspace_uid, "https://hooks.example.test/a")
    other = create_workspace(engine, keyring, "other", "y@example.test")
    theirs = add_delivery(engine, keyring, other.workspace_uid, "https://hooks.example.test/b")

    response = await client.get(f"/v1/deliveries/{mine.uid}")
    assert response.status_code == 200 and response.json()["uid"] == mine.uid
    assert response.json()["webhook_id"] == mine.webhook_id
    for path in (f"/v1/deliveries/{theirs.uid}", f"/v1/deliveries/{uuid.uuid4()}"):
        r = await client.get(path)
        assert r.status_code == 404 and r.json()["error_label"] == "NOT_FOUND"
    r = await client.post(f"/v1/deliveries/{theirs.uid}/replay")
    assert r.status_code == 404 and r.json()["error_label"] == "NOT_FOUND"
    assert get_delivery(engine, theirs.uid).replays == 0


async def test_replay_sends_same_id_and_body_again(
    client: httpx.AsyncClient, engine: Engine, keyring: Keyring, receiver: Receiver,
    new_workspace: CreatedWorkspace,
) -> None:
    ws = new_workspace.workspace_uid
    url, path = receiver.url_for()
    failed = add_delivery(engine, keyring, ws, url, payload={"event": "AUTH_EXPIRED", "name": "Łukasz Żółć"})

    response = await client.post(f"/v1/deliveries/{failed.uid}/replay")
    assert response.status_code == 202, response.text
    assert response.json()["uid"] == failed.uid and response.json()["status"] == "PENDING"
    [request] = await receiver.wait_for(path, 1)
    assert request.headers["webhook-id"] == failed.webhook_id
    assert request.body == failed.body
    verified = Webhook(secret_of(engine, keyring, ws)).verify(request.body, request.headers)
    assert verified["name"] == "Łukasz Żółć"

    await wait_until(lambda: get_delivery(engine, failed.uid).status == "SUCCEEDED")
    shown = (await client.get(f"/v1/deliveries/{failed.uid}")).json()
    assert shown["status"] == "SUCCEEDED" and shown["attempts"] == 10 and shown["last_http_status"] == 200
    assert shown["last_error"] is None

    # Again: a second replay is its own round (delivery:{uid}:replay-2), same id and body.
    response = await client.post(f"/v1/deliveries/{failed.uid}/replay")
    assert response.status_code == 202
    [_, second] = await receiver.wait_for(path, 2)
    assert second.headers["webhook-id"] == failed.webhook_id and second.body == failed.body
    assert get_delivery(engine, failed.uid).replays == 2


async def test_replay_needs_ops_or_admin(
    api_url: str, engine: Engine, keyring: Keyring, receiver: Receiver, new_workspace: CreatedWorkspace,
) -> None:
    ws = new_workspace.workspace_uid
    url, path = receiver.url_for()
    failed = add_delivery(engine, keyring, ws, url)
    user_key = add_member(engine, ws, "user")
    ops_key = add_member(engine, ws, "ops")
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        as_user = {"X-API-Key": user_key}
        assert (await http.get("/v1/deliveries", headers=as_user)).status_code == 200
        assert (await http.get(f"/v1/deliveries/{failed.uid}", headers=as_user)).status_code == 200
        refused = await http.post(f"/v1/deliveries/{failed.uid}/replay", headers=as_user)
        assert refused.status_code == 403 and refused.json()["error_label"] == "FORBIDDEN"
        assert (await http.get("/v1/deliveries")).status_code == 401
        accepted = await http.post(f"/v1/deliveries/{failed.uid}/replay", headers={"X-API-Key": ops_key})
        assert accepted.status_code == 202, accepted.text
    await receiver.wait_for(path, 1)


async def test_openapi_describes_the_routes(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    assert {"get"} <= set(paths["/v1/deliveries"]) and {"get"} <= set(paths["/v1/deliveries/{uid}"])
    assert "202" in paths["/v1/deliveries/{uid}/replay"]["post"]["responses"]
    assert set(schema["components"]["schemas"]["DeliveryOut"]["properties"]) == FIELDS
