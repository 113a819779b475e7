"""Secrets at rest: AES-GCM encryption of cookies/passwords/headers, API-key hashing, webhook secrets.

Keys come from EDGEWISE_ENCRYPTION_KEY (comma-separated, newest first: old keys still decrypt, new writes
use the first). With none configured, one key is generated once under the data dir, so `make dev` works
with zero configuration and a restart still decrypts what it stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edgewise.config import Settings

_VERSION = b"e1"


def _b64decode_key(text: str) -> bytes:
    text = text.strip()
    padded = text + "=" * (-len(text) % 4)
    raw = base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
    if len(raw) != 32:
        raise ValueError("encryption keys must be 32 bytes, base64-encoded")
    return raw


@dataclass(frozen=True)
class Keyring:
    """Ordered keys: the first encrypts, all decrypt. A key id (first 8 hex of its SHA-256) tags each blob."""

    keys: tuple[bytes, ...]

    @staticmethod
    def key_id(key: bytes) -> bytes:
        return hashlib.sha256(key).hexdigest()[:8].encode()

    def encrypt(self, plaintext: bytes, associated: bytes = b"") -> bytes:
        key = self.keys[0]
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, plaintext, associated or None)
        return _VERSION + b"." + self.key_id(key) + b"." + base64.urlsafe_b64encode(nonce + sealed)

    def decrypt(self, blob: bytes, associated: bytes = b"") -> bytes:
        version, kid, body = blob.split(b".", 2)
        if version != _VERSION:
            raise ValueError("unknown ciphertext version")
        raw = base64.urlsafe_b64decode(body)
        for key in self.keys:
            if self.key_id(key) == kid:
                return AESGCM(key).decrypt(raw[:12], raw[12:], associated or None)
        raise ValueError("no key for this ciphertext")

    def encrypt_json(self, value: Any, associated: str = "") -> str:
        return self.encrypt(json.dumps(value).encode(), associated.encode()).decode()

    def decrypt_json(self, blob: str, associated: str = "") -> Any:
        return json.loads(self.decrypt(blob.encode(), associated.encode()))


def load_keyring(settings: Settings) -> Keyring:
    if settings.encryption_key:
        return Keyring(tuple(_b64decode_key(part) for part in settings.encryption_key.split(",") if part))
    key_file: Path = settings.data_dir / "encryption.key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.urlsafe_b64encode(os.urandom(32)).decode())
    return Keyring((_b64decode_key(key_file.read_text()),))


# --- API keys: shown once, stored as SHA-256 (keys are 256-bit random, so a fast hash is safe) ---

API_KEY_PREFIX = "ew_"


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def sign_webhook(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks signature: v1,base64(HMAC-SHA256(key, f"{id}.{ts}.{body}"))."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    to_sign = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, to_sign, hashlib.sha256).digest()).decode()
