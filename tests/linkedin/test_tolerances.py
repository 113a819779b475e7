"""What the sandbox tolerates: 120 requests a minute, then 429; write volumes beyond which it restricts.

These tests move the sandbox's clock forward (never back), so each starts a fresh request-rate minute.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from linkedin.protocol import AccountRestricted, Throttled
from tests.linkedin.conftest import SessionFactory
from tests.linkedin.helpers import SandboxControl, Session, outbox, people


@pytest.fixture
def fresh_minute(control: SandboxControl) -> Iterator[None]:
    control.advance(61)
    yield
    control.put("/_sandbox/tolerances", {"enabled": True}).raise_for_status()


def _burst(base_url: str, session: Session, n: int) -> list[httpx.Response]:
    with httpx.Client(base_url=base_url) as client:
        return [client.get("/voyager/api/me", headers=session.raw_headers()) for _ in range(n)]


@pytest.mark.usefixtures("fresh_minute")
async def test_more_than_120_requests_a_minute_are_throttled(
    base_url: str, control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    now = control.get("/_sandbox/clock").json()["now"]
    if now[17:19] > "40":  # keep the burst inside one sandbox minute
        control.advance(25)
    answers = _burst(base_url, session, 121)
    assert [r.status_code for r in answers[:120]] == [200] * 120
    assert answers[120].status_code == 429
    retry_after = int(answers[120].headers["retry-after"])
    assert 1 <= retry_after <= 60
    with pytest.raises(Throttled) as caught:
        await session.adapter.me()
    assert 1 <= caught.value.retry_after_seconds <= 60
    other = login()
    assert (await other.adapter.me()).linkedin_profile_id == other.account["linkedin_profile_id"], (
        "per account"
    )
    control.advance(retry_after)
    assert (await session.adapter.me()).linkedin_profile_id == session.account["linkedin_profile_id"]


@pytest.mark.usefixtures("fresh_minute")
def test_tolerances_can_be_switched_off(
    base_url: str, control: SandboxControl, login: SessionFactory
) -> None:
    control.put("/_sandbox/tolerances", {"enabled": False}).raise_for_status()
    assert control.get("/_sandbox/tolerances").json() == {"enabled": False}
    assert {r.status_code for r in _burst(base_url, login(), 130)} == {200}


async def _invite(
    session: Session, targets: list[dict[str, object]], control: SandboxControl, tag: str
) -> None:
    for n, target in enumerate(targets):
        if n and n % 100 == 0:  # stay under the request rate: only the invitation count is under test
            control.advance(61)
        await session.adapter.connect(str(target["linkedin_profile_urn"]), None, f"tok-{tag}-{n}")


@pytest.mark.usefixtures("fresh_minute")
async def test_more_than_40_invitations_a_day_restrict_the_account(
    control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    targets = people(control, not_connected_to=session.account["id"], limit=41)
    await _invite(session, targets[:40], control, "day")
    with pytest.raises(AccountRestricted):
        await session.adapter.connect(targets[40]["linkedin_profile_urn"], None, "tok-41")
    assert control.get(f"/_sandbox/accounts/{session.account['id']}").json()["status"] == "restricted"
    assert len(outbox(control, session.account["id"])["invitations"]) == 40
    with pytest.raises(AccountRestricted):
        await session.adapter.me()


@pytest.mark.usefixtures("fresh_minute")
async def test_invitations_spread_over_days_stay_under_the_daily_rule(
    control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    targets = people(control, not_connected_to=session.account["id"], limit=60)
    await _invite(session, targets[:40], control, "first")
    control.advance(86_401)
    await _invite(session, targets[40:60], control, "second")
    assert len(outbox(control, session.account["id"])["invitations"]) == 60


@pytest.mark.usefixtures("fresh_minute")
async def test_more_than_150_messages_a_day_restrict_the_account(
    control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    friend = people(control, connected_to=session.account["id"], limit=1)[0]
    for n in range(150):
        if n and n % 100 == 0:
            control.advance(61)
        await session.adapter.send_message(friend["linkedin_profile_urn"], f"m{n}", f"tok-m{n}")
    with pytest.raises(AccountRestricted):
        await session.adapter.send_message(friend["linkedin_profile_urn"], "m150", "tok-m150")


@pytest.mark.usefixtures("fresh_minute")
async def test_more_than_250_visits_a_day_restrict_the_account(
    control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    target = people(control, not_connected_to=session.account["id"], limit=1)[0]["linkedin_profile_urn"]
    for n in range(250):
        if n and n % 100 == 0:
            control.advance(61)
        await session.adapter.visit_profile(target)
    with pytest.raises(AccountRestricted):
        await session.adapter.visit_profile(target)
    assert len(outbox(control, session.account["id"])["visits"]) == 250


@pytest.mark.usefixtures("fresh_minute")
async def test_with_tolerances_off_volumes_do_not_restrict(
    control: SandboxControl, login: SessionFactory
) -> None:
    control.put("/_sandbox/tolerances", {"enabled": False}).raise_for_status()
    session = login()
    targets = people(control, not_connected_to=session.account["id"], limit=45)
    for n, target in enumerate(targets):
        await session.adapter.connect(target["linkedin_profile_urn"], None, f"tok-off{n}")
    assert len(outbox(control, session.account["id"])["invitations"]) == 45
    assert control.get(f"/_sandbox/accounts/{session.account['id']}").json()["status"] == "active"
