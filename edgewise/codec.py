"""Temporal payload encryption: a `PayloadCodec` that seals every payload with AES-GCM before it leaves the
process, so workflow inputs, results, update arguments and failures are ciphertext in Temporal's database
and to anyone reading its API without the key. Operators read them through the codec endpoint
(api/routes/codec.py) that the Temporal UI calls.

An encrypted payload is `{metadata: {encoding: "binary/encrypted", encryption-key-id: <id>}, data: nonce ‖
AES-GCM(serialized original payload)}`: the original metadata (its own encoding, a pydantic type) travels
inside the ciphertext, and the key id is bound to it as associated data.

Keys (`PAYLOAD_ENCRYPTION_KEYS`, comma-separated, newest first): the first encrypts, all decrypt — a
rotation puts a new key first and keeps the old ones while any workflow history sealed with them is still
running or retained. Unset, the keys are derived (HKDF-SHA256) from the at-rest keys of
EDGEWISE_ENCRYPTION_KEY (or the key `make dev` generated), so one secret configures both; derived keys
always stay decrypt-only candidates, so moving to explicit keys later loses nothing.

Payloads that are not ours (recorded before encryption was switched on, search attributes) decode as they
are: turning encryption on does not break workflows already running. Cost: one AES-GCM call and a protobuf
serialisation per payload — microseconds, negligible next to a Temporal round trip.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from edgewise.config import Settings
from edgewise.crypto import load_keyring, parse_keys

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
_NONCE_BYTES = 12
# Changing this changes every derived key: a new info string is a new key generation, never an edit.
_DERIVATION_INFO = b"edgewise temporal payload codec v1"


class PayloadDecryptionError(ValueError):
    """An encrypted payload that no configured key opens (unknown key id, or tampered data)."""


def key_id(key: bytes) -> str:
    """Names a key without revealing it (first 8 hex digits of its SHA-256), as edgewise.crypto does."""
    return hashlib.sha256(key).hexdigest()[:8]


def derive_payload_key(at_rest_key: bytes) -> bytes:
    """The payload key that goes with an at-rest key (distinct, so one never decrypts the other's data)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVATION_INFO).derive(at_rest_key)


def payload_keys(settings: Settings) -> tuple[bytes, ...]:
    """Newest first: the configured payload keys, then the keys derived from the at-rest keys."""
    explicit = parse_keys(settings.payload_encryption_keys.get_secret_value())
    derived = tuple(derive_payload_key(key) for key in load_keyring(settings).keys)
    return tuple(dict.fromkeys(explicit + derived))  # de-duplicated, order kept


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("the payload codec needs at least one key")
        ciphers = [(key_id(key), AESGCM(key)) for key in keys]
        self._encrypt_id, self._encrypt_cipher = ciphers[0]
        self._ciphers = dict(reversed(ciphers))  # on an id collision the newer key wins

    @classmethod
    def from_settings(cls, settings: Settings) -> EncryptionCodec:
        return cls(payload_keys(settings))

    @property
    def encrypting_key_id(self) -> str:
        return self._encrypt_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(_NONCE_BYTES)
        kid = self._encrypt_id.encode()
        sealed = self._encrypt_cipher.encrypt(nonce, payload.SerializeToString(), kid)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: kid}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # not sealed by us: an older history, or a search attribute
        kid = payload.metadata.get(KEY_ID, b"")
        cipher = self._ciphers.get(kid.decode("ascii", errors="replace"))
        if cipher is None:
            raise PayloadDecryptionError(
                f"payload sealed with key id {kid.decode('ascii', errors='replace')!r}, which is not "
                "configured (PAYLOAD_ENCRYPTION_KEYS / EDGEWISE_ENCRYPTION_KEY)"
            )
        data = payload.data
        try:
            plain = cipher.decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], kid)
        except InvalidTag:
            raise PayloadDecryptionError("payload does not authenticate under its key (tampered?)") from None
        return Payload.FromString(plain)


def is_encrypted(payloads: Iterable[Payload]) -> bool:
    """Whether every payload given is sealed by this codec's scheme."""
    return all(payload.metadata.get("encoding") == ENCODING for payload in payloads)
