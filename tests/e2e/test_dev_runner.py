"""`make dev` end to end: the dev runner as a real subprocess, with real children (Temporal's dev server,
the sandbox, the worker, the API) on free ports and a temporary data dir, on SQLite (the embedded default).

It must come up, print a key that works, stop everything on SIGINT and exit 0, and a second start on the
same data dir must lose nothing (the same key still works, on the same workspace).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edgewise.dev import resolve_plan
from tests.support.devrunner import Ports, assert_all_gone, kill_runner, start_runner, stop_runner

pytestmark = pytest.mark.e2e


@pytest.fixture
def dev_dirs(tmp_path: Path) -> Iterator[tuple[Path, Ports]]:
    yield tmp_path / "data", Ports.free()


@pytest.mark.timeout(900)
def test_make_dev_starts_prints_a_working_key_stops_cleanly_and_keeps_its_state(
    dev_dirs: tuple[Path, Ports],
) -> None:
    data_dir, ports = dev_dirs
    api = f"http://127.0.0.1:{ports.api}"

    first = start_runner(data_dir, ports)
    try:
        key = first.printed_key()
        workspace = httpx.get(f"{api}/v1/workspace", headers={"X-API-Key": key}, timeout=30)
        assert workspace.status_code == 200, workspace.text
        assert workspace.json()["name"] == "dev"
        assert (data_dir / "dev-api-key").read_text().strip() == key
        assert (data_dir / "dev-api-key").stat().st_mode & 0o777 == 0o600
        auth = {"X-API-Key": key}
        body = {"name": "Kept Across Restarts"}
        identity = httpx.post(f"{api}/v1/identities", headers=auth, json=body, timeout=30)
        assert identity.status_code == 201, identity.text

        ui = httpx.get(f"http://127.0.0.1:{ports.temporal_ui}/", timeout=30)
        assert ui.status_code < 500
        # The UI decrypts payloads through the API's codec endpoint, which answers this machine's browser.
        ui_settings = httpx.get(f"http://127.0.0.1:{ports.temporal_ui}/api/v1/settings", timeout=30).json()
        assert ui_settings["Codec"]["Endpoint"] == f"{api}/codec"
        ui_origin = {"Origin": f"http://127.0.0.1:{ports.temporal_ui}"}
        codec = httpx.post(f"{api}/codec/decode", json={"payloads": []}, headers=ui_origin, timeout=30)
        assert codec.status_code == 200 and codec.json() == {"payloads": []}, codec.text
        assert codec.headers["access-control-allow-origin"] == ui_origin["Origin"]
        accounts = httpx.get(f"http://127.0.0.1:{ports.sandbox}/_sandbox/accounts", timeout=30)
        assert accounts.status_code == 200
        assert isinstance(accounts.json(), list)
        for name in ("temporal", "sandbox", "worker", "api"):
            assert (data_dir / "logs" / f"{name}.log").exists()
        banner = first.output(200)
        assert f"Temporal UI  http://127.0.0.1:{ports.temporal_ui}" in banner
        assert "/v1/actions/linkedin-search-people/run/live" in banner
    except BaseException:
        kill_runner(first)
        raise
    assert stop_runner(first) == 0, first.output()
    assert_all_gone(first, ports)
    assert "all stopped" in first.output()

    second = start_runner(data_dir, ports)
    try:
        assert "reusing the key" in second.output(200)
        assert second.printed_key() == key
        again = httpx.get(f"{api}/v1/workspace", headers={"X-API-Key": key}, timeout=30)
        assert again.status_code == 200, again.text
        assert again.json()["uid"] == workspace.json()["uid"]
        kept = httpx.get(f"{api}/v1/identities/{identity.json()['uid']}", headers=auth, timeout=30)
        assert kept.status_code == 200, kept.text
    except BaseException:
        kill_runner(second)
        raise
    assert stop_runner(second) == 0, second.output()
    assert_all_gone(second, ports)


def test_plan_defaults_to_own_children_sqlite_and_private_targets(tmp_path: Path) -> None:
    plan = resolve_plan({"EDGEWISE_DATA_DIR": str(tmp_path), "API_PORT": "18001"})
    assert plan.start_temporal and plan.start_sandbox
    assert plan.env["DATABASE_URL"] == f"sqlite:///{(tmp_path / 'edgewise.db').resolve()}"
    assert plan.env["TEMPORAL_ADDRESS"] == f"127.0.0.1:{plan.temporal_port}"
    assert plan.env["LINKEDIN_BASE_URL"] == f"http://127.0.0.1:{plan.sandbox_port}"
    assert plan.env["ALLOW_PRIVATE_TARGETS"] == "true"
    assert plan.env["CODEC_ALLOW_LOOPBACK"] == "true"  # the dev UI's codec calls, from this machine
    assert plan.api_url == "http://127.0.0.1:18001"
    assert "EDGEWISE_SAFETY_PROFILE" not in plan.env


def test_plan_respects_external_services_and_explicit_settings(tmp_path: Path) -> None:
    plan = resolve_plan(
        {
            "EDGEWISE_DATA_DIR": str(tmp_path),
            "TEMPORAL_ADDRESS": "temporal.internal:7233",
            "LINKEDIN_BASE_URL": "http://sandbox.internal:8100",
            "DATABASE_URL": "postgresql+psycopg://u:secret@db/edgewise",
            "ALLOW_PRIVATE_TARGETS": "false",
            "EDGEWISE_SAFETY_PROFILE": "test",
        }
    )
    assert not plan.start_temporal and not plan.start_sandbox
    assert plan.env["TEMPORAL_ADDRESS"] == "temporal.internal:7233"
    assert plan.env["DATABASE_URL"] == "postgresql+psycopg://u:secret@db/edgewise"
    assert plan.env["ALLOW_PRIVATE_TARGETS"] == "false"
    assert plan.env["EDGEWISE_SAFETY_PROFILE"] == "test"
    # LINKEDIN_BASE_URL naming the runner's own sandbox port still starts the sandbox.
    own = resolve_plan(
        {
            "EDGEWISE_DATA_DIR": str(tmp_path),
            "SANDBOX_PORT": "8100",
            "LINKEDIN_BASE_URL": "http://127.0.0.1:8100/",
        }
    )
    assert own.start_sandbox
