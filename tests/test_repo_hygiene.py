"""The repository's own files: compose file valid against the Compose spec, CI script sane, Makefile targets
present, README documenting every setting. Cheap checks that keep the docs and the tooling honest."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edgewise.config import Settings
from workflows import search_attributes

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed; `make test` installs it (dev extras)")
    return found


def _compose() -> dict[str, Any]:
    from ruamel.yaml import YAML

    loaded = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    result = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_the_platform_from_official_images() -> None:
    services = _compose()["services"]
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["temporal"]["image"].startswith("temporalio/server:")
    assert services["temporal-schema"]["image"].startswith("temporalio/admin-tools:")
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")
    for name in ("api", "worker"):
        assert services[name]["build"] == "."
        assert services[name]["deploy"]["replicas"] == 2
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
        assert "EDGEWISE_ENCRYPTION_KEY" in env  # every replica must share the key
    assert services["sandbox"]["profiles"] == ["sandbox"]
    assert all("profiles" not in spec for name, spec in services.items() if name != "sandbox")


def test_compose_registers_every_search_attribute() -> None:
    script = "\n".join(_compose()["services"]["temporal-init"]["command"])
    for key in search_attributes.ALL:
        assert key.name in script


def test_ci_script_is_executable_strict_bash() -> None:
    script = ROOT / ".ci" / "run"
    assert script.stat().st_mode & stat.S_IXUSR
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in text
    assert "TEST_DATABASE_URL=" in text and "make test" in text
    subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)


@pytest.mark.parametrize("target", ["dev", "test", "lint", "test-e2e", "bench", "clean"])
def test_makefile_has_target(target: str) -> None:
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    result = subprocess.run(
        ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "MAKEFLAGS": ""},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_documents_every_environment_variable() -> None:
    readme = (ROOT / "README.md").read_text()
    aliases = [str(info.alias) for info in Settings.model_fields.values() if info.alias]
    missing = [alias for alias in aliases if f"`{alias}`" not in readme]
    assert not missing, f"README.md's Configuration table lacks: {missing}"


def test_readme_quick_start_is_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    first_block = re.search(r"```(?:sh|bash|shell)?\n(.*?)```", quick, re.S)
    assert first_block is not None
    commands = [line.strip() for line in first_block.group(1).splitlines() if line.strip()]
    assert commands == ["make dev", "make test"]


def test_gitignore_keeps_local_state_out() -> None:
    ignored = (ROOT / ".gitignore").read_text().split()
    assert ".venv/" in ignored and ".data/" in ignored


def test_dev_runner_answers_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edgewise.dev", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "EDGEWISE_DATA_DIR" in result.stdout
