"""Standard Webhooks (standardwebhooks.com) for webhook events and run callbacks (API.md §3 Deliveries).

A delivery's body bytes and `webhook-id` are fixed when it is created; each attempt gets its own
`webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256>` over `{id}.{timestamp}.{body}`) with
the workspace secret. For 24 h after a rotation the previous secret signs too: both signatures travel,
space-separated, so a receiver holding either secret verifies.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from db.models import Delivery, Workspace, new_uid
from edgewise.config import Settings
from edgewise.crypto import Keyring, new_webhook_secret, sign_webhook
from edgewise.timeutil import as_utc, utcnow
from edgewise.workspaces import workspace_secret
from workflows.contracts import DeliveryInput, delivery_workflow_id
from workflows.delivery import DeliveryWorkflow

log = logging.getLogger("edgewise.webhooks")

# Namespace of the deterministic ids (uuid5) of events and callbacks: a retried emission finds its own row.
ID_NAMESPACE = uuid.UUID("4b0f9e8e-6c1d-5a57-9d4c-2f1f4c1e0a11")

# How long the previous secret keeps signing after a rotation.
PREVIOUS_SECRET_TTL = timedelta(hours=24)


def encode_body(payload: Any) -> bytes:
    """The one encoding of a delivery body: compact JSON, UTF-8, non-ASCII as is (computed once, stored)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signing_secrets(keyring: Keyring, workspace: Workspace, now: datetime | None = None) -> list[str]:
    """The workspace's current secret, then the previous one while it is still within its 24 h."""
    now = now or utcnow()
    secrets = [workspace_secret(keyring, workspace)]
    expires = workspace.previous_secret_expires_at
    if workspace.previous_secret_enc and expires is not None and as_utc(expires) > now:
        secrets.append(str(keyring.decrypt_json(workspace.previous_secret_enc, associated=workspace.uid)))
    return secrets


def rotate_secret(keyring: Keyring, workspace: Workspace, now: datetime | None = None) -> str:
    """Give `workspace` a new secret and keep the current one signing for 24 h; return the new secret.

    The caller commits. Both secrets are encrypted with the workspace uid as associated data.
    """
    now = now or utcnow()
    secret = new_webhook_secret()
    workspace.previous_secret_enc = workspace.secret_enc
    workspace.previous_secret_expires_at = now + PREVIOUS_SECRET_TTL
    workspace.secret_enc = keyring.encrypt_json(secret, associated=workspace.uid)
    workspace.updated_at = now
    return secret


def webhook_headers(
    secrets: Sequence[str], webhook_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    if not secrets:
        raise ValueError("at least one signing secret is needed")
    ts = int(time.time()) if timestamp is None else timestamp
    signatures = " ".join(sign_webhook(secret, webhook_id, ts, body) for secret in secrets)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(ts), "webhook-signature": signatures}


# Caller headers that would break the request or that the delivery sets itself.
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "content-type",
     "webhook-id", "webhook-timestamp", "webhook-signature"}
)


def clean_caller_headers(headers: dict[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (headers or {}).items() if k.lower() not in _RESERVED_HEADERS}


def decrypt_headers(keyring: Keyring, delivery: Delivery) -> dict[str, str]:
    if not delivery.headers_enc:
        return {}
    stored = keyring.decrypt_json(delivery.headers_enc, associated=delivery.uid)
    return {str(k): str(v) for k, v in stored.items()}


def create_delivery(
    session: Session,
    keyring: Keyring,
    *,
    workspace_uid: str,
    kind: str,
    webhook_id: str,
    url: str,
    body: bytes,
    headers: dict[str, str] | None,
    run_uid: str | None,
) -> Delivery:
    """Add a PENDING delivery to `session` (flushed, not committed). Caller headers are encrypted with the
    delivery uid as associated data; `body` is sent byte for byte on every attempt."""
    if kind not in ("event", "callback"):
        raise ValueError("kind must be 'event' or 'callback'")
    now = utcnow()
    delivery = Delivery(
        uid=new_uid(), workspace_uid=workspace_uid, kind=kind, webhook_id=webhook_id, url=url, body=body,
        run_uid=run_uid, status="PENDING", next_attempt_at=now, created_at=now, updated_at=now,
    )
    cleaned = clean_caller_headers(headers)
    if cleaned:
        delivery.headers_enc = keyring.encrypt_json(cleaned, associated=delivery.uid)
    session.add(delivery)
    session.flush()
    return delivery


def delivery_input(settings: Settings, delivery_uid: str, replay: int = 0) -> DeliveryInput:
    return DeliveryInput(
        delivery_uid=delivery_uid,
        replay=replay,
        retry_schedule_seconds=list(settings.delivery_retry_schedule),
        max_age_seconds=settings.delivery_max_age_seconds,
    )


async def start_delivery(client: Client, settings: Settings, delivery_uid: str, replay: int = 0) -> None:
    """Start the delivery's workflow. Starting one that was already started (or has finished) is a no-op,
    so callers may call this again after a crash without sending twice."""
    try:
        await client.start_workflow(
            DeliveryWorkflow.run,
            delivery_input(settings, delivery_uid, replay),
            id=delivery_workflow_id(delivery_uid, replay),
            task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        pass


def prepare_replay(session: Session, delivery: Delivery) -> int:
    """Mark `delivery` for another round of attempts (same id and body); return the replay number.

    The caller commits, then calls `supersede_previous` and `start_delivery(..., replay=n)`. Attempts of an
    earlier round that are still in flight see the new replay number and stop without writing.
    """
    now = utcnow()
    delivery.replays += 1
    delivery.status = "PENDING"
    delivery.next_attempt_at = now
    delivery.updated_at = now
    session.add(delivery)
    session.flush()
    return delivery.replays


async def supersede_previous(client: Client, delivery_uid: str, replay: int) -> None:
    """Best effort: cancel the previous round's workflow so it does not wait for a retry that is moot."""
    if replay <= 0:
        return
    previous = delivery_workflow_id(delivery_uid, replay - 1)
    handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(previous)
    try:
        await handle.cancel()
    except RPCError as exc:  # already finished, or never started
        log.debug("no previous delivery round to cancel for %s: %s", delivery_uid, exc)


def deterministic_id(*parts: object) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, "|".join(str(p) for p in parts)))


def activity_key() -> str | None:
    """Identifies the calling activity across its retries (None outside an activity)."""
    from temporalio import activity

    if not activity.in_activity():
        return None
    info = activity.info()
    return f"{info.workflow_id}|{info.workflow_run_id}|{info.activity_id}"
