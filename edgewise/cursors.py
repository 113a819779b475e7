"""Opaque, signed cursors (live-run pagination, run inputs/outputs pages).

A cursor is base64url(JSON payload) + "." + HMAC; it names its workspace, so a cursor from another
workspace, a tampered one or an expired one is refused with ValueError.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from edgewise.crypto import Keyring


def _mac_key(keyring: Keyring) -> bytes:
    return hmac.new(keyring.keys[0], b"edgewise-cursor-v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_cursor(
    keyring: Keyring, workspace_uid: str, payload: dict[str, Any], ttl_seconds: int | None
) -> str:
    body: dict[str, Any] = {"w": workspace_uid, "p": payload}
    if ttl_seconds is not None:
        body["e"] = int(time.time()) + ttl_seconds
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(_mac_key(keyring), raw, hashlib.sha256).digest()[:16]
    return f"{_b64(raw)}.{_b64(mac)}"


def open_cursor(keyring: Keyring, workspace_uid: str, token: str) -> dict[str, Any]:
    try:
        raw_part, mac_part = token.split(".", 1)
        raw = _unb64(raw_part)
        mac = _unb64(mac_part)
    except (ValueError, TypeError):
        raise ValueError("malformed cursor") from None
    expected = hmac.new(_mac_key(keyring), raw, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(mac, expected):
        raise ValueError("unknown cursor")
    body = json.loads(raw)
    if body.get("w") != workspace_uid:
        raise ValueError("cursor belongs to another workspace")
    if "e" in body and int(body["e"]) < time.time():
        raise ValueError("cursor has expired")
    payload = body.get("p")
    if not isinstance(payload, dict):
        raise ValueError("malformed cursor")
    return payload
