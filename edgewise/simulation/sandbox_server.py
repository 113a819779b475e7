"""A private LinkedIn sandbox for one simulation: a fresh world in a temporary directory, served over real
HTTP on a free loopback port from a thread of this process.

Private because the simulation moves the sandbox's clock weeks ahead and fills accounts' outboxes: a shared
sandbox (`make dev`'s, the test session's) must never see that. In-process because the simulation holds its
clock: frozen at each simulated instant, every write is stamped exactly then, whatever the machine's load
(and setting it costs no request).
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from linkedin.sandbox.app import create_app
from linkedin.sandbox.clock import Clock


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class PrivateSandbox:
    url: str
    clock: Clock  # the sandbox's own clock object (`freeze` it at the simulated instant)


@contextmanager
def private_sandbox(seed: int = 7) -> Iterator[PrivateSandbox]:
    """A fresh sandbox, stopped and its state deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="edgewise-simulation-") as state_dir:
        port = _free_port()
        app = create_app(state_dir=Path(state_dir), seed=seed)
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"sandbox:{port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the simulation's sandbox did not start on port {port}")
            time.sleep(0.02)
        try:
            yield PrivateSandbox(f"http://127.0.0.1:{port}", app.state.sandbox.clock)
        finally:
            server.should_exit = True
            thread.join(timeout=15)
