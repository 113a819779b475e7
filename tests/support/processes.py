"""edgewise's processes (worker.py, `python -m api`, the sandbox, Temporal's dev server) as real
subprocesses for tests: each in its own process group, its output in a log file the test can read, and
stopped (or killed) by its own pid only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from edgewise.config import Settings

ROOT = Path(__file__).resolve().parents[2]
# Variables of the developer's or CI's shell that would point a child elsewhere than the test intends.
SCRUBBED = (
    "DATABASE_URL",
    "TEMPORAL_ADDRESS",
    "TEMPORAL_TASK_QUEUE",
    "LINKEDIN_BASE_URL",
    "EDGEWISE_ENCRYPTION_KEY",
    "EDGEWISE_DATA_DIR",
    "EDGEWISE_SAFETY_PROFILE",
    "PUBLIC_BASE_URL",
    "API_PORT",
    "WORKER_METRICS_PORT",
)


def child_env(settings: dict[str, str]) -> dict[str, str]:
    """This process's environment without edgewise's settings, plus `settings`."""
    env = {key: value for key, value in os.environ.items() if key.upper() not in SCRUBBED}
    env.update({"PYTHONUNBUFFERED": "1", **settings})
    return env


def edgewise_env(settings: Settings, data_dir: Path, encryption_key: str, **extra: str) -> dict[str, str]:
    """The environment of an edgewise process (worker or API) sharing `settings`' database, Temporal server,
    task queue and sandbox, with a data dir of its own, the tests' safety profile and private callback
    targets allowed."""
    return child_env(
        {
            "EDGEWISE_DATA_DIR": str(data_dir),
            "DATABASE_URL": settings.resolved_database_url,
            "TEMPORAL_ADDRESS": settings.temporal_address,
            "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
            "LINKEDIN_BASE_URL": settings.linkedin_base_url,
            "EDGEWISE_ENCRYPTION_KEY": encryption_key,
            "EDGEWISE_SAFETY_PROFILE": "test",
            "ALLOW_PRIVATE_TARGETS": "true",
            **extra,
        }
    )


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self) -> Process:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # signals from the test reach this process (group) only
        )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was not started"
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def wait_until(self, what: str, probe: Callable[[], bool], timeout: float = 120.0) -> None:
        """Poll `probe` until true; fail with this process's log tail if it exits or time runs out."""
        deadline = time.monotonic() + timeout
        while not probe():
            if not self.alive():
                raise AssertionError(f"{self.name} exited ({self.exit_code()}) before {what}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no {what} after {timeout:.0f}s:\n{self.tail()}")
            time.sleep(0.1)

    def wait_for_output(self, text: str, timeout: float = 120.0) -> None:
        self.wait_until(repr(text), lambda: text in self.output(), timeout)

    def signal(self, sig: int) -> None:
        if self.alive():
            os.killpg(self.pid, sig)

    def wait(self, timeout: float) -> int:
        assert self.popen is not None
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running after {timeout:.0f}s:\n{self.tail()}") from None

    def exit_code(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time (cleanup; never fails)."""
        if self.popen is None:
            return
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)  # leftovers of its group too
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if self._log is not None:
            self._log.close()
            self._log = None


def python_process(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Process:
    """`python <args>` with this interpreter (the venv's), logging to log_dir/<name>.log."""
    return Process(name, [sys.executable, *args], env, log_dir / f"{name}.log")
