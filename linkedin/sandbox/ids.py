"""Identifier shapes of the sandbox: profile URN tokens, thread and message ids, cookie values.

Deterministic ids are hashes of stable inputs, so the generated world is the same on every start; cookie
values and secrets minted at run time come from `secrets`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

PROFILE_URN_PREFIX = "urn:li:fsd_profile:"
INVITATION_URN_PREFIX = "urn:li:fsd_invitation:"
PROFILE_URL_PREFIX = "https://www.linkedin.com/in/"
COMPANY_URL_PREFIX = "https://www.linkedin.com/company/"
THREAD_URL_PREFIX = "https://www.linkedin.com/messaging/thread/"


def base62(number: int) -> str:
    if number == 0:
        return _ALPHABET[0]
    digits: list[str] = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(_ALPHABET[rest])
    return "".join(reversed(digits))


def profile_token(member_id: int) -> str:
    """The opaque part of a profile URN, derived from the member id (looks like LinkedIn's `ACoAA…`)."""
    digest = int.from_bytes(hashlib.sha256(f"profile:{member_id}".encode()).digest()[:12], "big")
    return "ACoAA" + base62(digest).rjust(17, "0")


def profile_urn(member_id: int) -> str:
    return PROFILE_URN_PREFIX + profile_token(member_id)


def opaque(*parts: object) -> str:
    """A stable, URL-safe id for a thread or message: `2-` + 22 base64url characters of a hash."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()[:16]
    return "2-" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def thread_id(account_id: int, member_id: int) -> str:
    """One conversation per (account, person), like LinkedIn's one-to-one threads."""
    return opaque("thread", account_id, member_id)


def shared_secret(*parts: object) -> str:
    digest = hashlib.sha256(":".join(("secret", *(str(p) for p in parts))).encode()).digest()[:9]
    return base64.urlsafe_b64encode(digest).decode()


def new_li_at() -> str:
    return "AQED" + secrets.token_urlsafe(96)


def new_jsessionid() -> str:
    return "ajax:" + "".join(secrets.choice("0123456789") for _ in range(19))


def new_challenge_id() -> str:
    return "AQ" + secrets.token_urlsafe(24)


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"
