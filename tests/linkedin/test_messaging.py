"""Messaging: recipient by URN only, first-degree only, write tokens, read-back, cursor paging, InMail."""

from __future__ import annotations

import httpx
import pytest

from linkedin.protocol import LinkedInError, NotConnected, SalesNavigatorRequired
from tests.linkedin.conftest import SessionFactory
from tests.linkedin.helpers import SandboxControl, outbox, people


def test_a_message_to_a_slug_is_refused_with_422(
    base_url: str, control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    friend = people(control, connected_to=session.account["id"], limit=1)[0]
    response = httpx.post(
        f"{base_url}/voyager/api/voyagerMessagingDashMessengerMessages?action=createMessage",
        headers=session.raw_headers(),
        json={
            "message": {"body": {"text": "hi"}, "originToken": "slug"},
            "hostRecipientUrns": [friend["public_identifier"]],
        },
    )
    assert response.status_code == 422
    assert outbox(control, session.account["id"])["messages"] == []


async def test_the_adapter_surfaces_the_422_as_a_linkedin_error(
    control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    friend = people(control, connected_to=session.account["id"], limit=1)[0]
    with pytest.raises(LinkedInError) as caught:
        await session.adapter.send_message(friend["public_identifier"], "hi", "tok-slug")
    assert caught.value.status == 422


async def test_a_message_to_a_connection_is_delivered(control: SandboxControl, login: SessionFactory) -> None:
    session = login()
    friend = people(control, connected_to=session.account["id"], limit=3)[2]
    result = await session.adapter.send_message(
        friend["linkedin_profile_urn"], "Hello from edgewise", "tok-1"
    )
    assert result.sent
    assert set(result.record) == {
        "linkedin_profile_id",
        "linkedin_thread_id",
        "linkedin_message_id",
        "delivered_at",
    }
    assert result.record["linkedin_profile_id"] == friend["linkedin_profile_id"]
    assert result.record["delivered_at"].endswith("Z")
    sent = outbox(control, session.account["id"])["messages"]
    assert [(m["to_urn"], m["text"]) for m in sent] == [
        (friend["linkedin_profile_urn"], "Hello from edgewise")
    ]


async def test_a_message_to_a_non_connection_is_refused(
    control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    stranger = people(control, not_connected_to=session.account["id"], limit=1)[0]
    with pytest.raises(NotConnected) as caught:
        await session.adapter.send_message(stranger["linkedin_profile_urn"], "hi", "tok-stranger")
    assert caught.value.label == "NOT_CONNECTED"
    assert outbox(control, session.account["id"])["messages"] == []


async def test_the_same_write_token_sends_once(control: SandboxControl, login: SessionFactory) -> None:
    session = login()
    friend = people(control, connected_to=session.account["id"], limit=1)[0]
    first = await session.adapter.send_message(friend["linkedin_profile_urn"], "only once", "tok-dup")
    again = await session.adapter.send_message(friend["linkedin_profile_urn"], "only once", "tok-dup")
    assert first.sent and again.sent  # the replay reports the one message the token sent
    assert again.record == first.record
    assert len(outbox(control, session.account["id"])["messages"]) == 1


async def test_a_message_reads_back_by_its_token(control: SandboxControl, login: SessionFactory) -> None:
    session = login()
    friend = people(control, connected_to=session.account["id"], limit=1)[0]
    assert await session.adapter.find_message_by_token("tok-readback") is None
    sent = await session.adapter.send_message(friend["linkedin_profile_urn"], "read me back", "tok-readback")
    assert await session.adapter.find_message_by_token("tok-readback") == sent.record


async def test_conversations_page_by_cursor_newest_first(
    control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    friend = people(control, connected_to=session.account["id"], limit=5)[4]
    await session.adapter.send_message(friend["linkedin_profile_urn"], "newest", "tok-conv")
    seen: list[dict[str, object]] = []
    cursor: str | None = None
    while True:
        page = await session.adapter.conversations(cursor, 7, unread_only=False)
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) >= 25
    assert len({c["linkedin_thread_id"] for c in seen}) == len(seen), "no thread twice"
    times = [str(c["last_message_at"]) for c in seen]
    assert times == sorted(times, reverse=True)
    newest = seen[0]
    assert newest["participants"][0]["linkedin_profile_id"] == friend["linkedin_profile_id"]  # type: ignore[index]
    assert str(newest["linkedin_thread_url"]).endswith(f"/messaging/thread/{newest['linkedin_thread_id']}/")
    unread = await session.adapter.conversations(None, 100, unread_only=True)
    assert unread.items and all(c["unread"] for c in unread.items)


async def test_messages_of_a_thread_page_by_cursor(control: SandboxControl, login: SessionFactory) -> None:
    session = login()
    friend = people(control, connected_to=session.account["id"], limit=1)[0]
    for n in range(5):
        sent = await session.adapter.send_message(
            friend["linkedin_profile_urn"], f"message {n}", f"tok-thread-{n}"
        )
    thread_id = sent.record["linkedin_thread_id"]
    texts: list[str] = []
    cursor: str | None = None
    while True:
        page = await session.adapter.messages(thread_id, cursor, 2)
        assert len(page.items) <= 2
        texts.extend(m["text"] for m in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert texts[:5] == [f"message {n}" for n in range(4, -1, -1)]
    first = page.items[-1] if page.items else None
    assert first is None or set(first) == {"linkedin_message_id", "sender", "text", "sent_at"}


async def test_inmail_needs_premium(control: SandboxControl, login: SessionFactory) -> None:
    stranger = people(control, query="engineer", limit=1)[0]
    with pytest.raises(SalesNavigatorRequired):
        await login("classic").adapter.send_inmail(
            stranger["linkedin_profile_urn"], "Hi", "Hello", "tok-inmail"
        )
    premium = login("premium")
    result = await premium.adapter.send_inmail(stranger["linkedin_profile_urn"], "Hi", "Hello", "tok-inmail")
    assert result.sent and result.record["linkedin_profile_id"] == stranger["linkedin_profile_id"]
    sent = outbox(control, premium.account["id"])["messages"]
    assert [(m["kind"], m["subject"]) for m in sent] == [("inmail", "Hi")]
