"""A request HTTP cannot carry — a query over httpx's 64 KiB per URL component, a cookie or user agent with a
line break or a non-ASCII character — is RequestNotSendable at once: never LinkedInUnavailable, which the
platform retries (the batch, the connect check) for nothing. The API refuses such values up front; this is
the adapter's own guarantee, for whatever reaches it."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from linkedin.auth import LinkedInLogin
from linkedin.protocol import LinkedInUnavailable, RequestNotSendable, SessionCookies
from tests.linkedin.conftest import SessionFactory
from tests.linkedin.helpers import adapter_for


async def test_a_query_longer_than_http_allows_is_not_sendable_nor_transient(
    login: SessionFactory,
) -> None:
    session = login()
    started = time.monotonic()
    with pytest.raises(RequestNotSendable) as raised:
        await session.adapter.search_people({"keywords": "a" * 70_000}, 0, 10)
    assert not isinstance(raised.value, LinkedInUnavailable)
    assert raised.value.label == "LK_ERROR" and "could not be built" in raised.value.message
    assert time.monotonic() - started < 2, "refused without waiting on LinkedIn"
    # The same session still works: nothing was sent, nothing broke.
    assert (await session.adapter.me()).linkedin_profile_id == session.account["linkedin_profile_id"]


@pytest.mark.parametrize(
    "spoil",
    [
        {"li_at": "a;b\r\nX-Injected: y"},
        {"li_at": "ü👋"},
        {"user_agent": "Mozilla/5.0\r\nX-Injected: y"},
    ],
    ids=["cookie-crlf", "cookie-non-ascii", "user-agent-crlf"],
)
async def test_header_values_http_cannot_carry_are_not_sendable(
    base_url: str, login: SessionFactory, spoil: dict[str, str]
) -> None:
    session = login()
    cookies: SessionCookies = replace(session.cookies, **spoil)
    adapter = adapter_for(base_url, cookies, [])
    with pytest.raises(RequestNotSendable):
        await adapter.me()
    with pytest.raises(RequestNotSendable):
        await adapter.refresh_session()


async def test_a_login_with_a_user_agent_http_cannot_carry_is_not_sendable(base_url: str) -> None:
    with pytest.raises(RequestNotSendable):
        await LinkedInLogin(base_url, user_agent="agent\r\nX-Injected: y").login("someone@example.test", "pw")
