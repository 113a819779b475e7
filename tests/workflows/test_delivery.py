"""DeliveryWorkflow on the real Temporal dev server and worker, posting to a real HTTP receiver on loopback.

The retry plan is shortened (tests.support.deliveries.FAST); it travels in the workflow input, so the
session's worker runs it unchanged.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from db.engine import session_scope
from db.models import Delivery, Workspace
from edgewise.config import Settings
from edgewise.crypto import Keyring
from edgewise.timeutil import utcnow
from edgewise.webhooks import (
    create_delivery,
    encode_body,
    prepare_replay,
    rotate_secret,
    start_delivery,
    supersede_previous,
)
from edgewise.workspaces import CreatedWorkspace
from tests.conftest import TEST_DATA_CONVERTER
from tests.support.deliveries import closed_status, fast_settings, get_delivery, secret_of
from tests.support.history import decoded_history
from tests.support.webhook_receiver import Plan, Receiver, running_receiver, wait_until
from workflows.contracts import delivery_workflow_id
from workflows.delivery import DeliveryWorkflow

pytestmark = pytest.mark.usefixtures("worker")

# Exported histories, replayed so a change that breaks running delivery workflows fails CI. Regenerate with
# EDGEWISE_WRITE_HISTORIES=1 (only when a change is meant to be incompatible, with a versioning plan).
HISTORIES = Path(__file__).parent / "histories"

PAYLOAD = {"event_id": "x", "identity_name": "Zoë Ławrynowicz", "note": "日本語 ✓"}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def new_delivery(
    engine: Engine,
    keyring: Keyring,
    workspace_uid: str,
    url: str,
    headers: dict[str, str] | None = None,
    kind: str = "event",
) -> tuple[str, str, bytes]:
    body = encode_body(PAYLOAD)
    webhook_id = f"evt_{workspace_uid[:8]}_{utcnow().timestamp()}"
    with session_scope(engine) as session:
        delivery = create_delivery(
            session,
            keyring,
            workspace_uid=workspace_uid,
            kind=kind,
            webhook_id=webhook_id,
            url=url,
            body=body,
            headers=headers,
            run_uid=None,
        )
    return delivery.uid, webhook_id, body


async def test_retries_until_2xx_with_same_id_and_body_and_valid_signatures(
    engine: Engine,
    keyring: Keyring,
    settings: Settings,
    temporal_client: Client,
    receiver: Receiver,
    new_workspace: CreatedWorkspace,
) -> None:
    url, path = receiver.url_for(Plan(statuses=[500, 503, 404]))
    uid, webhook_id, body = new_delivery(
        engine,
        keyring,
        new_workspace.workspace_uid,
        url,
        headers={"Authorization": "Bearer caller-token", "X-Trace": "t1"},
    )
    assert get_delivery(engine, uid).status == "PENDING"

    await start_delivery(temporal_client, fast_settings(settings), uid)
    handle = temporal_client.get_workflow_handle(delivery_workflow_id(uid))
    assert await handle.result() == "SUCCEEDED"

    received = receiver.received(path)
    assert len(received) == 4
    secret = secret_of(engine, keyring, new_workspace.workspace_uid)
    for request in received:
        assert request.headers["webhook-id"] == webhook_id
        assert request.body == body  # byte for byte, UTF-8 and not \u-escaped
        assert "Zoë Ławrynowicz".encode() in request.body
        assert request.headers["content-type"] == "application/json"
        assert request.headers["authorization"] == "Bearer caller-token"
        assert request.headers["x-trace"] == "t1"
        assert len(request.headers["webhook-signature"].split(" ")) == 1
        assert Webhook(secret).verify(request.body, request.headers) == PAYLOAD
    # Attempts wait for the plan's durable timer (0.5 s) in between.
    gaps = [b.at - a.at for a, b in itertools.pairwise(received)]
    assert all(gap >= 0.4 for gap in gaps), gaps

    delivery = get_delivery(engine, uid)
    assert (delivery.status, delivery.attempts, delivery.last_http_status) == ("SUCCEEDED", 4, 200)
    assert delivery.last_error is None and delivery.next_attempt_at is None


async def test_failed_after_the_window_and_replay_sends_same_id_and_body(
    engine: Engine,
    keyring: Keyring,
    settings: Settings,
    temporal_client: Client,
    receiver: Receiver,
    new_workspace: CreatedWorkspace,
) -> None:
    plan = Plan(then=500)
    url, path = receiver.url_for(plan)
    uid, webhook_id, body = new_delivery(engine, keyring, new_workspace.workspace_uid, url)
    fast = fast_settings(settings, delivery_retry_schedule=[0.5, 1.0], delivery_max_age_seconds=3.0)
    await start_delivery(temporal_client, fast, uid)

    # Between attempts the delivery is RUNNING with the time of its next attempt.
    await receiver.wait_for(path, 1)

    def retrying() -> Delivery | None:
        row = get_delivery(engine, uid)
        # An attempt records its outcome when it ends; until then only its plan is visible.
        recorded = row.attempts >= 1 and row.last_http_status is not None
        return row if row.status == "RUNNING" and row.next_attempt_at is not None and recorded else None

    waiting = await wait_until(retrying)
    assert waiting.last_http_status == 500 and waiting.last_error == "HTTP 500"

    handle = temporal_client.get_workflow_handle(delivery_workflow_id(uid))
    assert await handle.result() == "FAILED"
    delivery = get_delivery(engine, uid)
    first = receiver.received(path)
    # Planned 0.5 s after the first, then 1 s after each, while within 3 s of the first: up to 4 attempts
    # (the dev server's timers are coarse and may fire late, so fewer under load).
    assert delivery.attempts == len(first) and 2 <= len(first) <= 4
    assert (delivery.status, delivery.last_http_status, delivery.next_attempt_at) == ("FAILED", 500, None)
    assert first[-1].at - first[0].at <= fast.delivery_max_age_seconds + 2

    # Replay: same webhook-id, same bytes, a new workflow delivery:{uid}:replay-1.
    plan.then = 200
    with session_scope(engine) as session:
        row = session.get(Delivery, uid)
        assert row is not None
        replay = prepare_replay(session, row)
    assert replay == 1 and get_delivery(engine, uid).status == "PENDING"
    await supersede_previous(temporal_client, uid, replay)  # the previous round is over: a no-op
    await start_delivery(temporal_client, fast, uid, replay=replay)
    result = await temporal_client.get_workflow_handle(delivery_workflow_id(uid, replay)).result()
    assert result == "SUCCEEDED"
    last = receiver.received(path)[-1]
    assert last.headers["webhook-id"] == webhook_id and last.body == body
    delivery = get_delivery(engine, uid)
    assert (delivery.status, delivery.attempts, delivery.replays) == ("SUCCEEDED", len(first) + 1, 1)


async def test_replay_supersedes_a_round_still_retrying(
    engine: Engine,
    keyring: Keyring,
    settings: Settings,
    temporal_client: Client,
    receiver: Receiver,
    new_workspace: CreatedWorkspace,
) -> None:
    plan = Plan(then=500)
    url, path = receiver.url_for(plan)
    uid, _, _ = new_delivery(engine, keyring, new_workspace.workspace_uid, url)
    slow = settings.model_copy(update={"delivery_retry_schedule": [30.0]})
    await start_delivery(temporal_client, slow, uid)
    await receiver.wait_for(path, 1)
    await wait_until(lambda: get_delivery(engine, uid).next_attempt_at is not None)

    plan.then = 200
    with session_scope(engine) as session:
        row = session.get(Delivery, uid)
        assert row is not None
        replay = prepare_replay(session, row)
    await supersede_previous(temporal_client, uid, replay)
    await start_delivery(temporal_client, slow, uid, replay=replay)
    assert await temporal_client.get_workflow_handle(delivery_workflow_id(uid, 1)).result() == "SUCCEEDED"
    # Cancellation is asynchronous: the superseded round ends as soon as its worker handles the request.
    old_handle = temporal_client.get_workflow_handle(delivery_workflow_id(uid))
    assert await closed_status(old_handle) == "CANCELED"
    assert len(receiver.received(path)) == 2
    assert get_delivery(engine, uid).status == "SUCCEEDED"


async def test_both_signatures_for_24h_after_rotation(
    engine: Engine,
    keyring: Keyring,
    settings: Settings,
    temporal_client: Client,
    receiver: Receiver,
    new_workspace: CreatedWorkspace,
) -> None:
    ws = new_workspace.workspace_uid
    old_secret = secret_of(engine, keyring, ws)
    with session_scope(engine) as session:
        workspace = session.get(Workspace, ws)
        assert workspace is not None
        new_secret = rotate_secret(keyring, workspace)
    assert new_secret != old_secret and new_secret.startswith("whsec_")

    url, path = receiver.url_for()
    uid, _, _ = new_delivery(engine, keyring, ws, url)
    await start_delivery(temporal_client, fast_settings(settings), uid)
    [request] = await receiver.wait_for(path, 1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(new_secret).verify(request.body, request.headers)
    Webhook(old_secret).verify(request.body, request.headers)

    # Once the 24 h are over, only the new secret signs.
    with session_scope(engine) as session:
        workspace = session.get(Workspace, ws)
        assert workspace is not None
        workspace.previous_secret_expires_at = utcnow() - timedelta(seconds=1)
    uid2, _, _ = new_delivery(engine, keyring, ws, url)
    await start_delivery(temporal_client, fast_settings(settings), uid2)
    [_, later] = await receiver.wait_for(path, 2)
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    Webhook(new_secret).verify(later.body, later.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(later.body, later.headers)


async def test_starting_twice_sends_once(
    engine: Engine,
    keyring: Keyring,
    settings: Settings,
    temporal_client: Client,
    receiver: Receiver,
    new_workspace: CreatedWorkspace,
) -> None:
    url, path = receiver.url_for()
    uid, _, _ = new_delivery(engine, keyring, new_workspace.workspace_uid, url)
    await start_delivery(temporal_client, fast_settings(settings), uid)
    assert await temporal_client.get_workflow_handle(delivery_workflow_id(uid)).result() == "SUCCEEDED"
    await start_delivery(temporal_client, fast_settings(settings), uid)  # finished already: a no-op
    await start_delivery(temporal_client, fast_settings(settings), uid)
    assert len(receiver.received(path)) == 1
    assert json.loads(receiver.received(path)[0].body) == PAYLOAD


def _replayer() -> Replayer:
    return Replayer(workflows=[DeliveryWorkflow], data_converter=TEST_DATA_CONVERTER)


async def test_history_of_a_retried_delivery_replays(
    engine: Engine,
    keyring: Keyring,
    settings: Settings,
    temporal_client: Client,
    receiver: Receiver,
    new_workspace: CreatedWorkspace,
) -> None:
    url, _ = receiver.url_for(Plan(statuses=[500, 502]))
    uid, _, _ = new_delivery(engine, keyring, new_workspace.workspace_uid, url)
    await start_delivery(temporal_client, fast_settings(settings), uid)
    handle = temporal_client.get_workflow_handle(delivery_workflow_id(uid))
    assert await handle.result() == "SUCCEEDED"
    history = await handle.fetch_history()
    await _replayer().replay_workflow(history)
    # Only the uid and the retry plan crossed into history: no body, no headers, no secret.
    started = (await decoded_history(history)).events[0].workflow_execution_started_event_attributes
    workflow_input = json.loads(started.input.payloads[0].data)
    assert set(workflow_input) == {
        "delivery_uid",
        "replay",
        "retry_schedule_seconds",
        "max_age_seconds",
        "next_attempt_at",
        "retry_in_seconds",
        "deadline",
    }
    text = (await decoded_history(history)).to_json()  # committed decoded, as record_histories does
    if os.environ.get("EDGEWISE_WRITE_HISTORIES"):
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / "delivery_retried_then_succeeded.json").write_text(text)


async def test_committed_histories_replay() -> None:
    files = sorted(HISTORIES.glob("delivery_*.json"))
    assert files, "no committed delivery histories"
    for file in files:
        await _replayer().replay_workflow(WorkflowHistory.from_json(file.stem, file.read_text()))


async def test_cancelling_a_round_while_its_attempt_is_in_flight_ends_it(
    engine: Engine,
    keyring: Keyring,
    settings: Settings,
    temporal_client: Client,
    receiver: Receiver,
    new_workspace: CreatedWorkspace,
) -> None:
    """A cancel that lands while the POST is under way must end the workflow (CANCELED), not be taken for a
    failed attempt and retried (the fault behind a flaky supersede test)."""
    url, path = receiver.url_for(Plan(delay=3.0))
    uid, _, _ = new_delivery(engine, keyring, new_workspace.workspace_uid, url)
    await start_delivery(temporal_client, fast_settings(settings), uid)
    await receiver.wait_for(path, 1)  # the attempt is in flight (the receiver answers after 3 s)
    handle = temporal_client.get_workflow_handle(delivery_workflow_id(uid))
    await handle.cancel()
    assert await closed_status(handle) == "CANCELED"
    await asyncio.sleep(1.5)
    assert len(receiver.received(path)) == 1  # no retry after the cancel


async def test_the_retry_wait_counts_from_the_end_of_the_failed_attempt(
    engine: Engine,
    keyring: Keyring,
    settings: Settings,
    temporal_client: Client,
    receiver: Receiver,
    new_workspace: CreatedWorkspace,
) -> None:
    """A slow failed answer (2 s here; up to the 10 s timeout in production) is followed by the plan's whole
    wait, not by what is left of it: the next attempt is due `retry` seconds after the answer."""
    url, path = receiver.url_for(Plan(statuses=[500], then=200, delay=2.0))
    uid, _, _ = new_delivery(engine, keyring, new_workspace.workspace_uid, url)
    retry = 1.0
    await start_delivery(temporal_client, fast_settings(settings, delivery_retry_schedule=[retry]), uid)

    [first] = await receiver.wait_for(path, 1)

    def retrying() -> Delivery | None:
        row = get_delivery(engine, uid)
        return row if row.last_http_status == 500 and row.next_attempt_at is not None else None

    waiting = await wait_until(retrying)
    assert waiting.next_attempt_at is not None and waiting.status == "RUNNING"
    # Planned after the answer came (the row's updated_at is written when the attempt ended).
    assert waiting.next_attempt_at >= waiting.updated_at + timedelta(seconds=retry * 0.99)
    assert await temporal_client.get_workflow_handle(delivery_workflow_id(uid)).result() == "SUCCEEDED"
    [_, second] = receiver.received(path)
    # The first request arrived, was answered 2 s later, and the retry came at least `retry` after that.
    assert second.at - first.at >= 2.0 + retry * 0.9
