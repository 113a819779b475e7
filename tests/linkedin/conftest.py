"""Fixtures for the sandbox and the HTTP adapter, over real HTTP.

These tests run their own sandbox (not the session-wide `sandbox_url` one): they move its clock, switch
its tolerances and inject faults, which must not disturb other suites. Each test takes accounts no other
test in this package used, so tests stay independent without resets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from linkedin.protocol import SessionCookies
from linkedin.sandbox.app import create_app
from tests.linkedin.helpers import SandboxControl, Session, adapter_for, fresh_cookies
from tests.support.servers import serve_in_thread


@pytest.fixture(scope="package")
def sandbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("linkedin-sandbox")


@pytest.fixture(scope="package")
def base_url(sandbox_dir: Path) -> Iterator[str]:
    with serve_in_thread(create_app(state_dir=sandbox_dir)) as url:
        yield url


@pytest.fixture(scope="package")
def control(base_url: str) -> Iterator[SandboxControl]:
    """The sandbox's control API (it stands in for LinkedIn and for the people on the other side)."""
    client = SandboxControl(base_url)
    yield client
    client.close()


class Accounts:
    """Hands out accounts no other test of this package has used."""

    def __init__(self, accounts: list[dict[str, Any]]):
        self._free = list(accounts)

    def take(self, level: str = "classic", login: str = "none") -> dict[str, Any]:
        for index, account in enumerate(self._free):
            if account["level"] == level and account["login"] == login:
                return self._free.pop(index)
        raise RuntimeError(f"no unused sandbox account left (level={level}, login={login})")


@pytest.fixture(scope="package")
def accounts(control: SandboxControl) -> Accounts:
    return Accounts(control.get("/_sandbox/accounts").json())


SessionFactory = Callable[..., Session]


@pytest.fixture
def login(base_url: str, control: SandboxControl, accounts: Accounts) -> SessionFactory:
    """`login(level="classic")` → a Session on an unused account."""

    def make(level: str = "classic", login: str = "none") -> Session:
        account = accounts.take(level, login)
        persisted: list[SessionCookies] = []
        adapter = adapter_for(base_url, fresh_cookies(control, account["id"]), persisted)
        return Session(account=account, adapter=adapter, persisted=persisted)

    return make
