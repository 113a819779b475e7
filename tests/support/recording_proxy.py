"""A real HTTP forward proxy on loopback (PyPI `proxy.py`) that records what passed through it.

Started as its own process (`python -m proxy`) with tests/support/proxy_plugin.py; stopped afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RecordingProxy:
    url: str
    record: Path

    def requests(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines() if line.strip()]


@contextmanager
def recording_proxy(workdir: Path, name: str, hosts: dict[str, str]) -> Iterator[RecordingProxy]:
    """A proxy on 127.0.0.1 (a free port) resolving `hosts` itself; its requests are in `.requests()`."""
    workdir.mkdir(parents=True, exist_ok=True)
    port_file, record, log = workdir / f"{name}.port", workdir / f"{name}.jsonl", workdir / f"{name}.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "EDGEWISE_PROXY_RECORD": str(record),
        "EDGEWISE_PROXY_HOSTS": ",".join(f"{k}={v}" for k, v in hosts.items()),
    }
    command = [
        *(sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0"),
        *("--port-file", str(port_file), "--num-acceptors", "1", "--num-workers", "1"),
        *("--plugins", "tests.support.proxy_plugin.RecordingPlugin"),
    ]
    with open(log, "wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None:
                raise RuntimeError(f"proxy.py exited early; see {log}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"proxy.py did not start; see {log}")
            time.sleep(0.05)
        yield RecordingProxy(url=f"http://127.0.0.1:{int(port_file.read_text())}", record=record)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
