"""Secrets at rest: AES-GCM encryption of cookies/passwords/headers, API-key hashing, webhook secrets.

Keys come from EDGEWISE_ENCRYPTION_KEY (comma-separated, newest first: old keys still decrypt, new writes
use the first). With none configured, one key is generated once under the data dir, so `make dev` works
with zero configuration and a restart still decrypts what it stored.

Rotation: every blob names the key that sealed it (`e1.<key id>.<nonce+ciphertext>`), so putting a new key
first and keeping the old ones after it is all a rotation needs; `edgewise keys rewrap` (edgewise/rewrap.py)
then re-seals stored blobs under the new key, after which the old key can be dropped. Convention that
rewrap relies on: an encrypted column is named `*_enc` (or `ciphertext`) and its associated data is the
row's `uid`.
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


def decode_key(text: str) -> bytes:
    """A 32-byte key from its base64 text (urlsafe or standard, padding optional)."""
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

    @property
    def primary_key_id(self) -> bytes:
        return self.key_id(self.keys[0])

    @staticmethod
    def blob_key_id(blob: str | bytes) -> bytes:
        """The id of the key that sealed `blob` (b"" when it is not one of ours)."""
        raw = blob.encode() if isinstance(blob, str) else blob
        parts = raw.split(b".", 2)
        return parts[1] if len(parts) == 3 and parts[0] == _VERSION else b""

    def needs_rewrap(self, blob: str | bytes) -> bool:
        """Whether `blob` was sealed by a key other than the one new writes use."""
        return self.blob_key_id(blob) != self.primary_key_id

    def rewrap(self, blob: str, associated: str = "") -> str:
        """`blob` re-sealed under the primary key (raises ValueError/InvalidTag if no key opens it)."""
        return self.encrypt(self.decrypt(blob.encode(), associated.encode()), associated.encode()).decode()

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


def new_key() -> str:
    """A fresh 32-byte key, base64 (what EDGEWISE_ENCRYPTION_KEY and PAYLOAD_ENCRYPTION_KEYS take)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def parse_keys(text: str) -> tuple[bytes, ...]:
    """A comma-separated key list, newest first (blank entries ignored)."""
    return tuple(decode_key(part) for part in text.split(",") if part.strip())


def load_keyring(settings: Settings) -> Keyring:
    if settings.encryption_key.strip():
        keys = parse_keys(settings.encryption_key)
        if not keys:
            raise ValueError("EDGEWISE_ENCRYPTION_KEY lists no key")
        return Keyring(keys)
    key_file: Path = settings.data_dir / "encryption.key"
    if not key_file.exists():
        _create_key_file(key_file)
    return Keyring((decode_key(key_file.read_text()),))


def _create_key_file(key_file: Path) -> None:
    """Write a new key file unless one appears meanwhile. The key is written in full to a private temporary
    file, then hard-linked into place: a process starting at the same moment (API and worker) either wins
    the link or reads the winner's complete key — never an empty or half-written file."""
    key_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = key_file.with_name(f"{key_file.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(new_key())
        try:
            os.link(tmp, key_file)
        except FileExistsError:
            pass  # another process created it first: use theirs
    finally:
        tmp.unlink(missing_ok=True)


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
