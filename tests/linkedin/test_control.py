"""The control API beyond what other tests use: people filters, per-account reset, sessions."""

from __future__ import annotations

from tests.linkedin.conftest import SessionFactory
from tests.linkedin.helpers import SandboxControl, outbox, people


def test_people_pages_and_filters(control: SandboxControl) -> None:
    first = people(control, limit=5)
    assert len(first) == 5
    assert people(control, limit=2, offset=3) == first[3:5]
    assert set(first[0]) >= {
        "linkedin_profile_url",
        "linkedin_profile_id",
        "linkedin_profile_urn",
        "public_identifier",
        "first_name",
        "last_name",
    }
    assert people(control, query="JÜRGEN MÜLLER", limit=100)
    assert control.get("/_sandbox/people", connected_to=99_999).status_code == 404


def test_a_session_cookie_pair_per_login(control: SandboxControl) -> None:
    one = control.ok(control.post("/_sandbox/accounts/3/sessions"))
    two = control.ok(control.post("/_sandbox/accounts/3/sessions"))
    assert one["li_at"] != two["li_at"]
    assert one["JSESSIONID"].startswith("ajax:") and two["JSESSIONID"].startswith("ajax:")
    assert control.post("/_sandbox/accounts/99999/sessions").status_code == 404


async def test_resetting_one_account_keeps_its_sessions(
    control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    target = people(control, not_connected_to=session.account["id"], limit=1)[0]
    await session.adapter.visit_profile(target["linkedin_profile_urn"])
    control.post(f"/_sandbox/accounts/{session.account['id']}/restrict")
    control.ok(control.post("/_sandbox/reset", {"account_id": session.account["id"]}))
    assert outbox(control, session.account["id"])["visits"] == []
    assert (await session.adapter.me()).linkedin_profile_id == session.account["linkedin_profile_id"]
