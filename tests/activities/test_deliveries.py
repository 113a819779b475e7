"""The delivery activity, integration events and run callbacks over real parts: the database under test, the
Temporal dev server with the session's worker, and a real HTTP receiver on loopback."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from standardwebhooks.webhooks import Webhook
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.deliveries import DeliveryActivities
from db.engine import session_scope
from db.models import Delivery, Integration, Run, RunInput
from edgewise import callbacks
from edgewise.callbacks import emit_run_callbacks
from edgewise.config import Settings
from edgewise.crypto import Keyring
from edgewise.events import emit_integration_event
from edgewise.timeutil import utcnow
from edgewise.webhooks import create_delivery, encode_body, prepare_replay
from edgewise.workspaces import CreatedWorkspace
from tests.support.deliveries import (
    add_outputs,
    deliveries_of,
    fast_settings,
    finish_run,
    get_delivery,
    make_deps,
    make_integration,
    make_run,
    secret_of,
    set_webhook,
)
from tests.support.webhook_receiver import Plan, Receiver, running_receiver, wait_until
from workflows.contracts import DeliveryInput

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def _delivery(engine: Engine, keyring: Keyring, workspace_uid: str, url: str) -> Delivery:
    with session_scope(engine) as session:
        return create_delivery(
            session, keyring, workspace_uid=workspace_uid, kind="event", webhook_id="evt-1", url=url,
            body=encode_body({"a": "é"}), headers=None, run_uid=None,
        )


# --- attempt_delivery -----------------------------------------------------------------------------------

async def test_private_target_refused_at_send_time(
    engine: Engine, keyring: Keyring, settings: Settings, temporal_client: Client, receiver: Receiver,
    new_workspace: CreatedWorkspace,
) -> None:
    strict = settings.model_copy(update={"allow_private_targets": False})
    acts = DeliveryActivities(make_deps(strict, engine, keyring, temporal_client))
    url, path = receiver.url_for()  # http://127.0.0.1:… — loopback
    delivery = _delivery(engine, keyring, new_workspace.workspace_uid, url)

    step = await ActivityEnvironment().run(
        acts.attempt_delivery, DeliveryInput(delivery_uid=delivery.uid, next_attempt_at=utcnow())
    )
    assert step.failed_permanently and not step.succeeded
    assert receiver.received(path) == []
    row = get_delivery(engine, delivery.uid)
    assert row.status == "FAILED" and row.attempts == 1 and row.next_attempt_at is None
    assert row.last_error is not None and "refused" in row.last_error

    # A host that does not resolve (DNS trouble passes) is a failed attempt, retried — not the end.
    unresolvable = _delivery(engine, keyring, new_workspace.workspace_uid, "http://no-such-host.invalid/hook")
    next_at = utcnow()
    step = await ActivityEnvironment().run(
        acts.attempt_delivery, DeliveryInput(delivery_uid=unresolvable.uid, next_attempt_at=next_at)
    )
    assert not step.failed_permanently and step.error is not None and "refused" in step.error
    row = get_delivery(engine, unresolvable.uid)
    assert row.status == "RUNNING" and row.next_attempt_at == next_at


async def test_no_answer_within_the_timeout_is_a_failed_attempt(
    engine: Engine, keyring: Keyring, settings: Settings, temporal_client: Client, receiver: Receiver,
    new_workspace: CreatedWorkspace,
) -> None:
    quick = settings.model_copy(update={"delivery_timeout_seconds": 1.0})
    acts = DeliveryActivities(make_deps(quick, engine, keyring, temporal_client))
    url, path = receiver.url_for(Plan(delay=3))
    delivery = _delivery(engine, keyring, new_workspace.workspace_uid, url)
    next_at = utcnow()

    step = await ActivityEnvironment().run(
        acts.attempt_delivery, DeliveryInput(delivery_uid=delivery.uid, next_attempt_at=next_at)
    )
    assert not step.succeeded and not step.failed_permanently and step.http_status is None
    assert step.error == "no answer within 1 s"
    row = get_delivery(engine, delivery.uid)
    assert (row.status, row.attempts, row.last_http_status) == ("RUNNING", 1, None)
    assert row.next_attempt_at == next_at
    assert len(await receiver.wait_for(path, 1)) == 1


async def test_attempt_of_a_superseded_round_sends_nothing(
    engine: Engine, keyring: Keyring, settings: Settings, temporal_client: Client, receiver: Receiver,
    new_workspace: CreatedWorkspace,
) -> None:
    acts = DeliveryActivities(make_deps(settings, engine, keyring, temporal_client))
    url, path = receiver.url_for()
    delivery = _delivery(engine, keyring, new_workspace.workspace_uid, url)
    with session_scope(engine) as session:
        row = session.get(Delivery, delivery.uid)
        assert row is not None
        prepare_replay(session, row)

    step = await ActivityEnvironment().run(acts.attempt_delivery, DeliveryInput(delivery_uid=delivery.uid))
    assert step.failed_permanently and step.error == "superseded by a replay"
    assert receiver.received(path) == []
    assert get_delivery(engine, delivery.uid).attempts == 0

    # The current round sends; once SUCCEEDED, a retried activity of that round does not send again.
    current = DeliveryInput(delivery_uid=delivery.uid, replay=1)
    assert (await ActivityEnvironment().run(acts.attempt_delivery, current)).succeeded
    assert (await ActivityEnvironment().run(acts.attempt_delivery, current)).succeeded
    assert len(receiver.received(path)) == 1
    assert get_delivery(engine, delivery.uid).attempts == 1


# --- integration events ---------------------------------------------------------------------------------

async def test_integration_event_payload_sequence_signature_and_idempotence(
    engine: Engine, keyring: Keyring, settings: Settings, temporal_client: Client, receiver: Receiver,
    new_workspace: CreatedWorkspace,
) -> None:
    ws = new_workspace.workspace_uid
    url, path = receiver.url_for()
    set_webhook(engine, ws, url)
    integration = make_integration(engine, ws)
    deps = make_deps(fast_settings(settings), engine, keyring, temporal_client)

    first = await emit_integration_event(
        deps, integration.uid, "AUTH_EXPIRED", action_to_be_taken="RETRY_LOGIN", event_id="evt-expired-1"
    )
    again = await emit_integration_event(
        deps, integration.uid, "AUTH_EXPIRED", action_to_be_taken="RETRY_LOGIN", event_id="evt-expired-1"
    )
    assert first is not None and again == first
    second = await emit_integration_event(deps, integration.uid, "RESTRICTED", action_to_be_taken="WAIT")
    assert second is not None and second != first

    requests = await receiver.wait_for(path, 2)
    await wait_until(lambda: get_delivery(engine, second).status == "SUCCEEDED")
    secret = secret_of(engine, keyring, ws)
    verified = [Webhook(secret).verify(r.body, r.headers) for r in requests]
    expired, restricted = sorted(verified, key=lambda p: p["sequence"])
    assert list(expired) == ["event_id", "event", "occurred_at", "sequence", "workspace_uid", "identity_uid",
                             "identity_name", "integration_uid", "integration_type", "status", "checkpoint",
                             "action_to_be_taken"]
    assert expired["event_id"] == "evt-expired-1" and expired["event"] == "AUTH_EXPIRED"
    assert (expired["sequence"], restricted["sequence"]) == (1, 2)
    assert expired["identity_name"] == "Zoë Ławrynowicz"
    assert "Zoë Ławrynowicz".encode() in requests[0].body + requests[1].body
    assert expired["workspace_uid"] == ws and expired["integration_uid"] == integration.uid
    assert expired["identity_uid"] == integration.identity_uid and expired["integration_type"] == "linkedin"
    assert expired["status"] == "INVALID" and expired["checkpoint"] is None
    assert expired["action_to_be_taken"] == "RETRY_LOGIN" and restricted["action_to_be_taken"] == "WAIT"
    assert expired["occurred_at"].endswith("Z")
    headers_by_id = {r.headers["webhook-id"] for r in requests}
    assert headers_by_id == {"evt-expired-1", restricted["event_id"]}
    with session_scope(engine) as session:
        row = session.get(Integration, integration.uid)
        assert row is not None and row.event_sequence == 2
    assert len(receiver.received(path)) == 2
    stored = get_delivery(engine, first)
    assert stored.kind == "event" and stored.webhook_id == "evt-expired-1" and stored.run_uid is None


async def test_integration_event_id_derives_from_the_activity_so_retries_send_once(
    engine: Engine, keyring: Keyring, settings: Settings, temporal_client: Client, receiver: Receiver,
    new_workspace: CreatedWorkspace,
) -> None:
    ws = new_workspace.workspace_uid
    url, path = receiver.url_for()
    set_webhook(engine, ws, url)
    integration = make_integration(engine, ws, name="Ørjan Ünal")
    deps = make_deps(fast_settings(settings), engine, keyring, temporal_client)

    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=f"connect:{integration.uid}:a1", activity_id="7")
    uid_a = await env.run(emit_integration_event, deps, integration.uid, "AUTH_SUCCESS")
    uid_b = await env.run(emit_integration_event, deps, integration.uid, "AUTH_SUCCESS")  # a retry
    assert uid_a is not None and uid_a == uid_b
    other = ActivityEnvironment()
    other.info = dataclasses.replace(other.info, workflow_id=f"connect:{integration.uid}:a1", activity_id="9")
    uid_c = await other.run(emit_integration_event, deps, integration.uid, "AUTH_SUCCESS")
    assert uid_c not in (None, uid_a)
    await receiver.wait_for(path, 2)
    await wait_until(lambda: get_delivery(engine, uid_c).status == "SUCCEEDED")
    assert len(receiver.received(path)) == 2


async def test_integration_event_without_webhook_url_creates_nothing(
    engine: Engine, keyring: Keyring, settings: Settings, temporal_client: Client,
    new_workspace: CreatedWorkspace,
) -> None:
    integration = make_integration(engine, new_workspace.workspace_uid)
    deps = make_deps(fast_settings(settings), engine, keyring, temporal_client)
    assert await emit_integration_event(deps, integration.uid, "DELETED") is None
    assert deliveries_of(engine, workspace_uid=new_workspace.workspace_uid) == []
    with pytest.raises(ValueError):
        await emit_integration_event(deps, integration.uid, "NOT_AN_EVENT")


# --- run callbacks --------------------------------------------------------------------------------------

def _posts(receiver: Receiver, path: str, secret: str) -> list[dict[str, Any]]:
    posts = [Webhook(secret).verify(r.body, r.headers) for r in receiver.received(path)]
    return sorted(posts, key=lambda p: p["sequence"])


async def test_callbacks_on_all_batch_by_100_then_final(
    engine: Engine, keyring: Keyring, settings: Settings, temporal_client: Client, receiver: Receiver,
    new_workspace: CreatedWorkspace,
) -> None:
    ws = new_workspace.workspace_uid
    url, path = receiver.url_for()
    run = make_run(engine, keyring, ws, url=url, on="all", outputs=250, headers={"X-Caller-Secret": "s3"})
    deps = make_deps(fast_settings(settings), engine, keyring, temporal_client)

    assert await emit_run_callbacks(deps, run.uid, final=False) == 3
    assert await emit_run_callbacks(deps, run.uid, final=False) == 0  # nothing new
    finish_run(engine, run.uid, "SUCCEEDED")
    assert await emit_run_callbacks(deps, run.uid, final=True) == 1
    # A retry, or the same state settled twice:
    assert await emit_run_callbacks(deps, run.uid, final=True) == 0

    await receiver.wait_for(path, 4)
    secret = secret_of(engine, keyring, ws)
    posts = _posts(receiver, path, secret)
    assert [p["sequence"] for p in posts] == [1, 2, 3, 4]
    assert [len(p["data"]) for p in posts] == [100, 100, 50, 0]
    assert [row["n"] for p in posts for row in p["data"]] == list(range(250))
    row = posts[0]["data"][0]
    assert set(row) == {"full_name", "n", "run_input_uid", "identity_uid", "custom_data", "extracted_at"}
    assert row["full_name"] == "Person Ñº 0" and row["custom_data"] == {"crm_id": "ü-42"}
    assert row["extracted_at"].endswith("Z")
    assert list(posts[0]) == ["callback_uid", "sequence", "run", "batch_uid", "data", "error"]
    assert posts[0]["run"] == {"uid": run.uid, "status": "RUNNING", "action_name": "extract-people",
                               "output_count": 250, "inputs_done": 0, "inputs_count": 1}
    assert posts[3]["run"]["status"] == "SUCCEEDED" and posts[3]["error"] is None
    assert posts[3]["batch_uid"] is None and posts[0]["batch_uid"]
    for request in receiver.received(path):
        assert request.headers["x-caller-secret"] == "s3"
        assert request.headers["webhook-id"] == json.loads(request.body)["callback_uid"]
    assert len({p["callback_uid"] for p in posts}) == 4
    with session_scope(engine) as session:
        stored = session.get(Run, run.uid)
        assert stored is not None and stored.callback_sequence == 4
    deliveries = deliveries_of(engine, run_uid=run.uid)
    assert len(deliveries) == 4 and {d.kind for d in deliveries} == {"callback"}
    await wait_until(lambda: all(get_delivery(engine, d.uid).status == "SUCCEEDED" for d in deliveries))


async def test_callbacks_go_on_where_they_stopped(
    engine: Engine, keyring: Keyring, settings: Settings, temporal_client: Client, receiver: Receiver,
    new_workspace: CreatedWorkspace,
) -> None:
    ws = new_workspace.workspace_uid
    url, path = receiver.url_for()
    run = make_run(engine, keyring, ws, url=url, on="all", outputs=30)
    deps = make_deps(fast_settings(settings), engine, keyring, temporal_client)
    assert await emit_run_callbacks(deps, run.uid, final=False) == 1

    # A crash between the commit and the workflow start: the delivery exists, nothing was sent.
    input_uid = _input_uid(engine, run.uid)
    add_outputs(engine, run.uid, input_uid, 5, start=30)
    crashed = callbacks._next_data_post(deps, run.uid)
    assert isinstance(crashed, str) and get_delivery(engine, crashed).status == "PENDING"
    add_outputs(engine, run.uid, input_uid, 2, start=35)
    assert await emit_run_callbacks(deps, run.uid, final=False) == 1  # the 2 new rows; the 5 get started too

    await receiver.wait_for(path, 3)
    posts = _posts(receiver, path, secret_of(engine, keyring, ws))
    assert [len(p["data"]) for p in posts] == [30, 5, 2]
    assert [row["n"] for p in posts for row in p["data"]] == list(range(37))


def _input_uid(engine: Engine, run_uid: str) -> str:
    with session_scope(engine) as session:
        return session.exec(select(RunInput.uid).where(RunInput.run_uid == run_uid)).one()


async def test_callbacks_on_final_post_once_with_empty_data_and_the_error(
    engine: Engine, keyring: Keyring, settings: Settings, temporal_client: Client, receiver: Receiver,
    new_workspace: CreatedWorkspace,
) -> None:
    ws = new_workspace.workspace_uid
    url, path = receiver.url_for()
    run = make_run(engine, keyring, ws, url=url, on="final", outputs=120)
    deps = make_deps(fast_settings(settings), engine, keyring, temporal_client)

    assert await emit_run_callbacks(deps, run.uid, final=False) == 0
    finish_run(engine, run.uid, "FAILED", last_error={"error_label": "INTEGRATION_INVALID", "message": "gone",
                                                       "params": {"x": 1}})
    assert await emit_run_callbacks(deps, run.uid, final=True) == 1
    assert await emit_run_callbacks(deps, run.uid, final=True) == 0  # same state again: not a new final

    await receiver.wait_for(path, 1)
    [post] = _posts(receiver, path, secret_of(engine, keyring, ws))
    assert post["data"] == [] and post["sequence"] == 1
    assert post["error"] == {"error_label": "INTEGRATION_INVALID", "message": "gone"}
    assert post["run"]["status"] == "FAILED" and post["run"]["output_count"] == 120


async def test_callbacks_on_final_post_each_time_the_run_settles(
    engine: Engine, keyring: Keyring, settings: Settings, temporal_client: Client, receiver: Receiver,
    new_workspace: CreatedWorkspace,
) -> None:
    ws = new_workspace.workspace_uid
    url, path = receiver.url_for()
    run = make_run(engine, keyring, ws, url=url, on="final", outputs=3)
    deps = make_deps(fast_settings(settings), engine, keyring, temporal_client)

    finish_run(engine, run.uid, "STOPPED")
    assert await emit_run_callbacks(deps, run.uid, final=True) == 1
    assert await emit_run_callbacks(deps, run.uid, final=True) == 0
    finish_run(engine, run.uid, "RUNNING")  # resumed; it goes on, then finishes
    add_outputs(engine, run.uid, _input_uid(engine, run.uid), 2, start=3)
    assert await emit_run_callbacks(deps, run.uid, final=False) == 0
    finish_run(engine, run.uid, "SUCCEEDED")
    assert await emit_run_callbacks(deps, run.uid, final=True) == 1

    await receiver.wait_for(path, 2)
    posts = _posts(receiver, path, secret_of(engine, keyring, ws))
    assert [(p["sequence"], p["run"]["status"], p["run"]["output_count"], p["data"]) for p in posts] == [
        (1, "STOPPED", 3, []), (2, "SUCCEEDED", 5, []),
    ]


async def test_run_without_callback_emits_nothing(
    engine: Engine, keyring: Keyring, settings: Settings, temporal_client: Client,
    new_workspace: CreatedWorkspace,
) -> None:
    with session_scope(engine) as session:
        run = Run(workspace_uid=new_workspace.workspace_uid, action_name="visit-profile",
                  execution_mode="ASYNC")
        session.add(run)
    deps = make_deps(fast_settings(settings), engine, keyring, temporal_client)
    assert await emit_run_callbacks(deps, run.uid, final=True) == 0
    assert await emit_run_callbacks(deps, "no-such-run", final=True) == 0


async def test_event_attempts_carry_the_same_id_and_bytes_with_a_non_ascii_name(
    engine: Engine, keyring: Keyring, settings: Settings, temporal_client: Client, receiver: Receiver,
    new_workspace: CreatedWorkspace,
) -> None:
    ws = new_workspace.workspace_uid
    url, path = receiver.url_for(Plan(statuses=[500, 502]))
    set_webhook(engine, ws, url)
    integration = make_integration(engine, ws, name="Zoë Ławrynowicz-Øster 日本")
    deps = make_deps(fast_settings(settings), engine, keyring, temporal_client)

    uid = await emit_integration_event(
        deps, integration.uid, "AUTH_EXPIRED", action_to_be_taken="RETRY_LOGIN"
    )
    assert uid is not None
    attempts = await receiver.wait_for(path, 3)
    await wait_until(lambda: get_delivery(engine, uid).status == "SUCCEEDED")

    first = attempts[0]
    event = json.loads(first.body)
    assert event["identity_name"] == "Zoë Ławrynowicz-Øster 日本"
    assert "Zoë Ławrynowicz-Øster 日本".encode() in first.body  # UTF-8 as is, not \u-escaped
    secret = secret_of(engine, keyring, ws)
    for attempt in attempts:
        assert attempt.headers["webhook-id"] == event["event_id"]
        assert attempt.body == first.body  # byte for byte on every attempt
        assert Webhook(secret).verify(attempt.body, attempt.headers) == event
    row = get_delivery(engine, uid)
    assert (row.status, row.attempts, row.last_http_status, row.webhook_id) == (
        "SUCCEEDED", 3, 200, event["event_id"]
    )
    assert bytes(row.body) == first.body
