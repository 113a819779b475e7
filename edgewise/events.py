"""Integration events (API.md §3): a status change of a LinkedIn integration, POSTed to the workspace webhook.

Called from activities. An activity retry must not send twice: the event id is the idempotency key — pass
one, or let it derive from the calling activity (stable across its retries) — and a second call with the
same id finds the delivery the first one created instead of creating another.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlmodel import select

from activities.deps import ActivityDeps
from db.engine import session_scope
from db.models import Delivery, Identity, Integration, Workspace
from edgewise.timeutil import iso_z, utcnow
from edgewise.webhooks import activity_key, create_delivery, deterministic_id, encode_body, start_delivery

EVENTS = frozenset(
    {"AUTH_PENDING", "AUTH_SUCCESS", "AUTH_UPDATED", "AUTH_FAILED", "AUTH_EXPIRED", "RESTRICTED", "DELETED"}
)


def _event_id(integration_uid: str, event: str) -> str:
    key = activity_key()
    if key is None:
        return str(uuid.uuid4())
    return deterministic_id("event", key, integration_uid, event)


def build_event_payload(
    event_id: str, event: str, sequence: int, integration: Integration, identity: Identity | None,
    action_to_be_taken: str | None,
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event": event,
        "occurred_at": iso_z(utcnow()),
        "sequence": sequence,
        "workspace_uid": integration.workspace_uid,
        "identity_uid": integration.identity_uid,
        "identity_name": identity.name if identity is not None else None,
        "integration_uid": integration.uid,
        "integration_type": integration.type,
        # A deleted integration has no status any more (API.md §3: "status after: —").
        "status": None if event == "DELETED" else integration.status,
        "checkpoint": None if event == "DELETED" else integration.checkpoint,
        "action_to_be_taken": action_to_be_taken,
    }


def _record_event(
    deps: ActivityDeps, integration_uid: str, event: str, action_to_be_taken: str | None, event_id: str
) -> str | None:
    with session_scope(deps.engine) as session:
        # The row lock serialises emissions per integration: sequences stay gap-free and ordered, and the
        # duplicate check below cannot race another call with the same id.
        integration = session.exec(
            select(Integration).where(Integration.uid == integration_uid).with_for_update()
        ).one_or_none()
        if integration is None:
            raise LookupError(f"integration {integration_uid} not found")
        existing = session.exec(
            select(Delivery).where(
                Delivery.workspace_uid == integration.workspace_uid,
                Delivery.kind == "event",
                Delivery.webhook_id == event_id,
            )
        ).first()
        if existing is not None:
            return existing.uid
        workspace = session.get(Workspace, integration.workspace_uid)
        identity = session.get(Identity, integration.identity_uid)
        integration.event_sequence += 1
        session.add(integration)
        if workspace is None or not workspace.webhook_url:
            return None
        payload = build_event_payload(
            event_id, event, integration.event_sequence, integration, identity, action_to_be_taken
        )
        delivery = create_delivery(
            session, deps.keyring, workspace_uid=workspace.uid, kind="event", webhook_id=event_id,
            url=workspace.webhook_url, body=encode_body(payload), headers=None, run_uid=None,
        )
        return delivery.uid


async def emit_integration_event(
    deps: ActivityDeps,
    integration_uid: str,
    event: str,
    *,
    action_to_be_taken: str | None = None,
    event_id: str | None = None,
) -> str | None:
    """Record event `event` for the integration (its `sequence` taken atomically) and start its delivery to
    the workspace webhook. Returns the delivery uid, or None when the workspace has no webhook URL.

    Call it after the integration row holds the status the event reports (the payload reads it). Calling
    again with the same `event_id` returns the same delivery and sends nothing more.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown integration event {event!r}")
    event_id = event_id or _event_id(integration_uid, event)
    delivery_uid = await asyncio.to_thread(
        _record_event, deps, integration_uid, event, action_to_be_taken, event_id
    )
    if delivery_uid is not None:
        # Idempotent: a delivery whose workflow already started (or finished) is not started again.
        await start_delivery(deps.client, deps.settings, delivery_uid)
    return delivery_uid
