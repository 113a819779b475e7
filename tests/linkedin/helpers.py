"""Helpers for the sandbox and adapter tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from linkedin.http_adapter import HttpLinkedInAdapter
from linkedin.protocol import AdapterConfig, SessionCookies


class SandboxControl:
    """A small synchronous client of the sandbox's control API (it plays LinkedIn and the other side).

    Synchronous on purpose: the sandbox serves from its own thread, so a blocking call from an async test
    only waits for it.
    """

    def __init__(self, base_url: str):
        self._http = httpx.Client(base_url=base_url, timeout=30)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SandboxControl:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self._http.get(path, params=params or None)

    def put(self, path: str, json: Any) -> httpx.Response:
        return self._http.put(path, json=json)

    def post(self, path: str, json: Any = None) -> httpx.Response:
        return self._http.post(path, json=json)

    def delete(self, path: str) -> httpx.Response:
        return self._http.delete(path)

    def ok(self, response: httpx.Response) -> Any:
        response.raise_for_status()
        return response.json()

    def advance(self, seconds: float) -> None:
        self.ok(self.put("/_sandbox/clock", {"advance_seconds": seconds}))


@dataclass
class Session:
    """One logged-in account: its adapter, and every session `on_rotate` persisted (newest last)."""

    account: dict[str, Any]
    adapter: HttpLinkedInAdapter
    persisted: list[SessionCookies] = field(default_factory=list)

    @property
    def cookies(self) -> SessionCookies:
        return self.persisted[-1] if self.persisted else self.adapter.cookies

    def raw_headers(self) -> dict[str, str]:
        """Headers of a hand-made request with the current session (for checks below the adapter)."""
        c = self.cookies
        return {"csrf-token": c.jsessionid, "cookie": f'li_at={c.li_at}; JSESSIONID="{c.jsessionid}"'}


def fresh_cookies(control: SandboxControl, account_id: int) -> SessionCookies:
    response = control.post(f"/_sandbox/accounts/{account_id}/sessions")
    response.raise_for_status()
    body = response.json()
    return SessionCookies(li_at=body["li_at"], jsessionid=body["JSESSIONID"])


def adapter_for(
    base_url: str, cookies: SessionCookies, persisted: list[SessionCookies]
) -> HttpLinkedInAdapter:
    """An adapter whose `on_rotate` appends to `persisted` (the stand-in for the database)."""

    async def on_rotate(new: SessionCookies) -> None:
        persisted.append(new)

    return HttpLinkedInAdapter(cookies, on_rotate, AdapterConfig(base_url=base_url, timeout_seconds=10))


def people(control: SandboxControl, **params: Any) -> list[dict[str, Any]]:
    response = control.get("/_sandbox/people", **params)
    response.raise_for_status()
    return list(response.json())


def outbox(control: SandboxControl, account_id: int) -> dict[str, list[dict[str, Any]]]:
    response = control.get(f"/_sandbox/accounts/{account_id}/outbox")
    response.raise_for_status()
    return dict(response.json())
