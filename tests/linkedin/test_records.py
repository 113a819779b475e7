"""Records the adapter returns carry exactly the output fields of ACTIONS.md (the catalog's schemas), with
RFC 3339 UTC timestamps ending in `Z`."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

import pytest

from edgewise import catalog
from tests.linkedin.conftest import SessionFactory
from tests.linkedin.helpers import SandboxControl, people


def fields(schema: dict[str, Any]) -> set[str]:
    return set(schema["properties"])


def assert_person(record: dict[str, Any]) -> None:
    assert set(record) == set(catalog.PERSON_FIELDS)
    assert isinstance(record["linkedin_profile_id"], int)
    assert record["linkedin_profile_urn"].startswith("urn:li:fsd_profile:")
    assert record["linkedin_profile_url"] == f"https://www.linkedin.com/in/{record['public_identifier']}"


def assert_rfc3339_z(value: str) -> None:
    assert value.endswith("Z")
    assert datetime.fromisoformat(value.replace("Z", "+00:00")).utcoffset().total_seconds() == 0  # type: ignore[union-attr]


async def test_profile_records(login: SessionFactory) -> None:
    adapter = login().adapter
    plain = await adapter.get_profile("jürgen-müller-a1b2c3")
    assert set(plain) == set(catalog.PERSON_FIELDS) | {"current_company"}
    assert plain["public_identifier"] == "jürgen-müller-a1b2c3"
    assert plain["first_name"] == "Jürgen" and plain["last_name"] == "Müller"
    full = await adapter.get_profile(plain["linkedin_profile_urn"], ["experiences", "educations", "skills"])
    assert set(full) == fields(catalog.EXTRACT_PERSON)
    assert full["linkedin_profile_id"] == plain["linkedin_profile_id"]
    assert full["experiences"] and full["experiences"][0]["end_date"] is None
    assert full["current_company"] == full["experiences"][0]["company"]
    assert full["educations"] and all(isinstance(s, str) for s in full["skills"])
    # Any case and normal form of the slug names the same person.
    shouted = unicodedata.normalize("NFD", "JÜRGEN-MÜLLER-A1B2C3")
    assert (await adapter.get_profile(shouted))["linkedin_profile_id"] == plain["linkedin_profile_id"]


async def test_an_unknown_profile_is_not_accessible(login: SessionFactory) -> None:
    from linkedin.protocol import ProfileNotAccessible

    adapter = login().adapter
    with pytest.raises(ProfileNotAccessible):
        await adapter.get_profile("nobody-by-this-name-000000")
    with pytest.raises(ProfileNotAccessible):
        await adapter.get_company("no-such-company-anywhere")


async def test_me_reports_the_level(login: SessionFactory) -> None:
    for level in ("classic", "premium", "sales_navigator"):
        session = login(level)
        me = await session.adapter.me()
        assert me.level == level
        assert me.linkedin_profile_id == session.account["linkedin_profile_id"]
        assert me.linkedin_profile_urn == session.account["linkedin_profile_urn"]
        own = await session.adapter.get_profile(me.linkedin_profile_urn, ["skills"])
        assert own["public_identifier"] == me.public_identifier


async def test_company_and_search_records(login: SessionFactory) -> None:
    adapter = login().adapter
    hit = (await adapter.search_companies({"keywords": "labs"}, 0, 1)).items[0]
    assert set(hit) == fields(catalog.COMPANY)
    slug = hit["linkedin_company_url"].rsplit("/", 1)[-1]
    page = await adapter.get_company(slug)
    assert page == hit
    person = (await adapter.search_people({"keywords": "engineer"}, 0, 1)).items[0]
    assert set(person) == fields(catalog.SEARCH_PERSON)
    assert person["connection_degree"] in (1, 2, 3)
    for connection in (await adapter.connections(0, 3)).items:
        assert_person(connection)


async def test_write_records(control: SandboxControl, login: SessionFactory) -> None:
    session = login()
    stranger = people(control, not_connected_to=session.account["id"], limit=1)[0]
    friend = people(control, connected_to=session.account["id"], limit=1)[0]
    visit = await session.adapter.visit_profile(stranger["linkedin_profile_urn"])
    assert set(visit.record) == fields(catalog.VISIT)
    assert visit.record["linkedin_profile_id"] == stranger["linkedin_profile_id"]
    assert_rfc3339_z(visit.record["visited_at"])
    invite = await session.adapter.connect(stranger["linkedin_profile_urn"], None, "tok-rec-1")
    assert set(invite.record) == fields(catalog.CONNECT)
    message = await session.adapter.send_message(friend["linkedin_profile_urn"], "hi", "tok-rec-2")
    assert set(message.record) == fields(catalog.MESSAGE)
    assert_rfc3339_z(message.record["delivered_at"])
    invitation = (await session.adapter.received_invitations(0, 1)).items[0]
    assert set(invitation) == fields(catalog.INVITATION)
    assert_person(invitation["person"])
    assert_rfc3339_z(invitation["sent_at"])
    sent = (await session.adapter.sent_invitations(0, 1)).items[0]
    assert (
        set(sent) == fields(catalog.INVITATION)
        and sent["person"]["linkedin_profile_id"] == stranger["linkedin_profile_id"]
    )
    accepted = await session.adapter.accept_invitation(
        invitation["linkedin_invitation_urn"], invitation["invitation_secret"], "tok-rec-3"
    )
    assert set(accepted.record) == fields(catalog.INVITATION_ACTION)
    assert_rfc3339_z(accepted.record["at"])


async def test_conversation_records(login: SessionFactory) -> None:
    adapter = login().adapter
    thread = (await adapter.conversations(None, 1, unread_only=False)).items[0]
    assert set(thread) == fields(catalog.CONVERSATION)
    assert_rfc3339_z(thread["last_message_at"])
    for participant in thread["participants"]:
        assert_person(participant)
    message = (await adapter.messages(thread["linkedin_thread_id"], None, 1)).items[0]
    assert set(message) == fields(catalog.THREAD_MESSAGE)
    assert_person(message["sender"])
    assert_rfc3339_z(message["sent_at"])
    assert message["sent_at"] == thread["last_message_at"]
