"""The `edgewise` command line (API.md §2): creating a workspace, migrating, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.helpers import client_for
from tests.conftest import TEST_KEY

EDGEWISE = str(Path(sys.executable).parent / "edgewise")


def _run(args: list[str], database_url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "EDGEWISE_ENCRYPTION_KEY": TEST_KEY,
        "EDGEWISE_DATA_DIR": str(data_dir),
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [EDGEWISE, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def test_workspace_create_json_prints_one_line(database_url: str, tmp_path: Path, api_url: str) -> None:
    result = _run(
        ["workspace", "create", "--name", "Acme", "--admin-email", "ops@acme.test", "--json"],
        database_url,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    created = json.loads(lines[0])
    assert set(created) == {"workspace_uid", "member_uid", "api_key"}
    async with client_for(api_url, created["api_key"]) as admin:
        workspace = (await admin.get("/v1/workspace")).json()
        assert workspace["uid"] == created["workspace_uid"] and workspace["name"] == "Acme"
        members = (await admin.get("/v1/members")).json()
        assert members == [
            {
                "uid": created["member_uid"],
                "email": "ops@acme.test",
                "role": "admin",
                "created_at": members[0]["created_at"],
            }
        ]


def test_workspace_create_human_output(database_url: str, tmp_path: Path) -> None:
    result = _run(
        ["workspace", "create", "--name", "Beta", "--admin-email", "b@beta.test"], database_url, tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "ew_" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["workspace", "create", "--admin-email", "ops@acme.test"],
        ["workspace", "create", "--name", "Acme"],
        ["workspace", "create", "--name", "", "--admin-email", "ops@acme.test"],
        ["workspace", "create", "--name", "Acme", "--admin-email", "not-an-email"],
        ["workspace", "frobnicate"],
        ["workspace"],
        ["nonsense"],
        [],
    ],
)
def test_bad_input_fails_with_a_message(database_url: str, tmp_path: Path, args: list[str]) -> None:
    result = _run(args, database_url, tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip()
    assert "Traceback" not in result.stderr


def test_migrate_is_idempotent(database_url: str, tmp_path: Path) -> None:
    result = _run(["migrate"], database_url, tmp_path)
    assert result.returncode == 0, result.stderr


def test_migrate_a_fresh_sqlite_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert _run(["migrate"], url, tmp_path).returncode == 0
    result = _run(
        ["workspace", "create", "--name", "Fresh", "--admin-email", "f@fresh.test", "--json"], url, tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["api_key"].startswith("ew_")


def test_help_lists_every_command() -> None:
    result = subprocess.run([EDGEWISE, "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    for command in ("workspace", "api", "worker", "sandbox", "dev", "migrate"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["sandbox", "dev"])
def test_component_commands_pass_their_arguments_through(command: str) -> None:
    result = subprocess.run(
        [EDGEWISE, command, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
