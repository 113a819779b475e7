"""Request parsing shared by the Voyager routes: offset paging, opaque cursors, JSON bodies."""

from __future__ import annotations

import base64
import json
from typing import Any

from starlette.requests import Request

from linkedin.sandbox import responses
from linkedin.sandbox.responses import refuse


def offset(request: Request, default_count: int, max_count: int) -> tuple[int, int]:
    """`start` and `count` query parameters; count is clamped like LinkedIn does."""
    try:
        start = int(request.query_params.get("start", "0"))
        count = int(request.query_params.get("count", str(default_count)))
    except ValueError:
        raise refuse(400, responses.BAD_REQUEST, "start and count must be integers") from None
    if start < 0 or count < 1:
        raise refuse(400, responses.BAD_REQUEST, "start must be >= 0 and count >= 1")
    return start, min(count, max_count)


def paging(start: int, count: int, total: int) -> dict[str, int]:
    return {"start": start, "count": count, "total": total}


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(text: str | None) -> list[Any] | None:
    if not text:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except ValueError:
        raise refuse(400, responses.BAD_REQUEST, "invalid cursor") from None
    if not isinstance(key, list) or len(key) != 2:
        raise refuse(400, responses.BAD_REQUEST, "invalid cursor")
    return key


def after_cursor(items: list[Any], key_of: Any, cursor: list[Any] | None) -> list[Any]:
    """Keyset paging over items sorted by `key_of` (newest first): those strictly after the cursor."""
    if cursor is None:
        return items
    at, ident = cursor
    boundary = (-int(at), str(ident))
    return [item for item in items if key_of(item) > boundary]


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise refuse(400, responses.BAD_REQUEST, "the body must be JSON") from None
    if not isinstance(body, dict):
        raise refuse(400, responses.BAD_REQUEST, "the body must be a JSON object")
    return body
