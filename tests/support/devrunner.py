"""The `make dev` runner (`python -m edgewise.dev`) as a real subprocess on free ports, for e2e tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 240.0
STOP_TIMEOUT = 60.0
# Variables of the developer's or CI's shell that would point the runner elsewhere than its own children.
_SCRUBBED = (
    "DATABASE_URL",
    "TEMPORAL_ADDRESS",
    "LINKEDIN_BASE_URL",
    "EDGEWISE_ENCRYPTION_KEY",
    "PUBLIC_BASE_URL",
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
class Runner:
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    def output(self, last: int = 80) -> str:
        return "\n".join(self.lines[-last:])

    def child_pids(self) -> dict[str, int]:
        """Each child's pid, as the runner printed it (`started worker (pid 123)`); the latest wins."""
        pids: dict[str, int] = {}
        for line in list(self.lines):
            match = re.search(r"started (\w+) \(pid (\d+)\)", line)
            if match:
                pids[match.group(1)] = int(match.group(2))
        return pids

    def printed_key(self) -> str:
        for line in list(self.lines):
            match = re.search(r"API key\s+(\S+)", line)
            if match:
                return match.group(1)
        raise AssertionError(f"the runner printed no API key:\n{self.output()}")


def runner_env(data_dir: Path, ports: Ports, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in _SCRUBBED}
    env.update(
        {
            "EDGEWISE_DATA_DIR": str(data_dir),
            "API_PORT": str(ports.api),
            "SANDBOX_PORT": str(ports.sandbox),
            "TEMPORAL_PORT": str(ports.temporal),
            "TEMPORAL_UI_PORT": str(ports.temporal_ui),
            "NO_COLOR": "1",
            **(extra or {}),
        }
    )
    return env


def start_runner(data_dir: Path, ports: Ports, extra_env: dict[str, str] | None = None) -> Runner:
    """Start it and wait until it prints that it is ready (or fail with its output)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgewise.dev"],
        cwd=ROOT,
        env=runner_env(data_dir, ports, extra_env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # our SIGINT reaches the runner only, as a terminal's Ctrl-C would with make
    )
    runner = Runner(proc)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            runner.lines.append(line.rstrip("\n"))
            if "edgewise dev is ready" in line:
                runner.ready.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + READY_TIMEOUT
    while not runner.ready.wait(0.25):
        if proc.poll() is not None or time.monotonic() > deadline:
            code = proc.poll()
            kill_runner(runner)
            raise AssertionError(
                f"`edgewise dev` did not get ready within {READY_TIMEOUT:.0f}s (exit code {code}):\n"
                f"{runner.output()}"
            )
    time.sleep(0.5)  # let the banner finish printing
    return runner


def kill_runner(runner: Runner) -> None:
    """Last resort for a failed test: kill the runner's children (each in its own group) and the runner."""
    for pid in runner.child_pids().values():
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if runner.proc.poll() is None:
        runner.proc.kill()
        runner.proc.wait(timeout=10)


def stop_runner(runner: Runner) -> int:
    """SIGINT, as Ctrl-C; its exit code (fails the test if it does not stop in time)."""
    runner.proc.send_signal(signal.SIGINT)
    try:
        return runner.proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        kill_runner(runner)
        raise AssertionError(
            f"`edgewise dev` did not stop within {STOP_TIMEOUT}s:\n{runner.output()}"
        ) from None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def assert_all_gone(runner: Runner, ports: Ports, timeout: float = 15.0) -> None:
    """Every child the runner started has exited and every port is free again."""
    pids = runner.child_pids()
    assert set(pids) == {"temporal", "sandbox", "worker", "api"}, runner.output()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (
        any(pid_alive(pid) for pid in pids.values()) or not all(port_free(p) for p in ports.all())
    ):
        time.sleep(0.1)
    alive = [name for name, pid in pids.items() if pid_alive(pid)]
    assert not alive, f"still running after the runner exited: {alive}\n{runner.output()}"
    busy = [port for port in ports.all() if not port_free(port)]
    assert not busy, f"ports still taken after the runner exited: {busy}\n{runner.output()}"
