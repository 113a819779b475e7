"""The generated world matches API.md §9: sizes, accounts, connections, non-ASCII people, search counts."""

from __future__ import annotations

import unicodedata
from collections import Counter

from linkedin.sandbox.world import build_world
from tests.linkedin.helpers import SandboxControl, people


def test_accounts_are_exactly_the_promised_ones(control: SandboxControl) -> None:
    accounts = control.get("/_sandbox/accounts").json()
    kinds = Counter((a["level"], a["login"]) for a in accounts)
    assert kinds == {
        ("classic", "none"): 100,
        ("premium", "none"): 20,
        ("sales_navigator", "none"): 20,
        ("classic", "pin"): 10,
        ("classic", "2fa"): 10,
        ("classic", "in_app"): 10,
        ("classic", "captcha"): 10,
    }
    assert {"id", "username", "password", "level", "login", "status"} <= set(accounts[0])
    assert {a["status"] for a in accounts} <= {"active", "restricted"}


def test_people_are_many_with_non_ascii_names_and_none_is_an_account(control: SandboxControl) -> None:
    everyone = people(control, limit=100_000)
    assert len(everyone) >= 5000
    ids = [p["linkedin_profile_id"] for p in everyone]
    assert ids == sorted(ids), "stable order by id"
    slugs = {p["public_identifier"] for p in everyone}
    assert "jürgen-müller-a1b2c3" in slugs
    assert any(s.startswith("zoë-ławrynowicz-") for s in slugs)
    assert sum(not s.isascii() for s in slugs) > 100
    assert all(s == unicodedata.normalize("NFC", s).lower() for s in slugs)
    person = everyone[0]
    assert person["linkedin_profile_urn"].startswith("urn:li:fsd_profile:ACoAA")
    assert person["linkedin_profile_url"] == f"https://www.linkedin.com/in/{person['public_identifier']}"
    own_profiles = {a["linkedin_profile_id"] for a in control.get("/_sandbox/accounts").json()}
    assert not own_profiles & set(ids)


def test_people_query_counts(control: SandboxControl) -> None:
    assert len(people(control, query="a", limit=100_000)) > 2500
    engineers = people(control, query="ENGINEER", limit=100_000)
    assert len(engineers) > 50
    assert len(people(control, query="engineer", limit=10, offset=5)) == 10


def test_every_account_has_a_hundred_connections_and_some_invitations() -> None:
    world = build_world(7)
    for account in world.accounts:
        assert len(account.connections) >= 100
        assert 5 <= len(account.received_invitations) <= 20
        assert 25 <= len(account.conversations) <= 35
        assert all(c.member_id in account.connection_ids for c in account.conversations)
        assert not {i.from_member_id for i in account.received_invitations} & account.connection_ids


def test_connected_and_not_connected_people_are_disjoint(control: SandboxControl) -> None:
    for account_id in (1, 121, 141, 180):
        connected = people(control, connected_to=account_id, limit=100_000)
        assert len(connected) >= 100
        not_connected = people(control, not_connected_to=account_id, limit=100_000)
        assert not {p["linkedin_profile_id"] for p in connected} & {
            p["linkedin_profile_id"] for p in not_connected
        }


def test_the_world_is_deterministic_from_its_seed() -> None:
    again = build_world.__wrapped__(7)  # bypass the cache: really generate it a second time
    world = build_world(7)
    assert [p.slug for p in again.people] == [p.slug for p in world.people]
    assert [(a.username, a.password, a.connections) for a in again.accounts] == [
        (a.username, a.password, a.connections) for a in world.accounts
    ]
