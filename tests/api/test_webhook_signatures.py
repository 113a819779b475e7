"""Secret rotation through the API (API.md §2, §3 Deliveries): for 24 h every delivery carries a signature of
the new and of the previous secret, and a receiver holding either verifies it with the published Standard
Webhooks library. Real parts: the API over HTTP, the worker and Temporal dev server, a receiver on loopback,
and a real event (an identity's deletion: `DELETED`)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.engine import Engine
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from edgewise.workspaces import CreatedWorkspace
from tests.support.deliveries import deliveries_of, get_delivery, make_integration
from tests.support.webhook_receiver import Receiver, running_receiver, wait_until

pytestmark = pytest.mark.usefixtures("worker")

NAME = "Zoë Ławrynowicz"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def _signatures(headers: dict[str, str]) -> list[str]:
    return headers["webhook-signature"].split(" ")


async def test_after_rotation_deliveries_verify_with_either_secret_for_24h(
    client: httpx.AsyncClient, engine: Engine, receiver: Receiver, new_workspace: CreatedWorkspace
) -> None:
    url, path = receiver.url_for()
    assert (await client.put("/v1/workspace/webhook", json={"url": url})).status_code == 200
    old = (await client.get("/v1/workspace/webhook")).json()["secret"]
    rotated = await client.post("/v1/workspace/webhook/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new != old and (await client.get("/v1/workspace/webhook")).json()["secret"] == new

    integration = make_integration(engine, new_workspace.workspace_uid, name=NAME, status="VALID")
    assert (await client.delete(f"/v1/identities/{integration.identity_uid}")).status_code == 204
    [request] = await receiver.wait_for(path, 1)

    signatures = _signatures(request.headers)
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    event = Webhook(new).verify(request.body, request.headers)
    assert Webhook(old).verify(request.body, request.headers) == event
    stranger = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(request.body, request.headers)
    assert event["event"] == "DELETED" and event["identity_name"] == NAME
    assert event["status"] is None and event["checkpoint"] is None  # no status after a deletion
    assert event["integration_uid"] == integration.uid and request.headers["webhook-id"] == event["event_id"]
    assert NAME.encode() in request.body

    # A second rotation: the secret it replaces signs for 24 h more; the first one no longer does. A replay
    # sends the same id and body, signed with the two current secrets.
    newest = (await client.post("/v1/workspace/webhook/rotate-secret")).json()["secret"]
    [delivery] = deliveries_of(engine, workspace_uid=new_workspace.workspace_uid)
    await wait_until(lambda: get_delivery(engine, delivery.uid).status == "SUCCEEDED")
    replay = await client.post(f"/v1/deliveries/{delivery.uid}/replay")
    assert replay.status_code == 202, replay.text
    [_, again] = await receiver.wait_for(path, 2)
    assert again.body == request.body and again.headers["webhook-id"] == request.headers["webhook-id"]
    assert len(_signatures(again.headers)) == 2
    assert Webhook(newest).verify(again.body, again.headers) == event
    assert Webhook(new).verify(again.body, again.headers) == event
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(again.body, again.headers)
    assert json.loads(again.body) == event


async def test_only_admins_rotate_and_see_the_secret(
    client: httpx.AsyncClient, api_url: str
) -> None:
    from tests.api.helpers import add_member, assert_error, client_for

    before = (await client.get("/v1/workspace/webhook")).json()["secret"]
    for role in ("ops", "user"):
        member = await add_member(client, role)
        async with client_for(api_url, member["api_key"]) as other:
            assert_error(await other.post("/v1/workspace/webhook/rotate-secret"), 403, "FORBIDDEN")
            assert_error(await other.get("/v1/workspace/webhook"), 403, "FORBIDDEN")
    assert (await client.get("/v1/workspace/webhook")).json()["secret"] == before
