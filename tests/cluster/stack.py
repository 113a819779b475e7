"""The production topology without Docker, on loopback: PostgreSQL (a fresh database), one Temporal dev
server with a persistent database file (so a restart keeps every workflow), the LinkedIn sandbox, N API
processes and N worker processes — each a real process started the way the compose file starts it
(`python -m api`, `python worker.py`), configured only through environment variables.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from edgewise.dev import DEV_SERVER_TUNING, temporal_cli
from tests.support.database import fresh_database, test_database_url
from tests.support.processes import ROOT, Process, child_env, python_process
from tests.support.servers import free_port
from workflows import search_attributes

# The CI machine's PostgreSQL (README: Configuration, TEST_DATABASE_URL) when nothing else is given.
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_SA_TYPES = {2: "Keyword", 7: "KeywordList"}


def postgres_base_url() -> str:
    url = test_database_url()
    return url if url.startswith("postgresql") else DEFAULT_POSTGRES


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Stack:
    root: Path
    database_url: str
    encryption_key: str
    extra_env: dict[str, str] = field(default_factory=dict)
    temporal_port: int = field(default_factory=free_port)
    sandbox_port: int = field(default_factory=free_port)
    temporal: Process | None = None
    sandbox: Process | None = None
    apis: list[Process] = field(default_factory=list)
    workers: list[Process] = field(default_factory=list)
    api_ports: list[int] = field(default_factory=list)
    worker_metrics_ports: list[int] = field(default_factory=list)
    _restarts: int = 0

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    def api_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.api_ports[index]}"

    def env(self, **extra: str) -> dict[str, str]:
        """What every edgewise process of the cluster shares (what the compose file's x-edgewise-env is)."""
        return child_env(
            {
                "EDGEWISE_DATA_DIR": str(self.root / "data"),
                "DATABASE_URL": self.database_url,
                "TEMPORAL_ADDRESS": self.temporal_address,
                "LINKEDIN_BASE_URL": self.sandbox_url,
                "EDGEWISE_ENCRYPTION_KEY": self.encryption_key,
                "EDGEWISE_SAFETY_PROFILE": "test",
                "ALLOW_PRIVATE_TARGETS": "true",
                "LOG_LEVEL": "INFO",
                **self.extra_env,
                **extra,
            }
        )

    # --- Temporal ------------------------------------------------------------------------------------

    def start_temporal(self) -> None:
        argv = [
            temporal_cli(), "server", "start-dev",
            "--ip", "127.0.0.1",
            "--port", str(self.temporal_port),
            "--headless",
            "--db-filename", str(self.root / "temporal.db"),
            "--log-level", "error",
            *DEV_SERVER_TUNING,
        ]
        for key in search_attributes.ALL:
            argv += ["--search-attribute", f"{key.name}={_SA_TYPES[int(key.indexed_value_type)]}"]
        self._restarts += 1
        self.temporal = Process(
            "temporal", argv, child_env({}), self.root / f"temporal-{self._restarts}.log"
        ).start()
        self.temporal.wait_until("Temporal's port", lambda: _port_answers(self.temporal_port), timeout=90)

    def restart_temporal(self) -> None:
        """Stop the dev server (SIGTERM, as an orchestrator would) and start it again on the same file."""
        assert self.temporal is not None
        self.temporal.stop(timeout=30)
        self.start_temporal()

    # --- the sandbox ----------------------------------------------------------------------------------

    def start_sandbox(self) -> None:
        args = ["-m", "linkedin.sandbox", "--host", "127.0.0.1", "--port", str(self.sandbox_port),
                "--state-dir", str(self.root / "sandbox")]
        self.sandbox = python_process("sandbox", args, child_env({}), self.root).start()
        self.sandbox.wait_until(
            "the sandbox's answer", lambda: _http_ok(f"{self.sandbox_url}/_sandbox/clock"), timeout=180
        )

    # --- edgewise -------------------------------------------------------------------------------------

    def start_api(self) -> Process:
        index = len(self.apis)
        port = free_port()
        self.api_ports.append(port)
        env = self.env(API_HOST="127.0.0.1", API_PORT=str(port), PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
        process = python_process(f"api-{index}", ["-m", "api"], env, self.root).start()
        self.apis.append(process)
        return process

    def start_worker(self, index: int | None = None) -> Process:
        """A new worker process (`index`: replace that worker, on the same metrics port)."""
        if index is None:
            index = len(self.workers)
            self.worker_metrics_ports.append(free_port())
            self.workers.append(self._worker_process(index))
        else:
            restarts = sum(1 for path in self.root.glob(f"worker-{index}-restart*.log")) + 1
            self.workers[index] = self._worker_process(index, generation=restarts)
        return self.workers[index].start()

    def _worker_process(self, index: int, generation: int = 0) -> Process:
        env = self.env(
            WORKER_METRICS_PORT=str(self.worker_metrics_ports[index]), WORKER_SHUTDOWN_GRACE_SECONDS="20"
        )
        name = f"worker-{index}" + (f"-restart{generation}" if generation else "")
        return python_process(name, ["worker.py"], env, self.root)

    def wait_ready(self, probe: str = "/readyz", timeout: float = 180) -> None:
        """Every API answers `probe` with 200 (/readyz: its database and Temporal are reachable) and every
        worker polls its task queues."""
        for index, api in enumerate(self.apis):
            answers = functools.partial(_http_ok, f"{self.api_url(index)}{probe}")
            api.wait_until(f"{probe} 200", answers, timeout)
        for worker in self.workers:
            worker.wait_for_output("worker started", timeout)

    def create_workspace(self, name: str) -> str:
        """The operator's way: `edgewise workspace create --json`; returns the admin's API key."""
        done = subprocess.run(
            [sys.executable, "-m", "edgewise.cli", "workspace", "create", "--name", name,
             "--admin-email", "ops@cluster.test", "--json"],
            cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return str(json.loads(done.stdout.strip().splitlines()[-1])["api_key"])

    def processes(self) -> list[Process]:
        return [p for p in (self.temporal, self.sandbox, *self.apis, *self.workers) if p is not None]

    def logs(self) -> str:
        """Every edgewise process's output so far (killed and replaced ones too)."""
        return "\n".join(path.read_text(errors="replace") for path in sorted(self.root.glob("*.log")))

    def edgewise_logs(self) -> str:
        """The output of every API and worker process (killed and replaced ones too)."""
        names = [p for p in sorted(self.root.glob("*.log")) if p.name.startswith(("api-", "worker-"))]
        return "\n".join(path.read_text(errors="replace") for path in names)

    def stop(self) -> None:
        for process in [*self.apis, *self.workers, self.sandbox, self.temporal]:
            if process is not None:
                process.stop()


def new_encryption_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@contextmanager
def running_stack(
    root: Path, *, apis: int, workers: int, temporal: bool = True, extra_env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """The whole topology, ready (every API answers /readyz, every worker polls); stopped afterwards."""
    with fresh_database(root, postgres_base_url()) as database_url:
        stack = Stack(root, database_url, new_encryption_key(), extra_env=dict(extra_env or {}))
        try:
            if temporal:
                stack.start_temporal()
                stack.start_sandbox()
            # Every API and worker at once, on a database nobody migrated yet: migrations run once, under
            # PostgreSQL's advisory lock (db/migrate.py), while the others wait.
            for _ in range(apis):
                stack.start_api()
            for _ in range(workers):
                stack.start_worker()
            stack.wait_ready("/readyz" if temporal else "/healthz")
            yield stack
        finally:
            stack.stop()
