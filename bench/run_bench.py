"""`make bench`: live-call latency and async throughput of edgewise, through the real stack.

One run starts the `make dev` runner (`python -m edgewise.dev`) as a subprocess in a temporary data
directory on free ports, with `EDGEWISE_SAFETY_PROFILE=unlimited` and the sandbox's tolerances off, then

(a) live latency: `linkedin-extract-people` live calls, sequential (a warm-up, then `--live-calls` timed
    calls), interleaved call for call with the same adapter call made directly
    (`HttpLinkedInAdapter.get_profile` against the same sandbox, no API, no Temporal). Overhead at a
    percentile = platform minus direct at that percentile. The `Server-Timing` header of every live
    answer says where the platform's time goes.
(b) async throughput: one async run of `--async-inputs` distinct profile URLs over `--identities`
    identities (one sandbox account each), from its 202 until the run is SUCCEEDED, with the worker
    process's peak RSS and CPU seconds per 1,000 inputs.

It prints a report with the targets (PASS/MISS), writes it as JSON to .data/bench/latest.json, and stops
every process it started (SIGINT to the runner). Exit code 0 when the bench ran, whatever the figures;
1 when it could not run (the runner did not start, calls failed, …).

    .venv/bin/python bench/run_bench.py [--live-calls 300] [--async-inputs 10000] [--identities 10]
                                        [--database-url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a plain script: bench/ is not a package
    sys.path.insert(0, str(ROOT))

from edgewise.config import Settings  # noqa: E402
from linkedin.http_adapter import close_pools, http_adapter_factory  # noqa: E402
from linkedin.protocol import SessionCookies  # noqa: E402

ACTION = "linkedin-extract-people"
RESULT_PATH = ROOT / ".data" / "bench" / "latest.json"
PROFILE_DIR = ROOT / ".data" / "bench" / "profiles"

TARGET_LIVE_OVERHEAD_P50_MS = 50.0
TARGET_LIVE_OVERHEAD_P99_MS = 120.0
TARGET_ASYNC_INPUTS_PER_S = 300.0

# Bounds, so that a broken stack cannot hold `make bench` for long (normal total: 2–3 minutes).
READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 0.5
SAMPLE_INTERVAL_S = 0.2
TERMINAL = ("SUCCEEDED", "FAILED", "PARTIAL_SUCCEEDED")
# Variables of the caller's shell that would point the runner elsewhere than its own children.
_SCRUBBED = (
    "DATABASE_URL", "TEMPORAL_ADDRESS", "LINKEDIN_BASE_URL", "EDGEWISE_ENCRYPTION_KEY", "PUBLIC_BASE_URL",
    "EDGEWISE_DATA_DIR", "API_PORT", "SANDBOX_PORT", "TEMPORAL_PORT", "TEMPORAL_UI_PORT",
    "EDGEWISE_SAFETY_PROFILE",
)
# API phases of Server-Timing (their sum is the API's own account of a call) and the worker's.
API_PHASES = ("permit", "db", "start", "workflow")


class BenchError(Exception):
    """The bench could not run (as opposed to: it ran and a figure missed its target)."""


def say(text: str = "") -> None:
    print(text, flush=True)


# --------------------------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "mean": math.nan, "p50": math.nan, "p90": math.nan, "p99": math.nan, "max": math.nan}
    return {
        "n": len(values),
        "mean": statistics.fmean(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values),
    }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# --------------------------------------------------------------------------------------------- the stack


def free_ports(count: int) -> list[int]:
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


@dataclass
class Stack:
    """The dev runner subprocess and what it printed."""

    data_dir: Path
    database_url: str | None
    proc: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    api_url: str = ""
    sandbox_url: str = ""
    key: str = ""
    log_path: Path | None = None

    def start(self) -> None:
        api, sandbox, temporal, ui = free_ports(4)
        self.api_url = f"http://127.0.0.1:{api}"
        self.sandbox_url = f"http://127.0.0.1:{sandbox}"
        env = {k: v for k, v in os.environ.items() if k.upper() not in _SCRUBBED}
        env.update(
            {
                "EDGEWISE_DATA_DIR": str(self.data_dir),
                "API_PORT": str(api),
                "SANDBOX_PORT": str(sandbox),
                "TEMPORAL_PORT": str(temporal),
                "TEMPORAL_UI_PORT": str(ui),
                "EDGEWISE_SAFETY_PROFILE": "unlimited",
                "NO_COLOR": "1",
            }
        )
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / "bench-runner.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgewise.dev"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # our SIGINT reaches the runner only; it stops its children in order
        )
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self.ready.wait(0.5):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(
                    f"the dev runner did not get ready (exit code {self.proc.poll()}):\n{self.tail(40)}"
                )
        time.sleep(0.5)  # let the banner finish
        for line in self.lines:
            match = re.search(r"API key\s+(\S+)", line)
            if match:
                self.key = match.group(1)
                break
        if not self.key:
            raise BenchError(f"the dev runner printed no API key:\n{self.tail(40)}")

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None and self.log_path is not None
        with self.log_path.open("w", encoding="utf-8") as log:
            for line in self.proc.stdout:
                log.write(line)
                self.lines.append(line.rstrip("\n"))
                if len(self.lines) > 5000:
                    del self.lines[:1000]
                if "edgewise dev is ready" in line:
                    self.ready.set()

    def tail(self, n: int) -> str:
        return "\n".join(self.lines[-n:])

    def child_pids(self) -> dict[str, int]:
        """The runner's children by role, found among its child processes (psutil)."""
        assert self.proc is not None
        found: dict[str, int] = {}
        try:
            children = psutil.Process(self.proc.pid).children(recursive=False)
        except psutil.NoSuchProcess:
            return found
        for child in children:
            try:
                cmd = " ".join(child.cmdline())
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if "worker.py" in cmd:
                found["worker"] = child.pid
            elif "-m api" in cmd:
                found["api"] = child.pid
            elif "linkedin.sandbox" in cmd:
                found["sandbox"] = child.pid
            elif "start-dev" in cmd:
                found["temporal"] = child.pid
        return found

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        pids = self.child_pids()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                say("  the runner did not stop in time; killing what it started")
                for pid in pids.values():
                    try:
                        os.killpg(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


# --------------------------------------------------------------------------------------------- API helpers


class Api:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.client = httpx.Client(timeout=60, headers={"X-API-Key": stack.key})
        self.sandbox = httpx.Client(base_url=stack.sandbox_url, timeout=60)

    def close(self) -> None:
        self.client.close()
        self.sandbox.close()

    def url(self, path: str) -> str:
        return self.stack.api_url + path

    def expect(self, response: httpx.Response, *codes: int) -> Any:
        if response.status_code not in codes:
            raise BenchError(
                f"{response.request.method} {response.request.url.path} → {response.status_code}: "
                f"{response.text[:500]}"
            )
        return response.json() if response.content else None

    def accounts(self, needed: int) -> list[dict[str, Any]]:
        accounts = self.expect(self.sandbox.get("/_sandbox/accounts"), 200)
        usable = [
            a for a in accounts
            if a["level"] == "classic" and a["login"] == "none" and a["status"] == "active"
        ]
        if len(usable) < needed:
            raise BenchError(f"the sandbox has {len(usable)} usable classic accounts; {needed} needed")
        return usable[:needed]

    def session(self, account_id: int | str) -> dict[str, str]:
        return self.expect(self.sandbox.post(f"/_sandbox/accounts/{account_id}/sessions"), 200, 201)  # type: ignore[no-any-return]

    def connected_identity(self, name: str, account_id: int | str) -> str:
        identity = self.expect(self.client.post(self.url("/v1/identities"), json={"name": name}), 201)
        cookies = self.session(account_id)
        self.expect(
            self.client.post(
                self.url(f"/v1/identities/{identity['uid']}/integrations/linkedin"),
                json={"auth_data": {"cookies": cookies}},
            ),
            200,
            201,
        )
        return str(identity["uid"])


def parse_server_timing(header: str) -> dict[str, float]:
    phases: dict[str, float] = {}
    for part in header.split(","):
        name, _, rest = part.strip().partition(";")
        match = re.search(r"dur=([0-9.]+)", rest)
        if name and match:
            phases[name.strip()] = float(match.group(1))
    return phases


# --------------------------------------------------------------------------------------------- profiling


class Profiler:
    """`--profile`: py-spy records the given processes (raw collapsed stacks, CPU samples only) until
    stopped; `top()` summarises where their CPU went."""

    def __init__(self, out_dir: Path, label: str, pids: dict[str, int], enabled: bool) -> None:
        self.out_dir, self.label, self.pids, self.enabled = out_dir, label, pids, enabled
        self.procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}

    def __enter__(self) -> Profiler:
        if not self.enabled:
            return self
        exe = Path(sys.executable).parent / "py-spy"
        spy = str(exe) if exe.exists() else shutil.which("py-spy")
        if spy is None:
            raise BenchError("--profile needs py-spy (pip install py-spy)")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            path = self.out_dir / f"{self.label}-{name}.txt"
            proc = subprocess.Popen(
                [spy, "record", "-p", str(pid), "-o", str(path), "--format", "raw", "-r", "200",
                 "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            self.procs[name] = (proc, path)
        time.sleep(1.0)  # py-spy attaches
        return self

    def __exit__(self, *exc: object) -> None:
        for proc, _ in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc, _ in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    def top(self, n: int = 15) -> dict[str, Any]:
        """Per process: samples, and the frames (function, file) with the most inclusive and self samples."""
        out: dict[str, Any] = {}
        for name, (_, path) in self.procs.items():
            if not path.exists():
                continue
            inclusive: dict[str, int] = {}
            leaf: dict[str, int] = {}
            total = 0
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                stack, _, count_text = line.rpartition(" ")
                if not count_text.isdigit():
                    continue
                count = int(count_text)
                total += count
                frames = [_frame(f) for f in stack.split(";") if f and not f.startswith("process ")
                          and not f.startswith("thread ")]
                for frame in set(frames):
                    inclusive[frame] = inclusive.get(frame, 0) + count
                if frames:
                    leaf[frames[-1]] = leaf.get(frames[-1], 0) + count
            out[name] = {
                "samples": total,
                "file": str(path),
                "inclusive": sorted(inclusive.items(), key=lambda kv: -kv[1])[:n * 3],
                "self": sorted(leaf.items(), key=lambda kv: -kv[1])[:n],
            }
        return out


def _frame(text: str) -> str:
    """`func (path/to/file.py:123)` → `func (to/file.py)`: frames without line numbers, short paths."""
    match = re.match(r"^(.*?) \((.*?)(?::\d+)?\)$", text.strip())
    if not match:
        return text.strip()
    func, path = match.groups()
    for marker in ("site-packages/", f"{ROOT}/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{func} ({path})"


# --------------------------------------------------------------------------------------------- (a) live


async def live_bench(
    stack: Stack, api: Api, people: list[dict[str, Any]], live_identity: str, direct_account: Any,
    calls: int, warmup: int, budget_s: float,
) -> dict[str, Any]:
    """Sequential calls, each live call right after the direct call on the same profile; stops early (and
    says so) when the phase would take longer than budget_s."""
    settings = Settings.model_validate({"LINKEDIN_BASE_URL": stack.sandbox_url})
    raw = api.session(direct_account)
    cookies = SessionCookies(li_at=raw["li_at"], jsessionid=raw["JSESSIONID"])

    async def on_rotate(fresh: SessionCookies) -> None:
        nonlocal cookies
        cookies = fresh

    adapter = http_adapter_factory(settings)(cookies, on_rotate)
    total = warmup + calls
    if len(people) < total:
        raise BenchError(f"{total} distinct people needed for the live calls, the sandbox has {len(people)}")
    direct_ms: list[float] = []
    platform_ms: list[float] = []
    timings: list[dict[str, float]] = []
    rate_limited = 0
    errors: list[str] = []
    url = f"{stack.api_url}/v1/actions/{ACTION}/run/live"
    # CPU per timed call, by process (not started: no sampling thread needed).
    meter = Sampler(stack.child_pids(), stack.database_url)
    cpu_before: dict[str, float] = {}
    timed_started = time.perf_counter()
    deadline = time.monotonic() + budget_s
    stopped_early = False
    async with httpx.AsyncClient(timeout=90, headers={"X-API-Key": stack.key}) as client:
        for i in range(total):
            if time.monotonic() > deadline:
                stopped_early = True
                break
            if i == warmup:
                cpu_before, timed_started = meter.cpu(), time.perf_counter()
                busy_before, own_before = machine_busy_s(), own_cpu_s()
            person = people[i]
            started = time.perf_counter()
            record = await adapter.get_profile(person["public_identifier"])
            direct = (time.perf_counter() - started) * 1000
            if not record.get("linkedin_profile_url"):
                raise BenchError(f"the direct call returned no profile for {person['public_identifier']!r}")
            body = {"input": {"linkedin_profile_url": person["linkedin_profile_url"]},
                    "identity_ids": [live_identity]}
            while True:
                started = time.perf_counter()
                response = await client.post(url, json=body)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code == 429 and response.json().get("error_label") == "RATE_LIMITED":
                    # The workspace's API rate limit: wait as told, then the same call again.
                    rate_limited += 1
                    await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                    continue
                break
            if response.status_code != 200:
                errors.append(f"{response.status_code}: {response.text[:200]}")
                if len(errors) > 10:
                    raise BenchError("more than 10 live calls failed:\n" + "\n".join(errors))
                continue
            if i < warmup:
                continue
            direct_ms.append(direct)
            platform_ms.append(elapsed)
            phases = parse_server_timing(response.headers.get("server-timing", ""))
            phases["total"] = elapsed
            timings.append(phases)
    timed_seconds = time.perf_counter() - timed_started
    cpu_after = meter.cpu()
    machine = contention(
        busy_before, own_before, {k: cpu_after[k] - cpu_before.get(k, math.nan) for k in cpu_after},
        timed_seconds, machine_busy_s(), own_cpu_s(),
    )
    await close_pools()
    n_timed = max(len(platform_ms), 1)
    cpu_ms_per_call = {name: 1000 * (cpu_after[name] - cpu_before.get(name, math.nan)) / n_timed
                       for name in cpu_after}

    def mean_of(name: str) -> float:
        values = [t.get(name, 0.0) for t in timings]
        return statistics.fmean(values) if values else math.nan

    def per_call(fn: Any) -> list[float]:
        return [fn(t) for t in timings]

    api_rest = per_call(lambda t: t["total"] - sum(t.get(p, 0.0) for p in API_PHASES))
    activity_other = per_call(
        lambda t: t.get("activity", 0.0) - t.get("linkedin", 0.0) - t.get("activity_db", 0.0)
    )
    breakdown = {
        "api_rest": statistics.fmean(api_rest) if api_rest else math.nan,
        "permit": mean_of("permit"),
        "db": mean_of("db"),
        "start": mean_of("start"),
        "dispatch": mean_of("dispatch"),
        "activity_db": mean_of("activity_db"),
        "activity_other": statistics.fmean(activity_other) if activity_other else math.nan,
        "linkedin": mean_of("linkedin"),
    }
    phase_stats = {
        name: summary([t.get(name, 0.0) for t in timings])
        for name in ("permit", "db", "start", "workflow", "activity", "linkedin", "activity_db", "dispatch")
    }
    phase_stats["api_rest"] = summary(api_rest)
    phase_stats["activity_other"] = summary(activity_other)
    platform_s, direct_s = summary(platform_ms), summary(direct_ms)
    overhead = {
        "p50": platform_s["p50"] - direct_s["p50"],
        "p99": platform_s["p99"] - direct_s["p99"],
        "mean": platform_s["mean"] - direct_s["mean"],
    }
    if not platform_ms:
        raise BenchError(f"no live call finished within {budget_s:.0f}s")
    return {
        "calls": len(platform_ms),
        "calls_requested": calls,
        "stopped_early": stopped_early,
        "warmup": warmup,
        "errors": errors,
        "rate_limited_retries": rate_limited,
        "platform_ms": platform_s,
        "direct_ms": direct_s,
        "overhead_ms": overhead,
        "breakdown_mean_ms": breakdown,
        "phases_ms": phase_stats,
        "cpu_ms_per_call": cpu_ms_per_call,
        "machine": machine,
        "timed_seconds": timed_seconds,
        "samples_ms": {"platform": platform_ms, "direct": direct_ms},
        "targets": {
            "overhead_p50_ms": TARGET_LIVE_OVERHEAD_P50_MS,
            "overhead_p99_ms": TARGET_LIVE_OVERHEAD_P99_MS,
            "p50": verdict(overhead["p50"] <= TARGET_LIVE_OVERHEAD_P50_MS),
            "p99": verdict(overhead["p99"] <= TARGET_LIVE_OVERHEAD_P99_MS),
        },
    }


# --------------------------------------------------------------------------------------------- (b) async


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores), for telling our load from others'."""
    times = psutil.cpu_times()
    return float(sum(getattr(times, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq")))


def own_cpu_s() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def contention(busy_before: float, own_before: float, ours: dict[str, float], seconds: float,
               busy_after: float, own_after: float) -> dict[str, float]:
    """CPU the machine spent on other processes than the stack's and the bench's, during a phase."""
    ours_s = sum(v for v in ours.values() if not math.isnan(v)) + (own_after - own_before)
    others = max(busy_after - busy_before - ours_s, 0.0)
    cores = psutil.cpu_count() or 1
    return {
        "stack_and_bench_cpu_s": ours_s,
        "other_processes_cpu_s": others,
        "other_processes_pct_of_machine": 100.0 * others / max(seconds * cores, 1e-9),
        "loadavg_1m": os.getloadavg()[0],
    }


def _postgres_db_name(database_url: str | None) -> str | None:
    if not database_url or not database_url.startswith("postgres"):
        return None
    from sqlalchemy.engine import make_url

    return make_url(database_url).database or None


def _postgres_backends_cpu(db_name: str) -> float:
    """CPU seconds of the live PostgreSQL backends connected to db_name (approximate: a backend that exits
    during a phase takes its CPU with it; backends are pooled, so few do)."""
    total = 0.0
    for proc in psutil.process_iter(["cmdline", "cpu_times"]):
        cmdline = proc.info.get("cmdline") or []
        text = " ".join(cmdline)
        if text.startswith("postgres:") and f" {db_name} " in f"{text} ":
            times = proc.info.get("cpu_times")
            if times is not None:
                total += times.user + times.system
    return total


class Sampler:
    """Samples processes every SAMPLE_INTERVAL_S: RSS and CPU time (user + system)."""

    def __init__(self, pids: dict[str, int], database_url: str | None = None) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        # On PostgreSQL, the server's backends serving the bench's database count as the stack's too.
        self.db_name = _postgres_db_name(database_url)
        self.peak_rss = dict.fromkeys(self.procs, 0)
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def cpu(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, proc in self.procs.items():
            try:
                times = proc.cpu_times()
                out[name] = times.user + times.system
            except psutil.NoSuchProcess:
                out[name] = math.nan
        if self.db_name:
            out["postgres"] = _postgres_backends_cpu(self.db_name)
        return out

    def _loop(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            row: dict[str, Any] = {"t": round(time.monotonic() - started, 2)}
            for name, proc in self.procs.items():
                try:
                    with proc.oneshot():
                        rss = proc.memory_info().rss
                        times = proc.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                self.peak_rss[name] = max(self.peak_rss[name], rss)
                row[name] = {"rss_mb": round(rss / 2**20, 1), "cpu_s": round(times.user + times.system, 2)}
            self.samples.append(row)
            self._stop.wait(SAMPLE_INTERVAL_S)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def async_bench(
    stack: Stack, api: Api, people: list[dict[str, Any]], identity_ids: list[str], n_inputs: int,
    timeout_s: float,
) -> dict[str, Any]:
    urls = list(dict.fromkeys(p["linkedin_profile_url"] for p in people))[:n_inputs]
    if len(urls) < n_inputs:
        say(f"  note: the sandbox has {len(urls)} distinct people; the run gets {len(urls)} inputs")
    body = {"inputs": [{"linkedin_profile_url": u} for u in urls], "identity_ids": identity_ids,
            "label": "bench"}
    payload = json.dumps(body).encode()
    pids = stack.child_pids()
    if "worker" not in pids:
        raise BenchError(f"no worker among the runner's children: {pids}")
    sampler = Sampler(pids, stack.database_url)
    sampler.start()
    time.sleep(2 * SAMPLE_INTERVAL_S)
    rss_before = sampler.samples[-1].get("worker", {}).get("rss_mb") if sampler.samples else None
    cpu_before = sampler.cpu()
    busy_before, own_before = machine_busy_s(), own_cpu_s()
    posted = time.perf_counter()
    response = api.client.post(
        api.url(f"/v1/actions/{ACTION}/run/async"), content=payload,
        headers={"Content-Type": "application/json"},
    )
    accepted = time.perf_counter()
    run = api.expect(response, 202)
    cpu_at_202 = sampler.cpu()
    run_uid = run["uid"]
    status: dict[str, Any] = {}
    timeline: list[tuple[float, int]] = []
    deadline = accepted + timeout_s
    finished: float | None = None
    try:
        while True:
            time.sleep(POLL_INTERVAL_S)
            status = api.expect(api.client.get(api.url(f"/v1/runs/{run_uid}/status")), 200)
            now = time.perf_counter()
            timeline.append((round(now - accepted, 2), int(status.get("inputs_done") or 0)))
            if status["status"] in TERMINAL:
                finished = now
                break
            if now > deadline:
                break
    finally:
        cpu_after = sampler.cpu()
        busy_after, own_after = machine_busy_s(), own_cpu_s()
        sampler.stop()
    end = finished if finished is not None else time.perf_counter()
    elapsed = end - accepted
    done = int(status.get("inputs_done") or 0)
    inputs = len(urls)
    rate = (inputs if finished is not None else done) / elapsed if elapsed > 0 else math.nan
    cpu = {name: cpu_after[name] - cpu_before[name] for name in cpu_after}
    worker_cpu = cpu.get("worker", math.nan)
    result: dict[str, Any] = {
        "run_uid": run_uid,
        "inputs": inputs,
        "inputs_requested": n_inputs,
        "identities": len(identity_ids),
        "status": status.get("status"),
        "inputs_done": done,
        "output_count": status.get("output_count"),
        "finished": finished is not None,
        "post_seconds": accepted - posted,
        "seconds": elapsed,
        "inputs_per_s": rate,
        "worker_pid": pids["worker"],
        "worker_rss_mb_before": rss_before,
        "worker_peak_rss_mb": sampler.peak_rss.get("worker", 0) / 2**20,
        "worker_cpu_s": worker_cpu,
        "worker_cpu_s_during_post": cpu_at_202.get("worker", math.nan) - cpu_before.get("worker", math.nan),
        "worker_cpu_s_per_1000_inputs": worker_cpu / (max(done, 1) / 1000.0),
        "cpu_s_by_process": cpu,
        "machine": contention(busy_before, own_before, cpu, time.perf_counter() - posted, busy_after,
                              own_after),
        "peak_rss_mb_by_process": {k: v / 2**20 for k, v in sampler.peak_rss.items()},
        "progress": timeline,
        "target_inputs_per_s": TARGET_ASYNC_INPUTS_PER_S,
        "verdict": verdict(finished is not None and status.get("status") == "SUCCEEDED"
                           and rate >= TARGET_ASYNC_INPUTS_PER_S),
    }
    if finished is None:
        result["note"] = f"not finished after {timeout_s:.0f}s; the rate is inputs_done / elapsed"
    return result


# --------------------------------------------------------------------------------------------- report


def _f(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def print_report(result: dict[str, Any]) -> None:
    env = result["environment"]
    say()
    say("=" * 94)
    say(f"edgewise bench — {result['started_at']}  git {env['git']}  {env['cpus']} CPUs  "
        f"database: {env['database']}")
    say("=" * 94)
    live = result.get("live")
    if live:
        p, d, o = live["platform_ms"], live["direct_ms"], live["overhead_ms"]
        t = live["targets"]
        say(f"(a) LIVE {ACTION}: {live['calls']} sequential calls after {live['warmup']} warm-up, "
            "sandbox latency 0, tolerances off")
        say(f"    {'':34} {'p50':>8} {'p90':>8} {'p99':>8} {'mean':>8} {'max':>8}   (ms)")
        for label, s in (("platform (POST …/run/live)", p), ("direct (adapter.get_profile)", d)):
            say(f"    {label:34} {_f(s['p50']):>8} {_f(s['p90']):>8} {_f(s['p99']):>8} {_f(s['mean']):>8} "
                f"{_f(s['max']):>8}")
        say(f"    {'overhead (platform − direct)':34} {_f(o['p50']):>8} {'':>8} {_f(o['p99']):>8} "
            f"{_f(o['mean']):>8}")
        say(f"    target overhead p50 ≤ {t['overhead_p50_ms']:.0f} ms: {_f(o['p50'])} ms  {t['p50']}")
        say(f"    target overhead p99 ≤ {t['overhead_p99_ms']:.0f} ms: {_f(o['p99'])} ms  {t['p99']}")
        if live["stopped_early"]:
            say(f"    STOPPED EARLY: only {live['calls']} of {live['calls_requested']} calls within the "
                "phase's time budget (--live-budget)")
        if live["errors"] or live["rate_limited_retries"]:
            say(f"    failed calls: {len(live['errors'])}; "
                f"RATE_LIMITED retries: {live['rate_limited_retries']}")
        b = live["breakdown_mean_ms"]
        ph = live["phases_ms"]
        say("    where a live call's time goes (means from Server-Timing; p99 per phase):")
        rows = (
            ("API-side rest (total − API phases)", "api_rest"),
            ("permit (account lease)", "permit"),
            ("db (run rows in, results out)", "db"),
            ("workflow start", "start"),
            ("task dispatch (workflow − activity)", "dispatch"),
            ("activity db", "activity_db"),
            ("activity other (− linkedin − db)", "activity_other"),
            ("linkedin (adapter HTTP in the activity)", "linkedin"),
        )
        for label, key in rows:
            say(f"      {label:40} {_f(b[key]):>8} ms   p99 {_f(ph[key]['p99']):>8} ms")
        say(f"      {'= client-observed total':40} {_f(p['mean']):>8} ms")
        say(f"      {'   of which direct adapter call':40} {_f(d['mean']):>8} ms  "
            f"(activity's linkedin − direct: {_f(b['linkedin'] - d['mean'])} ms)")
        cpu = live["cpu_ms_per_call"]
        wall = 1000 * live["timed_seconds"] / max(live["calls"], 1)
        say("    CPU per live call (ms): " + ", ".join(
            f"{name} {_f(cpu[name])}" for name in ("api", "worker", "temporal", "sandbox", "postgres")
            if name in cpu
        ) + f"; sum {_f(sum(cpu.values()))} ms per {_f(wall)} ms of wall time (incl. the direct call)")
        say("    " + contention_line(live["machine"]))
        if live.get("profile"):
            print_profile(live["profile"])
    a = result.get("async")
    if a:
        say()
        short = (f" ({a['inputs_requested']} requested; GET /_sandbox/people has only {a['inputs']} distinct "
                 "people)" if a["inputs"] < a["inputs_requested"] else "")
        say(f"(b) ASYNC {ACTION}: one run of {a['inputs']} inputs over {a['identities']} identities{short}")
        say(f"    status {a['status']}: {a['inputs_done']}/{a['inputs']} inputs done, "
            f"{a['output_count']} outputs, in {_f(a['seconds'], 2)} s from the 202 "
            f"(the POST itself took {_f(a['post_seconds'], 2)} s)")
        say(f"    throughput {_f(a['inputs_per_s'])} inputs/s — target ≥ {a['target_inputs_per_s']:.0f}: "
            f"{a['verdict']}")
        say(f"    worker (pid {a['worker_pid']}): peak RSS {_f(a['worker_peak_rss_mb'])} MB "
            f"(before the run {_f(a['worker_rss_mb_before'])} MB), CPU {_f(a['worker_cpu_s'], 2)} s = "
            f"{_f(a['worker_cpu_s_per_1000_inputs'], 2)} CPU-s per 1,000 inputs")
        cpu = a["cpu_s_by_process"]
        used = " ".join(
            f"{name} {_f(cpu[name], 1)}s ({_f(100 * cpu[name] / a['seconds'], 0)}% of a core)"
            for name in ("worker", "api", "temporal", "sandbox", "postgres") if name in cpu
        )
        say(f"    CPU during the run: {used}")
        say("    " + contention_line(a["machine"]))
        if a.get("profile"):
            print_profile(a["profile"])
        if a.get("note"):
            say(f"    note: {a['note']}")
    say()
    say(f"total bench time {_f(result['bench_seconds'], 0)} s; JSON: {result['json_path']}")
    say("=" * 94)


# --------------------------------------------------------------------------------------------- main


def _profiled(stack: Stack) -> dict[str, int]:
    pids = stack.child_pids()
    return {name: pids[name] for name in ("worker", "api") if name in pids}


def contention_line(machine: dict[str, float]) -> str:
    pct = machine["other_processes_pct_of_machine"]
    line = (f"other processes on this machine used {_f(pct, 0)}% of its CPU meanwhile "
            f"(load average {_f(machine['loadavg_1m'], 2)})")
    if pct > 10:
        line += " — CONTENDED: these figures are pessimistic; rerun on a quiet machine"
    return line


def print_profile(profile: dict[str, Any]) -> None:
    for name, prof in profile.items():
        total = max(prof["samples"], 1)
        say(f"    py-spy {name}: {prof['samples']} CPU samples at 200 Hz ({prof['file']})")
        shown = [(f, c) for f, c in prof["inclusive"] if c / total < 0.97][:12]
        for frame, count in shown:
            say(f"      {100 * count / total:5.1f}% incl  {frame[:100]}")
        for frame, count in prof["self"][:6]:
            say(f"      {100 * count / total:5.1f}% self  {frame[:100]}")


def _git_rev() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--live-calls", type=int, default=300, help="timed live calls (default 300)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed live calls first (default 30)")
    parser.add_argument("--async-inputs", type=int, default=10_000, help="inputs of the async run (10000)")
    parser.add_argument("--identities", type=int, default=10, help="identities of the async run (10)")
    parser.add_argument("--live-budget", type=float, default=180.0,
                        help="seconds the live phase may take; fewer calls are reported beyond (180)")
    parser.add_argument("--async-timeout", type=float, default=240.0,
                        help="seconds the async run may take before it is reported unfinished (240)")
    parser.add_argument("--database-url", default=None,
                        help="run on this database (e.g. postgresql+psycopg://…); default: SQLite in the "
                             "temporary data directory")
    parser.add_argument("--skip-live", action="store_true", help="skip (a)")
    parser.add_argument("--skip-async", action="store_true", help="skip (b)")
    parser.add_argument("--profile", action="store_true",
                        help="record the worker and the API with py-spy during each phase (CPU samples) and "
                             "print where their CPU goes; files in .data/bench/profiles/")
    parser.add_argument("--keep-data", action="store_true", help="keep the temporary data directory")
    parser.add_argument("--output", type=Path, default=RESULT_PATH, help=f"JSON path (default {RESULT_PATH})")
    args = parser.parse_args(argv)

    bench_started = time.monotonic()
    data_dir = Path(tempfile.mkdtemp(prefix="edgewise-bench-"))
    stack = Stack(data_dir=data_dir, database_url=args.database_url)
    result: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                 if k != "database_url"},
        "environment": {
            "git": _git_rev(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "database": "postgresql" if args.database_url and args.database_url.startswith("postgres")
            else "sqlite",
        },
    }
    failed = False
    api: Api | None = None
    try:
        say(f"==> starting the dev runner in {data_dir} (safety profile unlimited; "
            f"{result['environment']['database']})")
        t0 = time.monotonic()
        stack.start()
        pids = stack.child_pids()
        say(f"    ready in {time.monotonic() - t0:.0f}s; API {stack.api_url}, sandbox {stack.sandbox_url}; "
            f"pids {pids}")
        api = Api(stack)
        api.expect(api.sandbox.put("/_sandbox/tolerances", json={"enabled": False}), 200)
        api.expect(api.sandbox.delete("/_sandbox/faults"), 200)  # no injected latency or errors
        limit = max(args.async_inputs, args.warmup + args.live_calls)
        people = api.expect(api.sandbox.get("/_sandbox/people", params={"limit": limit}), 200)
        say(f"    sandbox: tolerances off, no injected latency; {len(people)} people")
        accounts = api.accounts(args.identities + 2)
        if not args.skip_live:
            live_identity = api.connected_identity("Bench Live", accounts[0]["id"])
            say(f"==> (a) live: {args.warmup} warm-up + {args.live_calls} calls, each next to a direct "
                "adapter call")
            t0 = time.monotonic()
            with Profiler(PROFILE_DIR, "live", _profiled(stack), args.profile) as prof:
                result["live"] = asyncio.run(
                    live_bench(stack, api, people, live_identity, accounts[1]["id"], args.live_calls,
                               args.warmup, args.live_budget)
                )
            if args.profile:
                result["live"]["profile"] = prof.top()
            say(f"    done in {time.monotonic() - t0:.0f}s")
        if not args.skip_async:
            say(f"==> (b) async: connecting {args.identities} identities")
            identity_ids = [
                api.connected_identity(f"Bench Async {i + 1:02d}", account["id"])
                for i, account in enumerate(accounts[2:2 + args.identities])
            ]
            say(f"    one run of {args.async_inputs} inputs; polling its status every {POLL_INTERVAL_S}s")
            with Profiler(PROFILE_DIR, "async", _profiled(stack), args.profile) as prof:
                result["async"] = async_bench(stack, api, people, identity_ids, args.async_inputs,
                                              args.async_timeout)
            if args.profile:
                result["async"]["profile"] = prof.top()
    except (BenchError, httpx.HTTPError, psutil.Error) as exc:
        failed = True
        say(f"bench failed: {type(exc).__name__}: {exc}")
        say("last lines of the runner's output:\n" + stack.tail(25))
        result["error"] = f"{type(exc).__name__}: {exc}"
    except KeyboardInterrupt:
        failed = True
        say("interrupted")
        result["error"] = "interrupted"
    finally:
        if api is not None:
            api.close()
        say("==> stopping the dev runner (SIGINT)")
        code = stack.stop()
        say(f"    runner exited with {code}")
        if failed and stack.log_path is not None:
            say(f"    runner log: {stack.log_path}; children's logs: {data_dir / 'logs'}")
    result["bench_seconds"] = time.monotonic() - bench_started
    output: Path = args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    result["json_path"] = str(output)
    output.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    if "live" in result or "async" in result:
        print_report(result)
    if not failed and not args.keep_data:
        shutil.rmtree(data_dir, ignore_errors=True)
    elif args.keep_data:
        say(f"data kept in {data_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
