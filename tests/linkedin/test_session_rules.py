"""LinkedIn's session rules: CSRF, JSESSIONID rotation on writes, the login-wall redirect loop, and
restriction."""

from __future__ import annotations

import time
from dataclasses import replace

import httpx
import pytest

from linkedin.protocol import AccountRestricted, CsrfFailed, SessionCookies, SessionExpired
from tests.linkedin.conftest import SessionFactory
from tests.linkedin.helpers import SandboxControl, adapter_for, fresh_cookies, people


def test_a_request_without_the_csrf_token_fails_the_csrf_check(
    base_url: str, control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    headers = session.raw_headers()
    ok = httpx.get(f"{base_url}/voyager/api/me", headers=headers)
    assert ok.status_code == 200
    for csrf in (None, "ajax:0000000000000000000"):
        bad = {k: v for k, v in headers.items() if k != "csrf-token"}
        if csrf:
            bad["csrf-token"] = csrf
        refused = httpx.get(f"{base_url}/voyager/api/me", headers=bad)
        assert refused.status_code == 403
        assert "CSRF check failed" in refused.text


async def test_the_adapter_reports_a_stale_jsessionid_as_csrf_failed(
    base_url: str, login: SessionFactory
) -> None:
    session = login()
    stale = replace(session.adapter.cookies, jsessionid="ajax:1111111111111111111")
    with pytest.raises(CsrfFailed):
        await adapter_for(base_url, stale, []).me()


async def test_a_write_rotates_jsessionid_and_on_rotate_persists_it_before_returning(
    base_url: str, control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    before = session.adapter.cookies
    target = people(control, not_connected_to=session.account["id"], limit=1)[0]
    result = await session.adapter.visit_profile(target["linkedin_profile_urn"])
    assert result.sent
    # on_rotate ran before visit_profile returned, with the new value.
    assert len(session.persisted) == 1
    rotated = session.persisted[0]
    assert rotated.li_at == before.li_at
    assert rotated.jsessionid != before.jsessionid and rotated.jsessionid.startswith("ajax:")
    assert session.adapter.cookies == rotated
    # The old JSESSIONID now fails CSRF; the rotated one works (the adapter uses it by itself).
    with pytest.raises(CsrfFailed):
        await adapter_for(base_url, before, []).me()
    me = await session.adapter.me()
    assert me.linkedin_profile_id == session.account["linkedin_profile_id"]
    assert len(session.persisted) == 1, "reads do not rotate"


async def test_a_persisted_session_survives_a_new_adapter(base_url: str, login: SessionFactory) -> None:
    """What a restarted worker does: build an adapter from the cookies on_rotate stored."""
    session = login()
    await session.adapter.connect(
        (await session.adapter.search_people({"keywords": "engineer"}, 0, 1)).items[0][
            "linkedin_profile_urn"
        ],
        None,
        "rotate-then-restart",
    )
    restarted = adapter_for(base_url, session.cookies, [])
    assert (await restarted.me()).linkedin_profile_id == session.account["linkedin_profile_id"]


def test_a_dead_session_loops_to_the_login_wall(
    base_url: str, control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    control.post(f"/_sandbox/accounts/{session.account['id']}/expire-session").raise_for_status()
    first = httpx.get(f"{base_url}/voyager/api/me", headers=session.raw_headers())
    assert first.status_code == 302
    assert first.headers["location"].startswith("/authwall")
    back = httpx.get(base_url + first.headers["location"])
    assert back.status_code == 302
    assert back.headers["location"] == "/voyager/api/me"
    unknown = httpx.get(f"{base_url}/voyager/api/me", headers={"cookie": "li_at=nobody", "csrf-token": "x"})
    assert unknown.status_code == 302


async def test_the_adapter_reports_an_expired_session_quickly(
    control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    control.post(f"/_sandbox/accounts/{session.account['id']}/expire-session").raise_for_status()
    started = time.monotonic()
    with pytest.raises(SessionExpired) as caught:
        await session.adapter.me()
    assert time.monotonic() - started < 2
    assert caught.value.label == "INTEGRATION_INVALID"


async def test_a_fresh_session_works_after_an_expiry(
    base_url: str, control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    control.post(f"/_sandbox/accounts/{session.account['id']}/expire-session").raise_for_status()
    cookies: SessionCookies = fresh_cookies(control, session.account["id"])
    assert (await adapter_for(base_url, cookies, []).me()).linkedin_profile_id == session.account[
        "linkedin_profile_id"
    ]


async def test_a_restricted_account_is_refused_everything(
    control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    control.post(f"/_sandbox/accounts/{session.account['id']}/restrict").raise_for_status()
    with pytest.raises(AccountRestricted):
        await session.adapter.me()
    with pytest.raises(AccountRestricted):
        await session.adapter.get_profile("jürgen-müller-a1b2c3")
    status = control.get(f"/_sandbox/accounts/{session.account['id']}").json()["status"]
    assert status == "restricted"


async def test_shared_pools_never_mix_sessions(
    base_url: str, control: SandboxControl, login: SessionFactory
) -> None:
    """Two adapters on one connection pool: a cookie one of them is sent never reaches the other."""
    first, second = login(), login()
    target = people(control, not_connected_to=first.account["id"], limit=1)[0]
    await first.adapter.visit_profile(target["linkedin_profile_urn"])
    assert (await second.adapter.me()).linkedin_profile_id == second.account["linkedin_profile_id"]
    assert (await first.adapter.me()).linkedin_profile_id == first.account["linkedin_profile_id"]
    assert second.persisted == []


async def test_a_page_load_hands_a_client_that_lost_a_rotation_the_current_jsessionid(
    base_url: str, control: SandboxControl, login: SessionFactory
) -> None:
    """A client that never stored a rotation (it died between LinkedIn's answer and its commit) recovers its
    session from a page load, as a browser does; a dead session still loops to the login wall."""
    session = login()
    lost = session.adapter.cookies
    target = people(control, not_connected_to=session.account["id"], limit=1)[0]
    assert (await session.adapter.visit_profile(target["linkedin_profile_urn"])).sent  # rotates
    current = session.adapter.cookies.jsessionid
    assert current != lost.jsessionid

    persisted: list[SessionCookies] = []
    stale = adapter_for(base_url, lost, persisted)
    with pytest.raises(CsrfFailed):
        await stale.me()
    assert await stale.refresh_session() is True
    assert [c.jsessionid for c in persisted] == [current]  # stored through on_rotate before returning
    assert (await stale.me()).linkedin_profile_id == session.account["linkedin_profile_id"]
    assert await stale.refresh_session() is False  # nothing newer to hand out

    control.post(f"/_sandbox/accounts/{session.account['id']}/expire-session").raise_for_status()
    with pytest.raises(SessionExpired):
        await stale.refresh_session()
