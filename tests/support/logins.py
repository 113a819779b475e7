"""Helpers for credentials-login tests: the sandbox's side of a login, and where secrets must never appear
(workflow histories, log records)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client


def linkedin_url(identity_uid: str) -> str:
    return f"/v1/identities/{identity_uid}/integrations/linkedin"


def checkpoint_url(identity_uid: str) -> str:
    return f"{linkedin_url(identity_uid)}/checkpoint"


async def login(client: httpx.AsyncClient, identity_uid: str, username: str, password: str) -> httpx.Response:
    basic = {"username": username, "password": password}
    return await client.post(linkedin_url(identity_uid), json={"auth_data": {"basic": basic}})


async def login_attempts(sandbox: httpx.AsyncClient, account_id: Any) -> dict[str, int]:
    """What LinkedIn (the sandbox) received for this account: {"logins": n, "checkpoint_answers": m}."""
    response = await sandbox.get(f"/_sandbox/accounts/{account_id}/login-attempts")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def verification_code(sandbox: httpx.AsyncClient, account_id: Any) -> str:
    response = await sandbox.get(f"/_sandbox/accounts/{account_id}/verification-code")
    assert response.status_code == 200, response.text
    return str(response.json()["code"])


def _payloads(message: Message, found: list[Payload]) -> None:
    """Every Payload anywhere inside a protobuf message (arguments, results, headers, memos, failures)."""
    if isinstance(message, Payload):
        found.append(message)
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue  # a scalar
        if isinstance(value, Message):
            _payloads(value, found)
            continue
        # A repeated field (iterable) or a map (its values).
        items = value.values() if callable(getattr(value, "values", None)) else value
        for item in items:
            if isinstance(item, Message):
                _payloads(item, found)


async def history_bytes(client: Client, workflow_id: str) -> bytes:
    """A workflow's whole history as bytes, with every payload also decoded (through the client's payload
    codec, when one encrypts them), so a search finds a secret however it was stored."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    raw = b"".join(event.SerializeToString() for event in history.events)
    payloads: list[Payload] = []
    for event in history.events:
        _payloads(event, payloads)
    codec = client.data_converter.payload_codec
    decoded = await codec.decode(payloads) if codec is not None and payloads else payloads
    return raw + b"".join(p.SerializeToString() for p in decoded)


async def connect_workflow_ids(client: Client, identity_uid: str, *, expected: int = 1) -> list[str]:
    """The connect workflows started for this identity (found by the search attribute operators use)."""
    query = f"WorkflowType = 'ConnectWorkflow' AND EdgewiseIdentities = '{identity_uid}'"
    for _ in range(100):  # visibility is updated asynchronously
        ids = [w.id async for w in client.list_workflows(query)]
        if len(ids) >= expected:
            return ids
        await asyncio.sleep(0.1)
    raise AssertionError(f"no connect workflow listed for identity {identity_uid}")


def logged_text(records: list[logging.LogRecord]) -> str:
    """Everything the log records carry: messages, arguments, extras and tracebacks."""
    parts: list[str] = []
    for record in records:
        parts.append(record.getMessage())
        parts.append(repr(record.__dict__))
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)
