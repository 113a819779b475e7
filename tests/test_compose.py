"""docker-compose.yml against the code and the README: no Docker engine runs here, so what can go stale is
checked statically — every variable the compose file gives edgewise's processes is one edgewise reads, the
drain windows fit in the stop grace periods, health checks probe the ports the processes listen on, and the
README's commands are the ones the compose file documents. (Schema validity: tests/test_repo_hygiene.py.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from edgewise.config import Settings

ROOT = Path(__file__).resolve().parents[1]
EDGEWISE_SERVICES = ("api", "worker")


def _compose() -> dict[str, Any]:
    from ruamel.yaml import YAML

    loaded = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _aliases() -> set[str]:
    return {str(info.alias).upper() for info in Settings.model_fields.values() if info.alias}


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, f"expected a duration like '45s', got {duration!r}"
    return float(match.group(1))


def _default(value: str) -> str:
    """`${NAME:-default}` → `default`; a literal stays as it is."""
    match = re.fullmatch(r"\$\{\w+:-(.*)\}", str(value))
    return match.group(1) if match else str(value)


@pytest.mark.parametrize("service", EDGEWISE_SERVICES)
def test_every_variable_compose_sets_for_edgewise_is_a_setting(service: str) -> None:
    env = _compose()["services"][service]["environment"]
    unknown = sorted(name for name in env if name.upper() not in _aliases())
    assert not unknown, f"{service} sets variables edgewise/config.py does not read: {unknown}"


@pytest.mark.parametrize("service", EDGEWISE_SERVICES)
def test_compose_values_are_valid_settings(service: str) -> None:
    env = {name: _default(value) for name, value in _compose()["services"][service]["environment"].items()}
    env["EDGEWISE_ENCRYPTION_KEY"] = "a" * 43 + "="  # required by the compose file, given by the operator
    Settings.model_validate(env)  # raises on a value pydantic refuses (a port, a bool, a profile name)


def test_the_drain_windows_fit_in_the_stop_grace_periods() -> None:
    services = _compose()["services"]
    worker_grace = float(services["worker"]["environment"]["WORKER_SHUTDOWN_GRACE_SECONDS"])
    api_grace = float(services["api"]["environment"]["API_SHUTDOWN_GRACE_SECONDS"])
    # Docker sends SIGKILL once stop_grace_period is over: the drain must end before.
    assert _seconds(services["worker"]["stop_grace_period"]) > worker_grace
    assert _seconds(services["api"]["stop_grace_period"]) > api_grace


def test_health_checks_probe_the_ports_the_processes_serve() -> None:
    services = _compose()["services"]
    worker_port = services["worker"]["environment"]["WORKER_METRICS_PORT"]
    assert services["worker"]["environment"]["WORKER_METRICS_HOST"] == "0.0.0.0"  # scraped from outside
    assert f"127.0.0.1:{worker_port}/healthz" in " ".join(services["worker"]["healthcheck"]["test"])
    api_port = services["api"]["environment"]["API_PORT"]
    assert f"127.0.0.1:{api_port}/readyz" in " ".join(services["api"]["healthcheck"]["test"])


def test_temporal_schema_is_set_up_by_a_one_shot_admin_tools_job_not_auto_setup() -> None:
    services = _compose()["services"]
    assert not any("auto-setup" in str(spec.get("image", "")) for spec in services.values())
    schema = services["temporal-schema"]
    script = "\n".join(schema["command"])
    # Both databases created, then set up and migrated to the image's schema version.
    assert "create-database" in script and "for db in temporal temporal_visibility" in script
    for database, schema_dir in (("temporal", "temporal"), ("temporal_visibility", "visibility")):
        assert f"--db {database} setup-schema -v 0.0" in script
        # `$$` is the compose file's escape for a literal `$` (the shell variable).
        assert f"--db {database} update-schema -d $$schema/{schema_dir}/versioned" in script
    server = services["temporal"]
    assert server["depends_on"]["temporal-schema"]["condition"] == "service_completed_successfully"
    assert server["environment"]["DB"] == "postgres12"
    versions = {
        spec["image"].split(":", 1)[1]
        for name, spec in services.items()
        if name.startswith("temporal") and name != "temporal-ui"
    }
    assert len(versions) == 1, f"server and admin-tools must be the same Temporal version: {versions}"


def test_edgewise_starts_only_after_the_namespace_is_ready() -> None:
    services = _compose()["services"]
    for name in EDGEWISE_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["temporal-init"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"


def test_readme_gives_the_compose_files_commands() -> None:
    header = "\n".join(
        line.removeprefix("#").strip()
        for line in (ROOT / "docker-compose.yml").read_text().splitlines()
        if line.startswith("#")
    )
    readme = (ROOT / "README.md").read_text()
    operations = readme.split("## Operations", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:sh|bash|shell)\n(.*?)```", operations, re.S)
    commands = [line.strip() for block in blocks for line in block.splitlines()]
    compose_commands = [
        line for line in commands if "docker compose" in line or line.startswith("export EDGEWISE")
    ]
    assert compose_commands, "README's Operations section shows no docker compose commands"
    for command in compose_commands:
        assert command in header, f"README command not documented in docker-compose.yml: {command}"
