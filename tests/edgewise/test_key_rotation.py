"""Rotating the at-rest key (EDGEWISE_ENCRYPTION_KEY): data sealed under the old key stays readable while the
old key is listed after the new one, new writes use the new key, `edgewise keys rewrap` re-seals what is
stored, and after it the old key can go. Stored rows are written by the production functions into a
database of their own (a rewrap touches every row, so never the session's shared one)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy.engine import Engine
from sqlmodel import Session

from activities.connect import new_cookie_stash, read_cookie_stash
from activities.sessions import decrypt_cookies, encrypt_cookies
from db.engine import make_engine, session_scope
from db.migrate import upgrade
from db.models import Identity, Integration, SecretStash, Workspace
from edgewise.config import Settings
from edgewise.crypto import Keyring, load_keyring
from edgewise.rewrap import encrypted_columns, rewrap_all
from edgewise.webhooks import rotate_secret, signing_secrets
from edgewise.workspaces import create_workspace
from linkedin.protocol import SessionCookies
from tests.support.database import fresh_database

EDGEWISE = str(Path(sys.executable).parent / "edgewise")
KEY_A, KEY_B, KEY_C = (os.urandom(32) for _ in range(3))
COOKIES = SessionCookies(li_at="AQEDAR-rotation", jsessionid="ajax:4242", li_a="sn-rotation", user_agent="UA")


def b64(*keys: bytes) -> str:
    return ",".join(base64.urlsafe_b64encode(key).decode() for key in keys)


@dataclass
class Stored:
    workspace_uid: str
    integration_uid: str
    stash_uid: str
    webhook_secrets: list[str]


@pytest.fixture
def own_database(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    with fresh_database(tmp_path) as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            yield url, engine
        finally:
            engine.dispose()


def store_secrets(engine: Engine, keyring: Keyring) -> Stored:
    """A workspace (current and previous webhook secret), a connected integration, a pending cookie stash."""
    created = create_workspace(engine, keyring, "Rotation", "ops@rotation.test")
    with session_scope(engine) as session:
        workspace = session.get(Workspace, created.workspace_uid)
        assert workspace is not None
        rotate_secret(keyring, workspace)  # previous_secret_enc is set too
        session.add(workspace)
        identity = Identity(workspace_uid=workspace.uid, name="Rotating One")
        session.add(identity)
        session.flush()
        integration = Integration(workspace_uid=workspace.uid, identity_uid=identity.uid, status="VALID")
        integration.cookies_enc = encrypt_cookies(keyring, integration.uid, COOKIES)
        stash = new_cookie_stash(keyring, COOKIES)
        session.add(integration)
        session.add(stash)
        session.flush()
        return Stored(workspace.uid, integration.uid, stash.uid, signing_secrets(keyring, workspace))


def read_secrets(engine: Engine, keyring: Keyring, stored: Stored) -> tuple[list[str], SessionCookies, Any]:
    with Session(engine) as session:
        workspace = session.get(Workspace, stored.workspace_uid)
        integration = session.get(Integration, stored.integration_uid)
        stash = session.get(SecretStash, stored.stash_uid)
        assert workspace is not None and integration is not None and stash is not None
        return signing_secrets(keyring, workspace), decrypt_cookies(keyring, integration), read_cookie_stash(
            keyring, stash
        )


def stored_key_ids(engine: Engine, stored: Stored) -> set[bytes]:
    with Session(engine) as session:
        workspace = session.get(Workspace, stored.workspace_uid)
        integration = session.get(Integration, stored.integration_uid)
        stash = session.get(SecretStash, stored.stash_uid)
        assert workspace is not None and integration is not None and stash is not None
        blobs = [workspace.secret_enc, workspace.previous_secret_enc, integration.cookies_enc]
        blobs.append(stash.ciphertext)
    return {Keyring.blob_key_id(blob) for blob in blobs if blob}


def rewrap(url: str, tmp_path: Path, keys: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "EDGEWISE_ENCRYPTION_KEY": keys,
        "EDGEWISE_DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [EDGEWISE, "keys", "rewrap", "--json", *extra], env=env, capture_output=True, text=True, timeout=120
    )


def counts(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    report = json.loads(result.stdout)
    totals = {"rewrapped": 0, "current": 0, "unreadable": 0, "changed_meanwhile": 0}
    for column in report["columns"]:
        for name in totals:
            totals[name] += column[name]
    return totals


def test_rotation_reads_old_writes_new_and_rewrap_lets_the_old_key_go(
    own_database: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = own_database
    stored = store_secrets(engine, Keyring((KEY_A,)))
    expected = read_secrets(engine, Keyring((KEY_A,)), stored)
    assert expected[1].li_at == COOKIES.li_at

    # Rotated: the new key first, the old one kept. Everything stored still reads; new writes use B.
    rotated = Keyring((KEY_B, KEY_A))
    assert read_secrets(engine, rotated, stored) == expected
    newer = store_secrets(engine, rotated)
    assert stored_key_ids(engine, newer) == {Keyring.key_id(KEY_B)}
    assert stored_key_ids(engine, stored) == {Keyring.key_id(KEY_A)}

    # Dropping A before the rewrap would lose data: the dry run says so (exit 1) and changes nothing.
    early = rewrap(url, tmp_path, b64(KEY_B), "--dry-run")
    assert early.returncode == 1, early.stderr
    assert counts(early)["unreadable"] == 4 and "keep the old keys" in early.stderr
    assert stored_key_ids(engine, stored) == {Keyring.key_id(KEY_A)}

    done = rewrap(url, tmp_path, b64(KEY_B, KEY_A))
    assert done.returncode == 0, done.stderr
    assert counts(done) == {"rewrapped": 4, "current": 4, "unreadable": 0, "changed_meanwhile": 0}
    assert stored_key_ids(engine, stored) == {Keyring.key_id(KEY_B)}

    # A is gone from the configuration: everything reads with B alone, as it was.
    assert read_secrets(engine, Keyring((KEY_B,)), stored) == expected
    again = rewrap_all(engine, Keyring((KEY_B,)))
    assert sum(report.rewrapped for report in again) == 0
    assert sum(report.current for report in again) == 8


def test_rewrap_leaves_blobs_no_key_opens_untouched(own_database: tuple[str, Engine]) -> None:
    _, engine = own_database
    stored = store_secrets(engine, Keyring((KEY_C,)))
    reports = rewrap_all(engine, Keyring((KEY_B, KEY_A)))
    assert sum(report.unreadable for report in reports) == 4
    assert sum(report.rewrapped for report in reports) == 0
    assert stored_key_ids(engine, stored) == {Keyring.key_id(KEY_C)}
    assert read_secrets(engine, Keyring((KEY_C,)), stored)[1].li_at == COOKIES.li_at


def test_rewrap_finds_every_encrypted_column() -> None:
    found = {(table.name, column.name) for table, column in encrypted_columns()}
    assert {
        ("workspaces", "secret_enc"),
        ("workspaces", "previous_secret_enc"),
        ("integrations", "cookies_enc"),
        ("secret_stash", "ciphertext"),
        ("runs", "callback_headers_enc"),
        ("deliveries", "headers_enc"),
    } <= found


def test_keyring_rotation_semantics() -> None:
    old = Keyring((KEY_A,)).encrypt_json({"v": 1}, associated="row-1")
    rotated = Keyring((KEY_B, KEY_A))
    assert rotated.decrypt_json(old, associated="row-1") == {"v": 1}
    assert rotated.needs_rewrap(old) and not rotated.needs_rewrap(rotated.encrypt_json(1, "row-2"))
    fresh = rotated.rewrap(old, associated="row-1")
    assert Keyring.blob_key_id(fresh) == Keyring.key_id(KEY_B)
    assert Keyring((KEY_B,)).decrypt_json(fresh, associated="row-1") == {"v": 1}
    with pytest.raises(InvalidTag):  # the associated data (the row's uid) is bound: no copying blobs around
        rotated.rewrap(old, associated="row-2")


def test_generated_key_is_created_once_when_processes_start_together(tmp_path: Path) -> None:
    """API and worker starting at the same moment on an empty data dir must end up with one key."""
    settings = Settings.model_validate({"EDGEWISE_DATA_DIR": str(tmp_path), "EDGEWISE_ENCRYPTION_KEY": ""})
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = list(pool.map(lambda _: load_keyring(settings).keys, range(32)))
    assert len(set(keys)) == 1
    assert [path.name for path in tmp_path.iterdir()] == ["encryption.key"]  # no temporary file left


def test_keys_generate_prints_a_usable_key(tmp_path: Path) -> None:
    result = subprocess.run([EDGEWISE, "keys", "generate"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    settings = Settings.model_validate(
        {"EDGEWISE_DATA_DIR": str(tmp_path), "EDGEWISE_ENCRYPTION_KEY": result.stdout.strip()}
    )
    keyring = load_keyring(settings)
    assert keyring.decrypt_json(keyring.encrypt_json("x")) == "x"
