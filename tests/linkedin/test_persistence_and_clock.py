"""A restart on the same state_dir keeps everything; the injectable clock drives every window."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from linkedin.protocol import SessionCookies
from linkedin.sandbox.app import create_app
from tests.linkedin.conftest import SessionFactory
from tests.linkedin.helpers import SandboxControl, adapter_for, fresh_cookies, outbox, people
from tests.support.servers import serve_in_thread


async def test_a_restart_keeps_sessions_outbox_tokens_clock_and_restrictions(tmp_path: Path) -> None:
    persisted: list[SessionCookies] = []
    with serve_in_thread(create_app(state_dir=tmp_path)) as url, SandboxControl(url) as control:
        control.advance(3600)
        control.put("/_sandbox/tolerances", {"enabled": False}).raise_for_status()
        control.post("/_sandbox/accounts/2/restrict").raise_for_status()
        adapter = adapter_for(url, fresh_cookies(control, 1), persisted)
        friend = people(control, connected_to=1, limit=1)[0]
        sent = await adapter.send_message(friend["linkedin_profile_urn"], "before the restart", "tok-restart")
        before = outbox(control, 1)
        clock_before = control.get("/_sandbox/clock").json()
    assert persisted, "the write rotated JSESSIONID"

    with serve_in_thread(create_app(state_dir=tmp_path)) as url, SandboxControl(url) as control:
        restarted = adapter_for(url, persisted[-1], [])
        assert (await restarted.me()).linkedin_profile_id == control.get("/_sandbox/accounts/1").json()[
            "linkedin_profile_id"
        ]
        assert outbox(control, 1) == before
        again = await restarted.send_message(
            friend["linkedin_profile_urn"], "before the restart", "tok-restart"
        )
        # The token's replay reports the original write (sent, same record); nothing is sent again.
        assert again.sent and again.record == sent.record
        assert await restarted.find_message_by_token("tok-restart") == sent.record
        assert len(outbox(control, 1)["messages"]) == 1
        assert control.get("/_sandbox/clock").json()["offset_seconds"] == pytest.approx(
            clock_before["offset_seconds"], abs=1
        )
        assert control.get("/_sandbox/tolerances").json() == {"enabled": False}
        assert control.get("/_sandbox/accounts/2").json()["status"] == "restricted"
        control.post("/_sandbox/reset").raise_for_status()
        assert outbox(control, 1) == {"messages": [], "invitations": [], "visits": []}
        assert control.get("/_sandbox/accounts/2").json()["status"] == "active"
        assert control.get("/_sandbox/clock").json()["offset_seconds"] == 0


def _a_year_on(control: SandboxControl) -> datetime:
    """A later midnight than the clock shows: the shared sandbox's clock only ever moves forward here."""
    now = datetime.fromisoformat(control.get("/_sandbox/clock").json()["now"].replace("Z", "+00:00"))
    return datetime(now.year + 1, 1, 1, 12, tzinfo=UTC)


def test_the_clock_can_be_set_and_advanced(control: SandboxControl) -> None:
    assert control.get("/_sandbox/clock").json()["now"].endswith("Z")
    target = _a_year_on(control)
    moved = control.put("/_sandbox/clock", {"now": f"{target.year}-01-01T14:00:00+02:00"}).json()
    assert moved["now"].startswith(f"{target.year}-01-01T12:00:0")
    later = control.put("/_sandbox/clock", {"advance_seconds": 86_400}).json()
    assert later["now"].startswith(f"{target.year}-01-02T12:00:0")
    assert control.put("/_sandbox/clock", {"now": f"{target.year + 1}-01-01T12:00:00"}).status_code == 422
    assert control.put("/_sandbox/clock", {}).status_code == 422


async def test_writes_are_stamped_with_the_sandbox_clock(
    control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    target_time = _a_year_on(control)
    control.put("/_sandbox/clock", {"now": target_time.isoformat()}).raise_for_status()
    target = people(control, not_connected_to=session.account["id"], limit=1)[0]
    visit = await session.adapter.visit_profile(target["linkedin_profile_urn"])
    stamp = target_time.strftime("%Y-%m-%dT%H:%M:0")
    assert visit.record["visited_at"].startswith(stamp)
    assert outbox(control, session.account["id"])["visits"][0]["at"].startswith(stamp)


async def test_the_note_window_slides_with_the_clock(control: SandboxControl, login: SessionFactory) -> None:
    session = login()
    targets = people(control, not_connected_to=session.account["id"], limit=4)
    for n, target in enumerate(targets[:3]):
        await session.adapter.connect(target["linkedin_profile_urn"], "note", f"tok-slide-{n}")
    control.advance(30 * 86_400 + 1)
    assert (await session.adapter.connect(targets[3]["linkedin_profile_urn"], "note", "tok-slide-3")).sent
