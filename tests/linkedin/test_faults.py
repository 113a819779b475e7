"""Injected faults: latency and 5xx, per account or for all, on reads, writes or both."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from linkedin.http_adapter import HttpLinkedInAdapter
from linkedin.protocol import AdapterConfig, LinkedInUnavailable, SessionCookies
from tests.linkedin.conftest import SessionFactory
from tests.linkedin.helpers import SandboxControl, outbox, people


@pytest.fixture(autouse=True)
def no_faults_left(control: SandboxControl) -> Iterator[None]:
    yield
    control.delete("/_sandbox/faults").raise_for_status()


async def test_latency_slows_only_the_faulted_account(control: SandboxControl, login: SessionFactory) -> None:
    slow, fast = login(), login()
    control.put("/_sandbox/faults", {"account_id": slow.account["id"], "latency_ms": 300}).raise_for_status()
    started = time.monotonic()
    await slow.adapter.me()
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    await fast.adapter.me()
    assert time.monotonic() - started < 0.3


async def test_an_error_rate_on_reads_fails_reads_but_not_writes(
    control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    control.put(
        "/_sandbox/faults", {"account_id": session.account["id"], "error_rate": 1.0, "scope": "reads"}
    ).raise_for_status()
    with pytest.raises(LinkedInUnavailable) as caught:
        await session.adapter.me()
    assert caught.value.status == 503
    target = people(control, not_connected_to=session.account["id"], limit=1)[0]
    assert (await session.adapter.visit_profile(target["linkedin_profile_urn"])).sent


async def test_a_global_fault_on_writes(control: SandboxControl, login: SessionFactory) -> None:
    session = login()
    control.put("/_sandbox/faults", {"error_rate": 1.0, "scope": "writes"}).raise_for_status()
    target = people(control, not_connected_to=session.account["id"], limit=1)[0]
    with pytest.raises(LinkedInUnavailable):
        await session.adapter.connect(target["linkedin_profile_urn"], None, "tok-fault")
    assert outbox(control, session.account["id"])["invitations"] == []
    await session.adapter.me()
    control.put("/_sandbox/faults", {"error_rate": 0, "latency_ms": 0}).raise_for_status()
    assert control.get("/_sandbox/faults").json() == []
    assert (await session.adapter.connect(target["linkedin_profile_urn"], None, "tok-fault")).sent


async def test_an_ambiguous_write_is_applied_and_found_by_its_token(
    control: SandboxControl, login: SessionFactory
) -> None:
    """`after_write`: the message is sent, the answer is a 5xx; reading back by token recovers it, and the
    rotated JSESSIONID that came with the 5xx was persisted (the session keeps working)."""
    session = login()
    friend = people(control, connected_to=session.account["id"], limit=1)[0]
    control.put(
        "/_sandbox/faults",
        json={"account_id": session.account["id"], "error_rate": 1.0, "scope": "writes", "after_write": True},
    ).raise_for_status()
    with pytest.raises(LinkedInUnavailable):
        await session.adapter.send_message(friend["linkedin_profile_urn"], "did it go?", "tok-ambiguous")
    assert len(session.persisted) == 1
    found = await session.adapter.find_message_by_token("tok-ambiguous")
    assert found is not None and found["linkedin_profile_id"] == friend["linkedin_profile_id"]
    assert len(outbox(control, session.account["id"])["messages"]) == 1


async def test_an_unreachable_linkedin_is_unavailable() -> None:
    cookies = SessionCookies(li_at="x", jsessionid="ajax:1")

    async def on_rotate(_: SessionCookies) -> None:
        raise AssertionError("nothing to rotate")

    adapter = HttpLinkedInAdapter(
        cookies, on_rotate, AdapterConfig(base_url="http://127.0.0.1:9", timeout_seconds=2)
    )
    with pytest.raises(LinkedInUnavailable):
        await adapter.me()


async def test_a_timeout_is_unavailable(
    control: SandboxControl, login: SessionFactory, base_url: str
) -> None:
    session = login()
    control.put(
        "/_sandbox/faults", {"account_id": session.account["id"], "latency_ms": 1500}
    ).raise_for_status()
    impatient = HttpLinkedInAdapter(
        session.adapter.cookies,
        session.adapter._on_rotate,
        AdapterConfig(base_url=base_url, timeout_seconds=0.3),
    )
    with pytest.raises(LinkedInUnavailable):
        await impatient.me()


async def test_a_write_answered_past_the_timeout_keeps_the_session_and_is_found_by_token(
    control: SandboxControl, login: SessionFactory, base_url: str
) -> None:
    """The client gives up; the sandbox still applies the write. Its JSESSIONID must not rotate (nobody
    receives the new cookie), so the session keeps working and the message reads back by its token."""
    session = login()
    friend = people(control, connected_to=session.account["id"], limit=1)[0]
    control.put(
        "/_sandbox/faults", {"account_id": session.account["id"], "latency_ms": 800, "scope": "writes"}
    ).raise_for_status()
    impatient = HttpLinkedInAdapter(
        session.adapter.cookies,
        session.adapter._on_rotate,
        AdapterConfig(base_url=base_url, timeout_seconds=0.3),
    )
    with pytest.raises(LinkedInUnavailable):
        await impatient.send_message(friend["linkedin_profile_urn"], "late", "tok-late")
    await asyncio.sleep(0.8)
    found = await session.adapter.find_message_by_token("tok-late")
    assert found is not None and found["linkedin_profile_id"] == friend["linkedin_profile_id"]
    assert session.persisted == []
    assert len(outbox(control, session.account["id"])["messages"]) == 1
