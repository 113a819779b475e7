"""Invitations: sending (pending / already pending / connected), the note limit, accepting, withdrawing."""

from __future__ import annotations

import pytest

from linkedin.protocol import CustomInviteLimitReached, LinkedInError
from tests.linkedin.conftest import SessionFactory
from tests.linkedin.helpers import SandboxControl, outbox, people


async def test_an_invitation_is_pending_and_a_duplicate_sends_nothing(
    control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    target = people(control, not_connected_to=session.account["id"], limit=1)[0]
    first = await session.adapter.connect(target["linkedin_profile_urn"], None, "tok-a")
    assert first.sent
    assert first.record == {
        "linkedin_profile_id": target["linkedin_profile_id"],
        "invitation_sent": True,
        "connected": False,
        "pending": True,
        "connection_sent_at": first.record["connection_sent_at"],
    }
    assert first.record["connection_sent_at"].endswith("Z")
    duplicate = await session.adapter.connect(target["linkedin_profile_urn"], None, "tok-b")
    assert not duplicate.sent
    assert duplicate.record["pending"] and not duplicate.record["invitation_sent"]
    assert duplicate.record["connection_sent_at"] == first.record["connection_sent_at"]
    invitations = outbox(control, session.account["id"])["invitations"]
    assert [i["to_urn"] for i in invitations] == [target["linkedin_profile_urn"]]
    assert target["linkedin_profile_id"] not in {
        p["linkedin_profile_id"] for p in people(control, not_connected_to=session.account["id"], limit=10)
    }


async def test_the_same_token_replays_the_invitation(control: SandboxControl, login: SessionFactory) -> None:
    session = login()
    target = people(control, not_connected_to=session.account["id"], limit=1)[0]
    first = await session.adapter.connect(target["linkedin_profile_urn"], None, "tok-replay")
    again = await session.adapter.connect(target["linkedin_profile_urn"], None, "tok-replay")
    assert first.sent and again.sent and again.record == first.record  # one invitation, reported as sent
    assert len(outbox(control, session.account["id"])["invitations"]) == 1


async def test_inviting_a_connection_reports_connected(
    control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    friend = people(control, connected_to=session.account["id"], limit=1)[0]
    result = await session.adapter.connect(friend["linkedin_profile_urn"], "hello", "tok-friend")
    assert not result.sent
    assert (
        result.record["connected"] and not result.record["pending"] and not result.record["invitation_sent"]
    )
    assert outbox(control, session.account["id"])["invitations"] == []


async def test_classic_accounts_get_three_notes_per_30_days(
    control: SandboxControl, login: SessionFactory
) -> None:
    session = login("classic")
    targets = people(control, not_connected_to=session.account["id"], limit=5)
    for n, target in enumerate(targets[:3]):
        assert (
            await session.adapter.connect(target["linkedin_profile_urn"], f"note {n}", f"tok-note-{n}")
        ).sent
    with pytest.raises(CustomInviteLimitReached) as caught:
        await session.adapter.connect(targets[3]["linkedin_profile_urn"], "one too many", "tok-note-3")
    assert caught.value.label == "CUSTOM_INVITE_LIMIT_REACHED"
    # Without a note the invitation goes through.
    assert (await session.adapter.connect(targets[4]["linkedin_profile_urn"], None, "tok-note-4")).sent
    assert len(outbox(control, session.account["id"])["invitations"]) == 4


async def test_premium_accounts_have_no_note_limit(control: SandboxControl, login: SessionFactory) -> None:
    session = login("premium")
    for n, target in enumerate(people(control, not_connected_to=session.account["id"], limit=4)):
        assert (await session.adapter.connect(target["linkedin_profile_urn"], "note", f"tok-pnote-{n}")).sent


async def test_received_invitations_can_be_accepted(control: SandboxControl, login: SessionFactory) -> None:
    session = login()
    received = await session.adapter.received_invitations(0, 100)
    assert 5 <= len(received.items) <= 20
    first, second = received.items[0], received.items[1]
    assert set(first) == {"linkedin_invitation_urn", "invitation_secret", "person", "message", "sent_at"}
    assert first["linkedin_invitation_urn"].startswith("urn:li:fsd_invitation:")
    accepted = await session.adapter.accept_invitation(
        first["linkedin_invitation_urn"], first["invitation_secret"], "t1"
    )
    assert accepted.sent and accepted.record["accepted"] and not accepted.record["withdrawn"]
    # Without the secret the adapter finds it in the received invitations.
    assert (await session.adapter.accept_invitation(second["linkedin_invitation_urn"], None, "t2")).sent
    again = await session.adapter.accept_invitation(
        first["linkedin_invitation_urn"], first["invitation_secret"], "t3"
    )
    assert not again.sent and again.record["accepted"]
    connections = await session.adapter.connections(0, 2)
    assert {c["linkedin_profile_id"] for c in connections.items} == {
        first["person"]["linkedin_profile_id"],
        second["person"]["linkedin_profile_id"],
    }
    left = await session.adapter.received_invitations(0, 100)
    assert len(left.items) == len(received.items) - 2


async def test_a_wrong_secret_is_refused(login: SessionFactory) -> None:
    session = login()
    invitation = (await session.adapter.received_invitations(0, 1)).items[0]
    with pytest.raises(LinkedInError) as caught:
        await session.adapter.accept_invitation(invitation["linkedin_invitation_urn"], "wrong", "tok-wrong")
    assert caught.value.status == 400


async def test_sent_invitations_can_be_withdrawn(control: SandboxControl, login: SessionFactory) -> None:
    session = login()
    target = people(control, not_connected_to=session.account["id"], limit=1)[0]
    await session.adapter.connect(target["linkedin_profile_urn"], None, "tok-w")
    sent = await session.adapter.sent_invitations(0, 100)
    assert [i["person"]["linkedin_profile_id"] for i in sent.items] == [target["linkedin_profile_id"]]
    urn = sent.items[0]["linkedin_invitation_urn"]
    withdrawn = await session.adapter.withdraw_invitation(urn, "tok-w1")
    assert withdrawn.sent and withdrawn.record["withdrawn"]
    assert not (await session.adapter.withdraw_invitation(urn, "tok-w2")).sent
    assert (await session.adapter.sent_invitations(0, 100)).items == []


async def test_the_invitee_accepting_makes_a_connection(
    control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    target = people(control, not_connected_to=session.account["id"], limit=1)[0]
    await session.adapter.connect(target["linkedin_profile_urn"], None, "tok-x")
    urn = (await session.adapter.sent_invitations(0, 1)).items[0]["linkedin_invitation_urn"]
    control.post(f"/_sandbox/invitations/{urn}/accept").raise_for_status()
    friend = people(control, connected_to=session.account["id"], limit=10_000)
    assert target["linkedin_profile_id"] in {p["linkedin_profile_id"] for p in friend}
    assert (await session.adapter.send_message(target["linkedin_profile_urn"], "thanks!", "tok-y")).sent
