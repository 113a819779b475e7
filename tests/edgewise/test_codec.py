"""The payload codec (edgewise/codec.py): AES-GCM with the key id in the metadata, rotation (the first key
encrypts, all decrypt), keys derived from the at-rest key by default, and the data converter every Temporal
client uses."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload

from edgewise.codec import (
    ENCODING,
    KEY_ID,
    EncryptionCodec,
    PayloadDecryptionError,
    derive_payload_key,
    key_id,
    payload_keys,
)
from edgewise.config import Settings
from edgewise.crypto import decode_key, load_keyring, new_key
from edgewise.temporal import data_converter

KEY_A, KEY_B = os.urandom(32), os.urandom(32)


def _b64(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def _settings(data_dir: Path, encryption_key: str) -> Settings:
    return Settings.model_validate(
        {"EDGEWISE_DATA_DIR": str(data_dir), "EDGEWISE_ENCRYPTION_KEY": encryption_key}
    )


def _plain(text: str = '{"run_uid": "r-1"}') -> Payload:
    return Payload(metadata={"encoding": b"json/plain", "messageType": b"RunRef"}, data=text.encode())


async def test_encode_seals_payload_and_metadata_under_the_first_key() -> None:
    codec = EncryptionCodec([KEY_A, KEY_B])
    [sealed] = await codec.encode([_plain()])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == key_id(KEY_A).encode()
    assert set(sealed.metadata) == {"encoding", KEY_ID}  # the original type travels inside the ciphertext
    assert b"run_uid" not in sealed.data and b"r-1" not in sealed.data
    [opened] = await codec.decode([sealed])
    assert opened == _plain()


async def test_every_encryption_uses_a_fresh_nonce() -> None:
    codec = EncryptionCodec([KEY_A])
    first, second = await codec.encode([_plain(), _plain()])
    assert first.data != second.data


async def test_rotation_old_payloads_still_open_new_ones_use_the_new_key() -> None:
    [old] = await EncryptionCodec([KEY_A]).encode([_plain("old")])
    rotated = EncryptionCodec([KEY_B, KEY_A])
    assert (await rotated.decode([old]))[0] == _plain("old")
    [new] = await rotated.encode([_plain("new")])
    assert new.metadata[KEY_ID] == key_id(KEY_B).encode()
    # Once the old key is dropped, what it sealed no longer opens — and says which key it needs.
    with pytest.raises(PayloadDecryptionError, match=key_id(KEY_A)):
        await EncryptionCodec([KEY_B]).decode([old])
    assert (await EncryptionCodec([KEY_B]).decode([new]))[0] == _plain("new")


async def test_tampered_payload_is_refused() -> None:
    codec = EncryptionCodec([KEY_A])
    [sealed] = await codec.encode([_plain()])
    flipped = bytearray(sealed.data)
    flipped[-1] ^= 1
    tampered = Payload(metadata=dict(sealed.metadata), data=bytes(flipped))
    with pytest.raises(PayloadDecryptionError):
        await codec.decode([tampered])
    # The key id is authenticated too: relabelling a payload with another configured key's id fails.
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID: key_id(KEY_B).encode()}, data=sealed.data)
    with pytest.raises(PayloadDecryptionError):
        await EncryptionCodec([KEY_A, KEY_B]).decode([relabelled])


async def test_payloads_that_are_not_encrypted_pass_through() -> None:
    """Histories recorded before encryption was switched on keep replaying."""
    codec = EncryptionCodec([KEY_A])
    assert await codec.decode([_plain("legacy")]) == [_plain("legacy")]


def test_default_keys_derive_from_the_at_rest_key(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"EDGEWISE_DATA_DIR": str(tmp_path), "EDGEWISE_ENCRYPTION_KEY": f"{_b64(KEY_A)},{_b64(KEY_B)}"}
    )
    keys = payload_keys(settings)
    assert keys == (derive_payload_key(KEY_A), derive_payload_key(KEY_B))
    assert KEY_A not in keys and KEY_B not in keys  # a payload key never opens stored cookies, and back


def test_explicit_payload_keys_come_first_and_derived_ones_still_decrypt(tmp_path: Path) -> None:
    explicit = os.urandom(32)
    settings = Settings.model_validate(
        {
            "EDGEWISE_DATA_DIR": str(tmp_path),
            "EDGEWISE_ENCRYPTION_KEY": _b64(KEY_A),
            "PAYLOAD_ENCRYPTION_KEYS": f" {_b64(explicit)} , ",
        }
    )
    assert payload_keys(settings) == (explicit, derive_payload_key(KEY_A))


async def test_make_dev_key_is_generated_once_and_payloads_survive_a_restart(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "")
    [sealed] = await EncryptionCodec.from_settings(settings).encode([_plain()])
    assert (tmp_path / "encryption.key").stat().st_mode & 0o777 == 0o600
    restarted = _settings(tmp_path, "")
    assert (await EncryptionCodec.from_settings(restarted).decode([sealed]))[0] == _plain()
    assert load_keyring(restarted).keys == (decode_key((tmp_path / "encryption.key").read_text()),)


class Step(BaseModel):
    uid: str
    at: datetime


async def test_the_data_converter_encrypts_pydantic_values_and_keeps_aware_datetimes(tmp_path: Path) -> None:
    converter = data_converter(_settings(tmp_path, new_key()))
    value = Step(uid="step-1", at=datetime(2026, 12, 3, 10, 0, tzinfo=UTC))
    [payload] = await converter.encode([value])
    assert payload.metadata["encoding"] == ENCODING and b"step-1" not in payload.data
    [back] = await converter.decode([payload], [Step])
    assert back == value and back.at.tzinfo is not None
    with pytest.raises(PayloadDecryptionError):  # another deployment's key opens nothing
        await data_converter(_settings(tmp_path, new_key())).decode([payload], [Step])


def test_a_codec_needs_a_key() -> None:
    with pytest.raises(ValueError):
        EncryptionCodec([])
