"""Cursors are opaque, tamper-proof, bound to a workspace and expire."""

from __future__ import annotations

import base64

import pytest

from edgewise.crypto import Keyring
from edgewise.cursors import open_cursor, sign_cursor

KEYRING = Keyring((b"a" * 32,))


def test_round_trip() -> None:
    token = sign_cursor(KEYRING, "ws-1", {"after": 41}, ttl_seconds=60)
    assert open_cursor(KEYRING, "ws-1", token) == {"after": 41}


def test_foreign_workspace_tampered_and_expired_cursors_are_refused() -> None:
    token = sign_cursor(KEYRING, "ws-1", {"after": 41}, ttl_seconds=60)
    with pytest.raises(ValueError, match="another workspace"):
        open_cursor(KEYRING, "ws-2", token)
    _, mac = token.split(".")
    forged = base64.urlsafe_b64encode(b'{"p":{"after":0},"w":"ws-1"}').decode().rstrip("=")
    with pytest.raises(ValueError, match="unknown cursor"):
        open_cursor(KEYRING, "ws-1", f"{forged}.{mac}")
    with pytest.raises(ValueError, match="expired"):
        open_cursor(KEYRING, "ws-1", sign_cursor(KEYRING, "ws-1", {"after": 1}, ttl_seconds=-1))
    with pytest.raises(ValueError, match="malformed"):
        open_cursor(KEYRING, "ws-1", "garbage")
    with pytest.raises(ValueError):
        open_cursor(Keyring((b"b" * 32,)), "ws-1", token)
