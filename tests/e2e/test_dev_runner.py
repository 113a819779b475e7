"""`make dev` end to end: the dev runner as a real subprocess, with real children (Temporal's dev server,
the sandbox, the worker, the API) on free ports and a temporary data dir, on SQLite (the embedded default).

It must come up, print a key that works, stop everything on SIGINT and exit 0, and a second start on the
same data dir must lose nothing (the same key still works, on the same workspace).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from edgewise.dev import resolve_plan
from tests.support.servers import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 240.0
STOP_TIMEOUT = 60.0
# Variables of the developer's or CI's shell that would point the runner elsewhere than its own children.
_SCRUBBED = (
    "DATABASE_URL", "TEMPORAL_ADDRESS", "LINKEDIN_BASE_URL", "EDGEWISE_ENCRYPTION_KEY", "PUBLIC_BASE_URL",
)


@dataclass
class Ports:
    api: int
    sandbox: int
    temporal: int
    temporal_ui: int

    @classmethod
    def free(cls) -> Ports:
        chosen: set[int] = set()
        while len(chosen) < 4:
            chosen.add(free_port())
        api, sandbox, temporal, ui = sorted(chosen)
        return cls(api, sandbox, temporal, ui)

    def all(self) -> list[int]:
        return [self.api, self.sandbox, self.temporal, self.temporal_ui]


@dataclass
class RunningDev:
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    def output(self, last: int = 80) -> str:
        return "\n".join(self.lines[-last:])

    def child_pids(self) -> dict[str, int]:
        pids: dict[str, int] = {}
        for line in self.lines:
            match = re.search(r"started (\w+) \(pid (\d+)\)", line)
            if match:
                pids[match.group(1)] = int(match.group(2))
        return pids

    def printed_key(self) -> str:
        for line in self.lines:
            match = re.search(r"API key\s+(\S+)", line)
            if match:
                return match.group(1)
        raise AssertionError(f"no API key printed:\n{self.output()}")


def _env(data_dir: Path, ports: Ports) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in _SCRUBBED}
    env.update(
        {
            "EDGEWISE_DATA_DIR": str(data_dir),
            "API_PORT": str(ports.api),
            "SANDBOX_PORT": str(ports.sandbox),
            "TEMPORAL_PORT": str(ports.temporal),
            "TEMPORAL_UI_PORT": str(ports.temporal_ui),
            "NO_COLOR": "1",
        }
    )
    return env


def _start(data_dir: Path, ports: Ports) -> RunningDev:
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgewise.dev"],
        cwd=ROOT,
        env=_env(data_dir, ports),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # our SIGINT goes to the runner only, as a terminal's Ctrl-C would with make
    )
    running = RunningDev(proc)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            running.lines.append(line.rstrip("\n"))
            if "edgewise dev is ready" in line:
                running.ready.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + READY_TIMEOUT
    while not running.ready.wait(0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            _kill(running)
            code = proc.poll()
            raise AssertionError(f"`edgewise dev` did not get ready (exit code {code}):\n{running.output()}")
    # Let the banner finish printing.
    time.sleep(0.5)
    return running


def _kill(running: RunningDev) -> None:
    """Last resort for a failed test: kill the runner's children and the runner."""
    for pid in running.child_pids().values():
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if running.proc.poll() is None:
        running.proc.kill()
        running.proc.wait(timeout=10)


def _stop(running: RunningDev) -> int:
    running.proc.send_signal(signal.SIGINT)
    try:
        return running.proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill(running)
        output = running.output()
        raise AssertionError(f"`edgewise dev` did not stop within {STOP_TIMEOUT}s:\n{output}") from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _assert_all_stopped(running: RunningDev, ports: Ports) -> None:
    pids = running.child_pids()
    assert set(pids) == {"temporal", "sandbox", "worker", "api"}, running.output()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_pid_alive(pid) for pid in pids.values()):
        time.sleep(0.1)
    alive = [name for name, pid in pids.items() if _pid_alive(pid)]
    assert not alive, f"still running after the runner exited: {alive}\n{running.output()}"
    busy = [port for port in ports.all() if not _port_free(port)]
    assert not busy, f"ports still taken: {busy}"


@pytest.fixture
def dev_dirs(tmp_path: Path) -> Iterator[tuple[Path, Ports]]:
    yield tmp_path / "data", Ports.free()


@pytest.mark.timeout(900)
def test_make_dev_starts_prints_a_working_key_stops_cleanly_and_keeps_its_state(
    dev_dirs: tuple[Path, Ports],
) -> None:
    data_dir, ports = dev_dirs
    api = f"http://127.0.0.1:{ports.api}"

    first = _start(data_dir, ports)
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
        accounts = httpx.get(f"http://127.0.0.1:{ports.sandbox}/_sandbox/accounts", timeout=30)
        assert accounts.status_code == 200
        assert isinstance(accounts.json(), list)
        for name in ("temporal", "sandbox", "worker", "api"):
            assert (data_dir / "logs" / f"{name}.log").exists()
        banner = first.output(200)
        assert f"Temporal UI  http://127.0.0.1:{ports.temporal_ui}" in banner
        assert "/v1/actions/linkedin-search-people/run/live" in banner
    except BaseException:
        _kill(first)
        raise
    assert _stop(first) == 0, first.output()
    _assert_all_stopped(first, ports)
    assert "all stopped" in first.output()

    second = _start(data_dir, ports)
    try:
        assert "reusing the key" in second.output(200)
        assert second.printed_key() == key
        again = httpx.get(f"{api}/v1/workspace", headers={"X-API-Key": key}, timeout=30)
        assert again.status_code == 200, again.text
        assert again.json()["uid"] == workspace.json()["uid"]
        kept = httpx.get(f"{api}/v1/identities/{identity.json()['uid']}", headers=auth, timeout=30)
        assert kept.status_code == 200, kept.text
    except BaseException:
        _kill(second)
        raise
    assert _stop(second) == 0, second.output()
    _assert_all_stopped(second, ports)


def test_plan_defaults_to_own_children_sqlite_and_private_targets(tmp_path: Path) -> None:
    plan = resolve_plan({"EDGEWISE_DATA_DIR": str(tmp_path), "API_PORT": "18001"})
    assert plan.start_temporal and plan.start_sandbox
    assert plan.env["DATABASE_URL"] == f"sqlite:///{(tmp_path / 'edgewise.db').resolve()}"
    assert plan.env["TEMPORAL_ADDRESS"] == f"127.0.0.1:{plan.temporal_port}"
    assert plan.env["LINKEDIN_BASE_URL"] == f"http://127.0.0.1:{plan.sandbox_port}"
    assert plan.env["ALLOW_PRIVATE_TARGETS"] == "true"
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
        {"EDGEWISE_DATA_DIR": str(tmp_path), "SANDBOX_PORT": "8100", "LINKEDIN_BASE_URL": "http://127.0.0.1:8100/"}
    )
    assert own.start_sandbox
