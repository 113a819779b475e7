"""Response helpers shared by the sandbox's routes, and the refusal codes of its LinkedIn-like API.

The refusal codes are the sandbox's wire contract with the HTTP adapter (linkedin/http_adapter.py), which
maps each to a typed error of linkedin/protocol.py. Bodies are serialised by hand (no response models):
the read path must stay cheap.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

# Refusal codes, in the body's `code` field (LinkedIn's error bodies carry `status`, `code`, `message`).
ACCOUNT_RESTRICTED = "ACCOUNT_RESTRICTED"
NOT_FIRST_DEGREE = "NOT_FIRST_DEGREE_CONNECTION"
PROFILE_NOT_FOUND = "PROFILE_NOT_FOUND"
COMPANY_NOT_FOUND = "COMPANY_NOT_FOUND"
THREAD_NOT_FOUND = "THREAD_NOT_FOUND"
INVITATION_NOT_FOUND = "INVITATION_NOT_FOUND"
INVITATION_NOT_PENDING = "INVITATION_NOT_PENDING"
INVALID_SHARED_SECRET = "INVALID_SHARED_SECRET"
CUSTOM_INVITE_LIMIT = "CUSTOM_INVITE_LIMIT_REACHED"
SALES_NAVIGATOR_REQUIRED = "SALES_NAVIGATOR_REQUIRED"
PREMIUM_REQUIRED = "PREMIUM_REQUIRED"
INVALID_RECIPIENT = "INVALID_RECIPIENT"
TOKEN_REUSED = "TOKEN_REUSED"
TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
BAD_REQUEST = "BAD_REQUEST"

CSRF_FAILED_TEXT = "CSRF check failed."


def dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(data), status_code=status, headers=headers, media_type="application/json")


def raw_json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json")


def error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    return json_response({"status": status, "code": code, "message": message, **extra}, status, headers)


class Refusal(Exception):
    """Raised anywhere in a request to answer with `response` (an app exception handler returns it)."""

    def __init__(self, response: Response):
        super().__init__(response.status_code)
        self.response = response


def refuse(status: int, code: str, message: str, **extra: Any) -> Refusal:
    return Refusal(error(status, code, message, **extra))
