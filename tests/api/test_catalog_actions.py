"""Every action of the catalog (ACTIONS.md) proven through the HTTP API: live (and a few async) runs against
the sandbox over real HTTP, a real Temporal server and the real database.

For each action: its input (in every spelling), its parameters, its output fields, which limit buckets it
spends and when, what it costs, and LinkedIn's refusals with their labels. The sandbox is the judge: its
outbox shows what was really sent.
"""

from __future__ import annotations

import asyncio
import unicodedata
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.api.catalog_flows import (
    assert_rows_shaped,
    consumed,
    credits,
    friends,
    limits,
    live,
    outbox,
    output_fields,
    people,
    route,
    rows,
    run_of,
    strangers,
)
from tests.api.helpers import assert_error
from tests.conftest import AccountPool
from tests.support.flows import connected_identity

pytestmark = pytest.mark.usefixtures("worker")

SEARCH_PEOPLE = "https://www.linkedin.com/search/results/people/"
SEARCH_COMPANIES = "https://www.linkedin.com/search/results/companies/?keywords=labs"
SN_SEARCH = "https://www.linkedin.com/sales/search/people?query=(keywords:engineer)"
THREAD = "https://www.linkedin.com/messaging/thread/{}/"
FINISHED = {"SUCCEEDED", "FAILED", "PARTIAL_SUCCEEDED"}


async def wait_finished(client: httpx.AsyncClient, run_uid: str, timeout: float = 60) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        run = (await client.get(f"/v1/runs/{run_uid}")).json()
        if run["status"] in FINISHED:
            return dict(run)
        assert asyncio.get_running_loop().time() < deadline, run
        await asyncio.sleep(0.2)


async def input_rows(client: httpx.AsyncClient, run_uid: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/runs/{run_uid}/inputs", params={"limit": 500})
    assert response.status_code == 200, response.text
    return list(response.json())


async def no_runs_stored(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/runs")).headers["X-Total-Count"] == "0"


# --- the catalog route --------------------------------------------------------------------------------------

# ACTIONS.md's table: identity rule, paging (page size, cap), limit buckets, input fields.
ACTIONS_MD: dict[str, tuple[str, int | None, int | None, list[str], list[str]]] = {
    "linkedin-extract-people": ("any", None, None, ["LK_PROFILE_ENRICHMENTS"], ["linkedin_profile_url"]),
    "linkedin-extract-company": ("any", None, None, ["LK_PROFILE_ENRICHMENTS"], ["linkedin_company_url"]),
    "linkedin-search-people": ("any", 10, 1000, ["LK_SEARCH_RESULTS"], ["linkedin_people_search_url"]),
    "linkedin-search-companies": ("any", 10, 1000, ["LK_SEARCH_RESULTS"], ["linkedin_company_search_url"]),
    "salesnavigator-search-people": (
        "any",
        25,
        2500,
        ["LK_SEARCH_RESULTS"],
        ["sales_navigator_profile_search_url"],
    ),
    "linkedin-me": ("direct_one", None, None, [], []),
    "linkedin-extract-connections": ("direct_one", 40, None, ["LK_PROFILE_ENRICHMENTS"], []),
    "linkedin-extract-conversations": ("direct_one", 20, None, [], []),
    "linkedin-extract-messages": ("direct_one", 20, None, [], ["linkedin_thread_url"]),
    "linkedin-extract-received-invitations": ("direct_one", 100, None, [], []),
    "linkedin-extract-sent-invitations": ("direct_one", 100, None, [], []),
    "linkedin-visit-profile": ("direct", None, None, ["LK_PROFILE_VISITS"], ["linkedin_profile_url"]),
    "linkedin-connect-profile": (
        "direct",
        None,
        None,
        ["LK_CONNECTION_REQUESTS", "LK_CONNECTION_REQUESTS_WEEKLY", "LK_CONNECTION_NOTES"],
        ["linkedin_profile_url"],
    ),
    "linkedin-message-profile": ("direct", None, None, ["LK_MESSAGES_SENT"], ["linkedin_profile_url"]),
    "salesnavigator-inmail-profile": ("direct", None, None, ["LK_INMAILS"], ["linkedin_profile_url"]),
    "linkedin-accept-invitation": (
        "direct_one",
        None,
        None,
        ["LK_INVITATION_ACTIONS"],
        ["linkedin_invitation_urn", "invitation_secret"],
    ),
    "linkedin-withdraw-invitation": (
        "direct_one",
        None,
        None,
        ["LK_INVITATION_ACTIONS"],
        ["linkedin_invitation_urn"],
    ),
}
REQUIRED_LEVEL = {
    "salesnavigator-search-people": "sales_navigator",
    "salesnavigator-inmail-profile": "premium",
}


async def test_the_catalog_route_describes_every_action_as_actions_md(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/v1/actions")).json()
    assert sorted(entry["slug"] for entry in listed) == sorted(ACTIONS_MD)
    for entry in listed:
        identity, page_size, cap, buckets, input_fields = ACTIONS_MD[entry["slug"]]
        assert entry["identity"] == identity, entry["slug"]
        assert entry["page_size"] == page_size, entry["slug"]
        if cap is not None:
            assert entry["max_results"] == cap, entry["slug"]
        assert entry["limit_buckets"] == buckets, entry["slug"]
        assert entry["input_fields"] == input_fields, entry["slug"]
        assert entry["managed_allowed"] is (identity == "any"), entry["slug"]
        assert entry["required_level"] == REQUIRED_LEVEL.get(entry["slug"]), entry["slug"]
        assert entry["parameters"]["type"] == "object" and entry["output_fields"]["type"] == "object"
        assert (await client.get(f"/v1/actions/{entry['slug']}")).json() == entry


# --- profile URLs -----------------------------------------------------------------------------------------


def spellings(slug: str) -> list[str]:
    """One person's profile URL as clients send it (ACTIONS.md § Profile URLs)."""
    nfd = unicodedata.normalize("NFD", slug)
    return [
        f"https://www.linkedin.com/in/{slug}",
        f"linkedin.com/in/{quote(slug)}?trk=x",
        f"https://de.linkedin.com/in/{slug.upper()}/",
        f"https://www.linkedin.com/in/{nfd}#experience",
        f"HTTP://WWW.LINKEDIN.COM/in/{quote(nfd)}/",
        f"https://m.linkedin.com/in/{slug}/?originalSubdomain=fr",
    ]


async def non_ascii_stranger(sandbox: httpx.AsyncClient, account: dict[str, Any]) -> dict[str, Any]:
    """Someone the account has not invited, whose slug has accented letters (and survives upper/lower)."""
    for person in await strangers(sandbox, account, limit=2000):
        slug = person["public_identifier"]
        if not slug.isascii() and slug.upper().lower() == slug and unicodedata.normalize("NFD", slug) != slug:
            return person
    raise AssertionError("the sandbox world has no accented slug among the first 2,000 people")


async def test_every_spelling_of_a_profile_url_is_one_target(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    """Percent-encoded, NFD, upper-case, country or mobile host, no scheme, query, fragment, trailing slash:
    one person — de-duplicated within a run, and one invitation whatever spelling comes next."""
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    person = await non_ascii_stranger(sandbox, account)
    urls = spellings(person["public_identifier"])

    started = await client.post(
        route("linkedin-connect-profile", "async"),
        json={"inputs": [{"linkedin_profile_url": u} for u in urls], "identity_ids": [identity["uid"]]},
    )
    assert started.status_code == 202, started.text
    assert started.json()["inputs_count"] == len(urls)
    done = await wait_finished(client, started.json()["uid"])
    assert (done["status"], done["output_count"], done["credits_used"]) == ("SUCCEEDED", 1, 1.0)
    [only] = await input_rows(client, done["uid"])
    assert only["input"]["linkedin_profile_url"] == person["linkedin_profile_url"]

    # Each other spelling, and the URN, finds the invitation pending: nothing sent, nothing counted.
    for again in [*urls, person["linkedin_profile_urn"]]:
        [row] = rows(
            await live(client, "linkedin-connect-profile", identity["uid"], {"linkedin_profile_url": again})
        )
        assert (row["invitation_sent"], row["pending"], row["connected"]) == (False, True, False), again
        assert row["linkedin_profile_id"] == person["linkedin_profile_id"]
    assert [i["to_urn"] for i in (await outbox(sandbox, account))["invitations"]] == [
        person["linkedin_profile_urn"]
    ]
    used = await consumed(client, identity["uid"], "linkedin-connect-profile")
    assert (used["LK_CONNECTION_REQUESTS"], used["LK_CONNECTION_REQUESTS_WEEKLY"]) == (1, 1)
    assert await credits(client) == 1.0


# --- extract people and companies -------------------------------------------------------------------------


async def test_extract_people_returns_the_sections_asked_for_and_counts_enrichments(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    [target] = await people(sandbox, limit=1, offset=5100)
    slug = "linkedin-extract-people"
    sections = {"experiences", "educations", "skills"}

    plain = rows(
        await live(client, slug, identity["uid"], {"linkedin_profile_url": target["linkedin_profile_url"]})
    )
    await assert_rows_shaped(client, slug, plain, optional=sections)
    assert not sections & set(plain[0]) and "current_company" in plain[0]

    by_urn = rows(
        await live(
            client,
            slug,
            identity["uid"],
            {"linkedin_profile_url": target["linkedin_profile_urn"]},
            {"sections": ["experiences", "educations"]},
        )
    )
    await assert_rows_shaped(client, slug, by_urn, optional={"skills"})
    row = by_urn[0]
    assert (row["linkedin_profile_id"], row["public_identifier"]) == (
        target["linkedin_profile_id"],
        target["public_identifier"],
    )
    assert row["linkedin_profile_url"] == target["linkedin_profile_url"]
    assert isinstance(row["experiences"], list) and isinstance(row["educations"], list)
    assert "skills" not in row
    assert (await consumed(client, identity["uid"], slug)) == {"LK_PROFILE_ENRICHMENTS": 2}
    assert await credits(client) == 2.0


async def test_a_profile_linkedin_does_not_show_is_424_and_costs_nothing(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    slug = "linkedin-extract-people"
    response = await live(
        client, slug, identity["uid"], {"linkedin_profile_url": "linkedin.com/in/nobody-xq-000"}
    )
    assert_error(response, 424, "PROFILE_NOT_ACCESSIBLE")
    run = await run_of(client, response)
    assert (run["status"], run["credits_used"], run["output_count"]) == ("FAILED", 0, 0)
    assert run["last_error"]["error_label"] == "PROFILE_NOT_ACCESSIBLE"
    assert (await consumed(client, identity["uid"], slug)) == {"LK_PROFILE_ENRICHMENTS": 0}


async def test_company_search_and_extraction_agree_and_spend_their_buckets(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    search = await live(
        client,
        "linkedin-search-companies",
        identity["uid"],
        {"linkedin_company_search_url": SEARCH_COMPANIES},
    )
    companies = rows(search)
    assert len(companies) == 10 and "X-Pagination-Next" in search.headers
    await assert_rows_shaped(client, "linkedin-search-companies", companies)
    assert (await consumed(client, identity["uid"], "linkedin-search-companies")) == {"LK_SEARCH_RESULTS": 10}
    assert (await run_of(client, search))["credits_used"] == 1.0  # 0.1 × 10 results

    first = companies[0]
    respelled = first["linkedin_company_url"].replace("https://www.", "de.").upper() + "/?trk=x"
    [company] = rows(
        await live(client, "linkedin-extract-company", identity["uid"], {"linkedin_company_url": respelled})
    )
    await assert_rows_shaped(client, "linkedin-extract-company", [company])
    same = set(await output_fields(client, "linkedin-extract-company"))
    assert {k: company[k] for k in same} == {k: first[k] for k in same}
    assert (await consumed(client, identity["uid"], "linkedin-extract-company")) == {
        "LK_PROFILE_ENRICHMENTS": 1
    }

    missing = await live(
        client,
        "linkedin-extract-company",
        identity["uid"],
        {"linkedin_company_url": "https://www.linkedin.com/company/no-such-company-xq"},
    )
    assert_error(missing, 424, "PROFILE_NOT_ACCESSIBLE")
    assert (await consumed(client, identity["uid"], "linkedin-extract-company")) == {
        "LK_PROFILE_ENRICHMENTS": 1
    }
    assert_error(
        await live(
            client,
            "linkedin-extract-company",
            identity["uid"],
            {"linkedin_company_url": "https://www.linkedin.com/in/someone-1"},
        ),
        400,
        "BAD_INPUT",
        "input.linkedin_company_url",
    )


# --- searches ---------------------------------------------------------------------------------------------


async def test_people_search_takes_keywords_and_filters_from_the_url(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    mine = {p["linkedin_profile_id"] for p in await friends(sandbox, account, limit=10_000)}
    slug = "linkedin-search-people"
    url = SEARCH_PEOPLE + '?keywords=a&network=["F"]&origin=FACETED_SEARCH'
    first_degree = rows(await live(client, slug, identity["uid"], {"linkedin_people_search_url": url}))
    assert len(first_degree) == 10
    await assert_rows_shaped(client, slug, first_degree)
    assert {r["connection_degree"] for r in first_degree} == {1}
    assert {r["linkedin_profile_id"] for r in first_degree} <= mine
    assert all("a" in f"{r['first_name']} {r['last_name']} {r['headline']}".lower() for r in first_degree)

    others = rows(
        await live(
            client,
            slug,
            identity["uid"],
            {"linkedin_people_search_url": SEARCH_PEOPLE + "?keywords=a&network=S"},
        )
    )
    assert len(others) == 10 and not {r["linkedin_profile_id"] for r in others} & mine
    assert all(r["connection_degree"] in (2, 3) for r in others)
    assert (await consumed(client, identity["uid"], slug)) == {"LK_SEARCH_RESULTS": 20}
    assert await credits(client) == 2.0


async def test_a_search_with_no_results_succeeds_empty_and_costs_nothing(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    slug = "linkedin-search-people"
    response = await live(
        client, slug, identity["uid"], {"linkedin_people_search_url": SEARCH_PEOPLE + "?keywords=qzxv+wqjk"}
    )
    assert rows(response) == [] and "X-Pagination-Next" not in response.headers
    run = await run_of(client, response)
    assert (run["status"], run["output_count"], run["credits_used"], run["warnings"]) == (
        "SUCCEEDED",
        0,
        0,
        [],
    )
    assert (await consumed(client, identity["uid"], slug)) == {"LK_SEARCH_RESULTS": 0}


async def test_sales_navigator_search_needs_a_navigator_account(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    classic, _ = await connected_identity(client, sandbox, account_pool.take(), name="Classic Seller")
    navigator, _ = await connected_identity(
        client, sandbox, account_pool.take("sales_navigator"), name="Navigator"
    )
    slug = "salesnavigator-search-people"
    item = {"sales_navigator_profile_search_url": SN_SEARCH}

    assert_error(await live(client, slug, classic["uid"], item), 424, "SN_ACCOUNT_UPGRADE")
    await no_runs_stored(client)  # the level is checked before the run is created
    started = await client.post(
        route(slug, "async"),
        json={"inputs": [item], "identity_ids": [classic["uid"]], "parameters": {"max_results": 5000}},
    )
    assert started.status_code == 202, started.text
    assert started.json()["parameters"]["max_results"] == 2500  # clamped to the action's ceiling
    failed = await wait_finished(client, started.json()["uid"])
    [row] = await input_rows(client, failed["uid"])
    assert (failed["status"], row["status"], row["error"]["error_label"]) == (
        "FAILED",
        "FAILED",
        "SN_ACCOUNT_UPGRADE",
    )

    page = await live(client, slug, navigator["uid"], item)
    found = rows(page)
    assert len(found) == 25 and "X-Pagination-Next" in page.headers
    await assert_rows_shaped(client, slug, found)
    second = rows(
        await client.post(
            page.headers["X-Pagination-Next"], json={"input": item, "identity_ids": [navigator["uid"]]}
        )
    )
    assert len(second) == 25 and not {r["linkedin_profile_id"] for r in found} & {
        r["linkedin_profile_id"] for r in second
    }
    view = await limits(client, navigator["uid"], slug)
    assert (view["LK_SEARCH_RESULTS"]["max_limit"], view["LK_SEARCH_RESULTS"]["consumed"]) == (2500, 50)
    inmails = await limits(client, navigator["uid"], "salesnavigator-inmail-profile")
    assert inmails["LK_INMAILS"]["max_limit"] == 50  # Sales Navigator accounts send InMails too


# --- the account's own data -------------------------------------------------------------------------------


async def test_me_is_the_connected_accounts_own_profile(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take()
    identity, integration = await connected_identity(client, sandbox, account)
    response = await live(client, "linkedin-me", identity["uid"])
    [me] = rows(response)
    await assert_rows_shaped(client, "linkedin-me", [me])
    assert me["linkedin_profile_id"] == integration["linkedin_profile_id"] == account["linkedin_profile_id"]
    assert me["linkedin_profile_urn"] == integration["linkedin_profile_urn"]
    assert (me["first_name"], me["last_name"]) == (account["first_name"], account["last_name"])
    assert (await limits(client, identity["uid"], "linkedin-me")) == {}
    assert (await run_of(client, response))["credits_used"] == 1.0


async def test_connections_page_by_40_are_first_degree_and_stop_at_the_enrichment_limit(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    mine = {p["linkedin_profile_id"] for p in await friends(sandbox, account, limit=10_000)}
    slug = "linkedin-extract-connections"
    override = await client.put(
        f"/v1/identities/{identity['uid']}/limits", json={"limits": {"LK_PROFILE_ENRICHMENTS": 50}}
    )
    assert override.status_code == 200, override.text
    body = {"input": {}, "identity_ids": [identity["uid"]]}
    first = await live(client, slug, identity["uid"])
    second = await client.post(first.headers["X-Pagination-Next"], json=body)
    page1, page2 = rows(first), rows(second)
    await assert_rows_shaped(client, slug, page1 + page2)
    ids1, ids2 = {r["linkedin_profile_id"] for r in page1}, {r["linkedin_profile_id"] for r in page2}
    # 40 a page; the second is cut to what the limit leaves (50 − 40), and the next is refused at once.
    assert (len(ids1), len(ids2)) == (40, 10) and not ids1 & ids2 and ids1 | ids2 <= mine
    assert (await run_of(client, first))["credits_used"] == 4.0  # 0.1 × 40
    third = await client.post(second.headers["X-Pagination-Next"], json=body)
    assert assert_error(third, 429, "LIMIT_REACHED")["params"]["limit"] == "LK_PROFILE_ENRICHMENTS"
    assert (await consumed(client, identity["uid"], slug)) == {"LK_PROFILE_ENRICHMENTS": 50}


async def all_live_pages(client: httpx.AsyncClient, slug: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.post(route(slug), json=body)
    found = rows(response)
    while "X-Pagination-Next" in response.headers:
        response = await client.post(response.headers["X-Pagination-Next"], json=body)
        found += rows(response)
    return found


async def test_conversations_page_by_cursor_and_filter_unread(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    slug = "linkedin-extract-conversations"
    body: dict[str, Any] = {"input": {}, "identity_ids": [identity["uid"]]}
    everything = await all_live_pages(client, slug, body)
    await assert_rows_shaped(client, slug, everything)
    threads = [r["linkedin_thread_id"] for r in everything]
    assert len(threads) == len(set(threads)) > 20  # more than one page, no thread twice
    assert [r["last_message_at"] for r in everything] == sorted(
        (r["last_message_at"] for r in everything), reverse=True
    )
    unread = await all_live_pages(client, slug, {**body, "parameters": {"unread_only": True}})
    assert unread and all(r["unread"] for r in unread)
    assert [r["linkedin_thread_id"] for r in unread] == [
        r["linkedin_thread_id"] for r in everything if r["unread"]
    ]
    assert (await limits(client, identity["uid"], slug)) == {}


async def test_sent_messages_show_in_their_thread_which_pages_by_cursor(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    """message-profile adds to the conversation with that person; extract-messages reads the thread back,
    newest first, 20 a page (the thread is filled up to 21 messages to need a second page)."""
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    [conversation] = rows(
        await live(client, "linkedin-extract-conversations", identity["uid"], parameters={"max_results": 1})
    )
    friend = conversation["participants"][0]
    slug = "linkedin-extract-messages"
    body = {
        "input": {"linkedin_thread_url": conversation["linkedin_thread_url"]},
        "identity_ids": [identity["uid"]],
    }
    earlier = await all_live_pages(client, slug, body)
    assert 1 <= len(earlier) <= 20

    texts = [f"Message {n} — grüße ✓" for n in range(21 - len(earlier))]
    sent: list[dict[str, Any]] = []
    for text in texts:  # by URN: saves the profile lookup
        sent += rows(
            await live(
                client,
                "linkedin-message-profile",
                identity["uid"],
                {"linkedin_profile_url": friend["linkedin_profile_urn"]},
                {"message": text},
            )
        )
    await assert_rows_shaped(client, "linkedin-message-profile", sent)
    assert {r["linkedin_profile_id"] for r in sent} == {friend["linkedin_profile_id"]}
    assert {r["linkedin_thread_id"] for r in sent} == {conversation["linkedin_thread_id"]}
    assert len({r["linkedin_message_id"] for r in sent}) == len(texts)
    assert [m["text"] for m in (await outbox(sandbox, account))["messages"]] == texts
    assert (await consumed(client, identity["uid"], "linkedin-message-profile")) == {
        "LK_MESSAGES_SENT": len(texts)
    }

    first = await client.post(route(slug), json=body)
    assert len(rows(first)) == 20 and "X-Pagination-Next" in first.headers
    thread = await all_live_pages(client, slug, body)
    await assert_rows_shaped(client, slug, thread)
    ids = [m["linkedin_message_id"] for m in thread]
    assert len(ids) == len(set(ids)) == 21
    assert ids[len(texts) :] == [m["linkedin_message_id"] for m in earlier]
    newest = thread[: len(texts)]
    assert [m["text"] for m in newest] == texts[::-1]
    assert [m["linkedin_message_id"] for m in newest] == [r["linkedin_message_id"] for r in sent[::-1]]
    assert {m["sender"]["linkedin_profile_id"] for m in newest} == {account["linkedin_profile_id"]}


async def test_messages_of_an_unknown_thread_are_refused(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    response = await live(
        client,
        "linkedin-extract-messages",
        identity["uid"],
        {"linkedin_thread_url": THREAD.format("2-nOsUcHtHrEaD")},
    )
    body = assert_error(response, 424, "LK_ERROR")
    assert body["params"]["linkedin_status"] == 404
    assert_error(
        await live(
            client,
            "linkedin-extract-messages",
            identity["uid"],
            {"linkedin_thread_url": "https://www.linkedin.com/in/x-y-z"},
        ),
        400,
        "BAD_INPUT",
        "input.linkedin_thread_url",
    )


# --- invitations ------------------------------------------------------------------------------------------


async def test_a_received_invitation_is_accepted_once(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    received = rows(await live(client, "linkedin-extract-received-invitations", identity["uid"]))
    await assert_rows_shaped(client, "linkedin-extract-received-invitations", received)
    assert 5 <= len(received) <= 20
    first, second, third = received[:3]
    assert (
        first["linkedin_invitation_urn"].startswith("urn:li:fsd_invitation:") and first["invitation_secret"]
    )
    slug = "linkedin-accept-invitation"

    def item(invitation: dict[str, Any], secret: str | None = None) -> dict[str, Any]:
        return {"linkedin_invitation_urn": invitation["linkedin_invitation_urn"], "invitation_secret": secret}

    accepted = await live(client, slug, identity["uid"], item(first, first["invitation_secret"]))
    [row] = rows(accepted)
    await assert_rows_shaped(client, slug, [row])
    assert (row["accepted"], row["withdrawn"], row["linkedin_invitation_urn"]) == (
        True,
        False,
        first["linkedin_invitation_urn"],
    )
    assert (await run_of(client, accepted))["credits_used"] == 1.0
    # Accepting it again changes nothing on LinkedIn and costs nothing.
    again = await live(client, slug, identity["uid"], item(first, first["invitation_secret"]))
    assert rows(again)[0]["accepted"] is True and (await run_of(client, again))["credits_used"] == 0
    # Without its secret: found among the received invitations.
    no_secret = {"linkedin_invitation_urn": second["linkedin_invitation_urn"]}
    assert rows(await live(client, slug, identity["uid"], no_secret))[0]["accepted"] is True
    wrong = await live(client, slug, identity["uid"], item(third, "not-the-secret"))
    assert assert_error(wrong, 424, "LK_ERROR")["params"]["linkedin_status"] == 400

    assert (await consumed(client, identity["uid"], slug)) == {"LK_INVITATION_ACTIONS": 2}
    mine = {p["linkedin_profile_id"] for p in await friends(sandbox, account, limit=10_000)}
    assert {first["person"]["linkedin_profile_id"], second["person"]["linkedin_profile_id"]} <= mine
    assert third["person"]["linkedin_profile_id"] not in mine
    left = rows(await live(client, "linkedin-extract-received-invitations", identity["uid"]))
    assert [r["linkedin_invitation_urn"] for r in left] == [
        r["linkedin_invitation_urn"] for r in received if r not in (first, second)
    ]
    # The new connection can be messaged (first-degree only).
    new_friend = {"linkedin_profile_url": first["person"]["linkedin_profile_url"]}
    assert rows(
        await live(client, "linkedin-message-profile", identity["uid"], new_friend, {"message": "Thanks!"})
    )


async def test_a_sent_invitation_is_listed_and_withdrawn_once(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    [person] = await strangers(sandbox, account, offset=40)
    invite = rows(
        await live(
            client,
            "linkedin-connect-profile",
            identity["uid"],
            {"linkedin_profile_url": person["linkedin_profile_url"]},
            {"message": "Hello there"},
        )
    )[0]
    assert invite["invitation_sent"] is True
    sent = rows(await live(client, "linkedin-extract-sent-invitations", identity["uid"]))
    await assert_rows_shaped(client, "linkedin-extract-sent-invitations", sent)
    [mine] = sent
    assert (mine["person"]["linkedin_profile_id"], mine["message"]) == (
        person["linkedin_profile_id"],
        "Hello there",
    )
    assert mine["sent_at"] == invite["connection_sent_at"]

    slug = "linkedin-withdraw-invitation"
    urn = {"linkedin_invitation_urn": mine["linkedin_invitation_urn"]}
    withdrawn = await live(client, slug, identity["uid"], urn)
    [row] = rows(withdrawn)
    await assert_rows_shaped(client, slug, [row])
    assert (row["withdrawn"], row["accepted"]) == (True, False)
    assert (await run_of(client, withdrawn))["credits_used"] == 1.0
    again = await live(client, slug, identity["uid"], urn)
    assert rows(again)[0]["withdrawn"] is True and (await run_of(client, again))["credits_used"] == 0
    assert (await consumed(client, identity["uid"], slug)) == {"LK_INVITATION_ACTIONS": 1}
    assert rows(await live(client, "linkedin-extract-sent-invitations", identity["uid"])) == []


# --- outreach ---------------------------------------------------------------------------------------------


async def test_a_visit_shows_in_the_outbox_and_counts_one_visit(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    [person] = await strangers(sandbox, account, offset=60)
    slug = "linkedin-visit-profile"
    # `direct` actions run in auto mode too: the workspace's one connected identity.
    response = await client.post(
        route(slug),
        json={"input": {"linkedin_profile_url": person["linkedin_profile_url"]}, "identity_mode": "auto"},
    )
    [row] = rows(response)
    await assert_rows_shaped(client, slug, [row])
    assert (row["linkedin_profile_id"], row["linkedin_profile_urn"]) == (
        person["linkedin_profile_id"],
        person["linkedin_profile_urn"],
    )
    assert row["visited_at"].endswith("Z") and row["identity_uid"] == identity["uid"]
    assert [v["to_urn"] for v in (await outbox(sandbox, account))["visits"]] == [
        person["linkedin_profile_urn"]
    ]
    assert (await consumed(client, identity["uid"], slug)) == {"LK_PROFILE_VISITS": 1}
    assert (await run_of(client, response))["credits_used"] == 1.0
    usage = (await client.get("/v1/workspace/consumption")).json()
    assert usage["by_action"] == [{"action_name": slug, "credits": 1, "results": 1}]


async def test_inviting_a_connection_reports_connected_and_costs_nothing(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    [friend] = await friends(sandbox, account)
    slug = "linkedin-connect-profile"
    response = await live(
        client,
        slug,
        identity["uid"],
        {"linkedin_profile_url": friend["linkedin_profile_url"]},
        {"message": "Hi"},
    )
    [row] = rows(response)
    await assert_rows_shaped(client, slug, [row])
    assert (row["connected"], row["pending"], row["invitation_sent"]) == (True, False, False)
    assert row["linkedin_profile_id"] == friend["linkedin_profile_id"]
    assert (await run_of(client, response))["credits_used"] == 0
    assert set((await consumed(client, identity["uid"], slug)).values()) == {0}
    assert (await outbox(sandbox, account))["invitations"] == []


async def test_only_an_invitation_with_a_note_spends_the_note_bucket(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    noted, plain = await strangers(sandbox, account, limit=2, offset=80)
    slug = "linkedin-connect-profile"
    with_note = rows(
        await live(
            client,
            slug,
            identity["uid"],
            {"linkedin_profile_url": noted["linkedin_profile_urn"]},
            {"message": "Hallo Zoë"},
        )
    )[0]
    assert (with_note["invitation_sent"], with_note["pending"]) == (True, True)
    assert with_note["connection_sent_at"].endswith("Z")
    assert (await consumed(client, identity["uid"], slug)) == {
        "LK_CONNECTION_REQUESTS": 1,
        "LK_CONNECTION_REQUESTS_WEEKLY": 1,
        "LK_CONNECTION_NOTES": 1,
    }
    assert rows(
        await live(client, slug, identity["uid"], {"linkedin_profile_url": plain["linkedin_profile_url"]})
    )[0]["invitation_sent"]
    assert (await consumed(client, identity["uid"], slug)) == {
        "LK_CONNECTION_REQUESTS": 2,
        "LK_CONNECTION_REQUESTS_WEEKLY": 2,
        "LK_CONNECTION_NOTES": 1,
    }
    invitations = (await outbox(sandbox, account))["invitations"]
    assert [(i["to_urn"], i["note"]) for i in invitations] == [
        (noted["linkedin_profile_urn"], "Hallo Zoë"),
        (plain["linkedin_profile_urn"], None),
    ]


async def test_inmail_needs_premium_and_spends_inmails(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    classic, _ = await connected_identity(client, sandbox, account_pool.take(), name="Classic Sender")
    account = account_pool.take("premium")
    premium, _ = await connected_identity(client, sandbox, account, name="Premium Sender")
    [person] = await strangers(sandbox, account, offset=100)
    slug = "salesnavigator-inmail-profile"
    item = {"linkedin_profile_url": person["linkedin_profile_url"]}
    parameters = {"subject": "A question", "message": "Would you have 10 minutes?"}

    assert_error(await live(client, slug, classic["uid"], item, parameters), 424, "SN_ACCOUNT_UPGRADE")
    await no_runs_stored(client)
    response = await live(client, slug, premium["uid"], item, parameters)
    [row] = rows(response)  # a stranger: InMail needs no connection
    await assert_rows_shaped(client, slug, [row])
    assert row["linkedin_profile_id"] == person["linkedin_profile_id"] and row["delivered_at"].endswith("Z")
    [sent] = (await outbox(sandbox, account))["messages"]
    assert (sent["kind"], sent["subject"], sent["text"], sent["to_urn"]) == (
        "inmail",
        "A question",
        "Would you have 10 minutes?",
        person["linkedin_profile_urn"],
    )
    view = await limits(client, premium["uid"], slug)
    assert (view["LK_INMAILS"]["max_limit"], view["LK_INMAILS"]["consumed"]) == (15, 1)
    assert (await run_of(client, response))["credits_used"] == 1.0


@pytest.mark.parametrize(
    ("slug", "level", "parameters", "sent_to", "kind"),
    [
        ("linkedin-message-profile", "classic", {"message": "Did this arrive?"}, "friend", "messages"),
        (
            "salesnavigator-inmail-profile",
            "premium",
            {"subject": "Hello", "message": "Did this arrive?"},
            "stranger",
            "messages",
        ),
        ("linkedin-connect-profile", "classic", {"message": "Did this arrive?"}, "stranger", "invitations"),
    ],
)
async def test_a_write_whose_answer_is_lost_is_sent_once_and_counted_once(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    slug: str,
    level: str,
    parameters: dict[str, str],
    sent_to: str,
    kind: str,
) -> None:
    """LinkedIn applies every write but answers 5xx (an ambiguous outcome): the platform reads back instead
    of failing or writing again — one write in the outbox, a 200, its buckets counted once, one credit."""
    account = account_pool.take(level)
    identity, _ = await connected_identity(client, sandbox, account)
    [person] = await (
        friends(sandbox, account) if sent_to == "friend" else strangers(sandbox, account, offset=120)
    )
    fault = {"account_id": account["id"], "error_rate": 1.0, "scope": "writes", "after_write": True}
    assert (await sandbox.put("/_sandbox/faults", json=fault)).status_code == 200
    try:
        response = await live(
            client,
            slug,
            identity["uid"],
            {"linkedin_profile_url": person["linkedin_profile_urn"]},
            parameters,
        )
    finally:
        await sandbox.put("/_sandbox/faults", json={**fault, "error_rate": 0, "after_write": False})
    [row] = rows(response)
    [sent] = (await outbox(sandbox, account))[kind]
    assert sent["to_urn"] == person["linkedin_profile_urn"]
    assert row["linkedin_profile_id"] == person["linkedin_profile_id"]
    assert row.get("linkedin_message_id", sent.get("message_id")) == sent.get("message_id")
    assert set((await consumed(client, identity["uid"], slug)).values()) == {1}
    assert (await run_of(client, response))["credits_used"] == 1.0


@pytest.mark.parametrize("slug", ["linkedin-accept-invitation", "linkedin-withdraw-invitation"])
async def test_an_invitation_action_whose_answer_is_lost_is_done_once_and_counted_once(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool, slug: str
) -> None:
    """LinkedIn accepts (withdraws) but answers 5xx: the invitation has left the pending list, so it was
    done — a 200, counted once; the sandbox shows the new connection (the withdrawn invitation)."""
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    if slug == "linkedin-accept-invitation":
        invitation = rows(await live(client, "linkedin-extract-received-invitations", identity["uid"]))[0]
        other = invitation["person"]
    else:
        [other] = await strangers(sandbox, account, offset=180)
        connect = {"linkedin_profile_url": other["linkedin_profile_urn"]}
        rows(await live(client, "linkedin-connect-profile", identity["uid"], connect))
        [invitation] = rows(await live(client, "linkedin-extract-sent-invitations", identity["uid"]))
    item = {"linkedin_invitation_urn": invitation["linkedin_invitation_urn"]}
    fault = {"account_id": account["id"], "error_rate": 1.0, "scope": "writes", "after_write": True}
    assert (await sandbox.put("/_sandbox/faults", json=fault)).status_code == 200
    try:
        response = await live(client, slug, identity["uid"], item)
    finally:
        await sandbox.put("/_sandbox/faults", json={**fault, "error_rate": 0, "after_write": False})
    [row] = rows(response)
    accepting = slug == "linkedin-accept-invitation"
    assert (row["accepted"], row["withdrawn"]) == (accepting, not accepting)
    assert row["linkedin_invitation_urn"] == invitation["linkedin_invitation_urn"] and row["at"].endswith("Z")
    assert (await consumed(client, identity["uid"], slug)) == {"LK_INVITATION_ACTIONS": 1}
    assert (await run_of(client, response))["credits_used"] == 1.0
    mine = {p["linkedin_profile_id"] for p in await friends(sandbox, account, limit=10_000)}
    assert (other["linkedin_profile_id"] in mine) is accepting
    listing = "linkedin-extract-received-invitations" if accepting else "linkedin-extract-sent-invitations"
    pending = rows(await live(client, listing, identity["uid"]))
    assert invitation["linkedin_invitation_urn"] not in {r["linkedin_invitation_urn"] for r in pending}


# --- each action's bucket refuses it when used up --------------------------------------------------------


async def two_inputs(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    slug: str,
    account: dict[str, Any],
    identity_uid: str,
) -> list[dict[str, Any]]:
    """Two distinct targets the action can act on for this account."""
    if slug == "linkedin-accept-invitation":
        received = rows(await live(client, "linkedin-extract-received-invitations", identity_uid))
        return [
            {
                "linkedin_invitation_urn": r["linkedin_invitation_urn"],
                "invitation_secret": r["invitation_secret"],
            }
            for r in received[:2]
        ]
    if slug == "linkedin-message-profile":
        targets = await friends(sandbox, account, limit=2)
    elif slug == "linkedin-extract-people":
        targets = await people(sandbox, limit=2, offset=5300)
    else:
        targets = await strangers(sandbox, account, limit=2, offset=140)
    return [{"linkedin_profile_url": t["linkedin_profile_url"]} for t in targets]


@pytest.mark.parametrize(
    ("slug", "level", "bucket", "parameters"),
    [
        ("linkedin-extract-people", "classic", "LK_PROFILE_ENRICHMENTS", None),
        ("linkedin-visit-profile", "classic", "LK_PROFILE_VISITS", None),
        ("linkedin-message-profile", "classic", "LK_MESSAGES_SENT", {"message": "Hi!"}),
        ("salesnavigator-inmail-profile", "premium", "LK_INMAILS", {"subject": "Hi", "message": "Hi!"}),
        ("linkedin-accept-invitation", "classic", "LK_INVITATION_ACTIONS", None),
    ],
)
async def test_an_actions_bucket_refuses_it_at_once_when_used_up(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    slug: str,
    level: str,
    bucket: str,
    parameters: dict[str, Any] | None,
) -> None:
    """With its bucket at 1, the action's second live call is 429 LIMIT_REACHED naming the bucket: nothing
    sent to LinkedIn, no run, nothing counted."""
    account = account_pool.take(level)
    identity, _ = await connected_identity(client, sandbox, account)
    override = await client.put(f"/v1/identities/{identity['uid']}/limits", json={"limits": {bucket: 1}})
    assert override.status_code == 200, override.text
    first, second = await two_inputs(client, sandbox, slug, account, identity["uid"])
    rows(await live(client, slug, identity["uid"], first, parameters))
    runs_before = (await client.get("/v1/runs")).headers["X-Total-Count"]
    writes_before = await outbox(sandbox, account)

    refused = assert_error(
        await live(client, slug, identity["uid"], second, parameters), 429, "LIMIT_REACHED"
    )
    assert refused["params"]["limit"] == bucket and refused["params"]["postponed_until"].endswith("Z")
    assert (await client.get("/v1/runs")).headers["X-Total-Count"] == runs_before
    assert await outbox(sandbox, account) == writes_before
    assert (await consumed(client, identity["uid"], slug)) == {bucket: 1}


async def test_a_message_linkedin_refuses_before_sending_is_not_counted(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    [stranger] = await strangers(sandbox, account, offset=160)
    slug = "linkedin-message-profile"
    response = await live(
        client,
        slug,
        identity["uid"],
        {"linkedin_profile_url": stranger["linkedin_profile_url"]},
        {"message": "Hi"},
    )
    assert_error(response, 424, "NOT_CONNECTED")
    assert (await run_of(client, response))["credits_used"] == 0
    assert (await consumed(client, identity["uid"], slug)) == {"LK_MESSAGES_SENT": 0}
    assert (await outbox(sandbox, account))["messages"] == []


async def test_a_visit_whose_answer_is_lost_is_not_made_again(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    """A profile visit has no write token and nothing to read back: after LinkedIn applied it but answered
    5xx, the platform must not visit again (a retry would show twice in 'who viewed your profile')."""
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    [person] = await strangers(sandbox, account, offset=140)
    fault = {"account_id": account["id"], "error_rate": 1.0, "scope": "writes", "after_write": True}
    assert (await sandbox.put("/_sandbox/faults", json=fault)).status_code == 200
    try:
        response = await live(
            client,
            "linkedin-visit-profile",
            identity["uid"],
            {"linkedin_profile_url": person["linkedin_profile_urn"]},
        )
    finally:
        await sandbox.put("/_sandbox/faults", json={**fault, "error_rate": 0, "after_write": False})
    assert response.status_code == 424, response.text
    assert [v["to_urn"] for v in (await outbox(sandbox, account))["visits"]] == [
        person["linkedin_profile_urn"]
    ]
