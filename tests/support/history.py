"""Workflow histories as an operator sees them through the codec: every encrypted payload decoded in place.

Temporal stores (and `fetch_history()` returns) payloads as the codec sealed them, so a check such as "no
cookie in any history" must look at the decoded payloads — on ciphertext it would pass whatever the
workflow carried.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Header, Payload, SearchAttributes
from temporalio.api.history.v1 import MarkerRecordedEventAttributes
from temporalio.client import WorkflowHistory
from temporalio.converter import PayloadCodec

from tests.conftest import TEST_DATA_CONVERTER

_PAYLOAD = Payload.DESCRIPTOR.full_name
_NOT_ENCODED = {SearchAttributes.DESCRIPTOR.full_name, Header.DESCRIPTOR.full_name}


def codec_for_tests() -> PayloadCodec:
    """The codec of the tests' Temporal client (and of the API under test: same key)."""
    codec = TEST_DATA_CONVERTER.payload_codec
    assert codec is not None
    return codec


def _children(message: Message) -> list[Message]:
    """The sub-messages of `message` (repeated fields and map values included)."""
    found: list[Message] = []
    for field, value in message.ListFields():
        kind = field.message_type
        if field.type != FieldDescriptor.TYPE_MESSAGE or kind is None:
            continue
        if kind.GetOptions().map_entry:
            if kind.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE:
                found.extend(value.values())
        elif field.is_repeated:
            found.extend(value)
        else:
            found.append(value)
    return found


async def decode_payloads(message: Message, codec: PayloadCodec | None = None) -> int:
    """Decode every payload inside `message` in place; returns how many were found."""
    codec = codec or codec_for_tests()
    count = 0
    stack = [message]
    while stack:
        current = stack.pop()
        if current.DESCRIPTOR.full_name == _PAYLOAD:
            assert isinstance(current, Payload)
            current.CopyFrom((await codec.decode([current]))[0])
            count += 1
        else:
            stack.extend(_children(current))
    return count


async def encode_payloads(message: Message, codec: PayloadCodec | None = None) -> int:
    """Encode in place every payload the SDK would have encoded (not search attributes or headers, which
    Temporal needs to read); returns how many."""
    codec = codec or codec_for_tests()
    count = 0
    stack = [message]
    while stack:
        current = stack.pop()
        name = current.DESCRIPTOR.full_name
        if name in _NOT_ENCODED:
            continue
        if isinstance(current, MarkerRecordedEventAttributes):
            # Markers' details are the SDK core's own bookkeeping (a patch's id, a local activity's ids),
            # never codec-encoded — except a local activity's `result`, the activity's value.
            if "result" in current.details:
                stack.append(current.details["result"])
            if current.HasField("failure"):
                stack.append(current.failure)
            continue
        if name == _PAYLOAD:
            assert isinstance(current, Payload)
            current.CopyFrom((await codec.encode([current]))[0])
            count += 1
        else:
            stack.extend(_children(current))
    return count


async def decoded_history(history: WorkflowHistory, codec: PayloadCodec | None = None) -> WorkflowHistory:
    """A copy of `history` with every payload decoded."""
    return await _transformed(history, decode_payloads, codec)


async def encoded_history(history: WorkflowHistory, codec: PayloadCodec | None = None) -> WorkflowHistory:
    """A copy of `history` with its payloads encoded, as a worker with the codec would have written them."""
    return await _transformed(history, encode_payloads, codec)


async def _transformed(
    history: WorkflowHistory,
    transform: Callable[[Message, PayloadCodec | None], Awaitable[int]],
    codec: PayloadCodec | None,
) -> WorkflowHistory:
    events = []
    for event in history.events:
        copy = type(event)()
        copy.CopyFrom(event)
        await transform(copy, codec)
        events.append(copy)
    return WorkflowHistory(history.workflow_id, events)


def _b64_text(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return text


def history_text(history: WorkflowHistory) -> str:
    """The history as JSON with every payload's data and metadata (base64 in protobuf JSON) turned back into
    text, so a substring check sees what the payloads carry."""

    def expand(value: Any) -> Any:
        if isinstance(value, list):
            return [expand(item) for item in value]
        if not isinstance(value, dict):
            return value
        if isinstance(value.get("data"), str) and isinstance(value.get("metadata", {}), dict):
            metadata = {key: _b64_text(item) for key, item in value.get("metadata", {}).items()}
            return {**value, "metadata": metadata, "data": _b64_text(value["data"])}
        return {key: expand(item) for key, item in value.items()}

    return json.dumps(expand(json.loads(history.to_json())), ensure_ascii=False)
