"""Inputs at the edges of what can be sent on (API.md §1: a malformed request is 400 BAD_INPUT naming the
field, never a 500/503/424, and stores nothing): over-long LinkedIn URLs and input strings, cookie and
User-Agent values no HTTP header can carry, timestamps at the ends of the calendar or beyond Temporal's,
and cursor-paged routes that must say 404 before they judge a cursor."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from temporalio.client import Client

from edgewise.catalog import CATALOG
from edgewise.crypto import Keyring
from edgewise.managed import PoolConfigError, parse_pool
from edgewise.urls import MAX_INPUT_CHARS, normalize_search
from edgewise.workspaces import CreatedWorkspace, create_workspace
from tests.api.helpers import assert_error, client_for
from tests.conftest import AccountPool
from tests.support.flows import create_identity, fresh_cookies
from workflows import search_attributes as sa

pytestmark = pytest.mark.usefixtures("worker")

BASE = "https://www.linkedin.com"
LONG = "a" * 66_000
# An over-long spelling of every kind of LinkedIn input (the first is what crashed httpx with a 500).
OVER_LONG = {
    "people_search": f"{BASE}/search/results/people/?keywords={LONG}",
    "company_search": f"{BASE}/search/results/companies/?keywords={LONG}",
    "sales_search": f"{BASE}/sales/search/people?query={LONG}",
    "profile": f"{BASE}/in/someone?trk={LONG}",
    "company": f"{BASE}/company/acme/?x={LONG}",
    "thread": f"{BASE}/messaging/thread/{'a' * 9000}/",
    "invitation": f"urn:li:fsd_invitation:{'a' * 9000}",
}
GOOD = {
    "people_search": f"{BASE}/search/results/people/?keywords=engineer",
    "company_search": f"{BASE}/search/results/companies/?keywords=acme",
    "sales_search": f"{BASE}/sales/search/people?query=engineer",
    "profile": f"{BASE}/in/someone",
    "company": f"{BASE}/company/acme/",
    "thread": f"{BASE}/messaging/thread/2-abcdef/",
    "invitation": "urn:li:fsd_invitation:12345",
}

# Parameters the actions require (the input check must be what refuses the call).
PARAMETERS = {
    "linkedin-message-profile": {"message": "Hi"},
    "salesnavigator-inmail-profile": {"message": "Hi"},
}


def messages(response: httpx.Response, field: str) -> list[str]:
    body = assert_error(response, 400, "BAD_INPUT", field)
    return [e["message"] for e in body["params"]["validation_errors"] if e["field"] == field]


async def run_count(client: httpx.AsyncClient) -> int:
    response = await client.get("/v1/runs")
    assert response.status_code == 200, response.text
    return int(response.headers["X-Total-Count"])


# --- 1. over-long LinkedIn URLs and input strings --------------------------------------------------------


@pytest.mark.parametrize("slug", [s.slug for s in CATALOG.values() if s.input_kind is not None])
async def test_over_long_inputs_are_400_naming_the_field_live_and_async(
    client: httpx.AsyncClient, slug: str
) -> None:
    spec = CATALOG[slug]
    assert spec.input_field is not None and spec.input_kind is not None
    identity = await create_identity(client, "Long Inputs")
    field = spec.input_field
    live = await client.post(
        f"/v1/actions/{slug}/run/live",
        json={
            "input": {field: OVER_LONG[spec.input_kind]},
            "identity_ids": [identity["uid"]],
            "parameters": PARAMETERS.get(slug, {}),
        },
    )
    assert any(str(MAX_INPUT_CHARS) in m for m in messages(live, f"input.{field}")), live.text
    inputs = [{field: GOOD[spec.input_kind]}] * 3 + [{field: OVER_LONG[spec.input_kind]}]
    run_async = await client.post(
        f"/v1/actions/{slug}/run/async",
        json={"inputs": inputs, "identity_ids": [identity["uid"]], "parameters": PARAMETERS.get(slug, {})},
    )
    assert any(str(MAX_INPUT_CHARS) in m for m in messages(run_async, f"inputs[3].{field}"))
    assert await run_count(client) == 0


async def test_an_over_long_invitation_secret_is_400(client: httpx.AsyncClient) -> None:
    identity = await create_identity(client, "Long Secret")
    slug = "linkedin-accept-invitation"
    item = {"linkedin_invitation_urn": GOOD["invitation"], "invitation_secret": "s" * (MAX_INPUT_CHARS + 1)}
    live = await client.post(
        f"/v1/actions/{slug}/run/live", json={"input": item, "identity_ids": [identity["uid"]]}
    )
    messages(live, "input.invitation_secret")
    run_async = await client.post(
        f"/v1/actions/{slug}/run/async", json={"inputs": [item], "identity_ids": [identity["uid"]]}
    )
    messages(run_async, "inputs[0].invitation_secret")
    assert await run_count(client) == 0


def test_a_search_url_is_capped_after_percent_encoding_too() -> None:
    # A Sales Navigator-sized URL is fine; non-ASCII keywords that grow past the cap once encoded are not.
    assert normalize_search(f"{BASE}/search/results/people/?keywords={'a' * 4000}", "people")
    with pytest.raises(ValueError, match=str(MAX_INPUT_CHARS)):
        normalize_search(f"{BASE}/search/results/people/?keywords={'ü' * 4000}", "people")


# --- 2. values that go into an HTTP header to LinkedIn --------------------------------------------------

COOKIES = {"li_at": "AQEDgood", "JSESSIONID": "ajax:123"}
HEADER_BREAKERS: list[tuple[dict[str, Any], str]] = [
    ({"cookies": {**COOKIES, "li_at": "a;b\r\nX: y"}}, "auth_data.cookies.li_at"),
    ({"cookies": {**COOKIES, "li_at": "ü👋"}}, "auth_data.cookies.li_at"),
    ({"cookies": {**COOKIES, "li_at": "a b"}}, "auth_data.cookies.li_at"),
    ({"cookies": {**COOKIES, "li_at": "a,b"}}, "auth_data.cookies.li_at"),
    ({"cookies": {**COOKIES, "li_at": "a\\b"}}, "auth_data.cookies.li_at"),
    ({"cookies": {**COOKIES, "li_at": 'a"b'}}, "auth_data.cookies.li_at"),
    ({"cookies": {**COOKIES, "li_at": "x" * 8193}}, "auth_data.cookies.li_at"),
    ({"cookies": {**COOKIES, "JSESSIONID": "ajax:1; li_at=other"}}, "auth_data.cookies.JSESSIONID"),
    ({"cookies": {**COOKIES, "JSESSIONID": '"ajax:1\r\n"x'}}, "auth_data.cookies.JSESSIONID"),
    ({"cookies": {**COOKIES, "JSESSIONID": "ajax:ü"}}, "auth_data.cookies.JSESSIONID"),
    ({"cookies": {**COOKIES, "li_a": "a\tb"}}, "auth_data.cookies.li_a"),
    ({"cookies": COOKIES, "user_agent": "a\r\nb"}, "auth_data.user_agent"),
    ({"cookies": COOKIES, "user_agent": "Mozilla/5.0 (ü)"}, "auth_data.user_agent"),
    ({"cookies": COOKIES, "user_agent": "a\x7fb"}, "auth_data.user_agent"),
    ({"cookies": COOKIES, "user_agent": "M" * 1025}, "auth_data.user_agent"),
    ({"basic": {"username": "a@b.test", "password": "pw"}, "user_agent": "a\r\nb"}, "auth_data.user_agent"),
]


async def test_values_no_http_header_can_carry_are_400_and_store_nothing(client: httpx.AsyncClient) -> None:
    identity = await create_identity(client, "Header Breaker")
    path = f"/v1/identities/{identity['uid']}/integrations/linkedin"
    for auth_data, field in HEADER_BREAKERS:
        response = await client.post(path, json={"auth_data": auth_data})
        assert_error(response, 400, "BAD_INPUT", field)
    assert_error(await client.get(path), 404, "NOT_FOUND")


async def test_a_quoted_jsessionid_and_a_real_user_agent_still_connect(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    account = account_pool.take(level="classic", login="none")
    cookies = await fresh_cookies(sandbox, account["id"])
    identity = await create_identity(client, "Quoted Session")
    user_agent = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
    )
    response = await client.post(
        f"/v1/identities/{identity['uid']}/integrations/linkedin",
        json={
            "auth_data": {
                "cookies": {**cookies, "JSESSIONID": f'"{cookies["JSESSIONID"]}"'},
                "user_agent": f"  {user_agent} ",
            }
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "VALID"


def test_the_managed_pool_refuses_a_user_agent_no_header_can_carry() -> None:
    entry = {"name": "acct", "cookies": COOKIES, "user_agent": "a\nb"}
    with pytest.raises(PoolConfigError, match=r"MANAGED_POOL\[0\]\.user_agent"):
        parse_pool(json.dumps([entry]))
    with pytest.raises(PoolConfigError, match=r"cookies"):
        parse_pool('[{"name": "acct", "cookies": {"li_at": "a;b", "JSESSIONID": "ajax:1"}}]')


async def test_callback_header_values_must_be_sendable(client: httpx.AsyncClient) -> None:
    identity = await create_identity(client, "Callback Headers")
    for value in ("Bearer ü", "a\x01b", "a\nb"):
        response = await client.post(
            "/v1/actions/linkedin-extract-people/run/async",
            json={
                "inputs": [{"linkedin_profile_url": GOOD["profile"]}],
                "identity_ids": [identity["uid"]],
                "callback": {"url": "http://127.0.0.1:9/hook", "headers": {"X-Token": value}},
            },
        )
        assert_error(response, 400, "BAD_INPUT", "callback.headers")
    assert await run_count(client) == 0


# --- 3. timestamps at the edges of the calendar, and beyond Temporal's --------------------------------

SCHEDULE = "/v1/actions/linkedin-extract-people/run/schedule"


def schedule_body(identity_uid: str, **extra: Any) -> dict[str, Any]:
    return {"inputs": [{"linkedin_profile_url": GOOD["profile"]}], "identity_ids": [identity_uid], **extra}


BAD_WHEN: list[dict[str, Any]] = [
    {"schedule_at": "9999-12-31T23:59:59Z"},
    {"schedule_at": "9999-12-31T23:59:59-01:00"},
    {"schedule_at": "0001-01-01T00:00:00+01:00"},
    {"schedule_at": "2101-01-01T00:00:00Z"},
    {"schedule_at": "2100-01-01T00:00:00Z"},
    {"schedule_at": "2030-01-01T00:00:00+25:00"},
    {"schedule_at": "2030-01-01T00:00:00+05:60"},
    {"cron": "0 9 * * *", "schedule_at": "9999-12-30T00:00:00Z"},
    {"cron": "0 9 * * *", "schedule_at": "2100-01-01T00:00:00Z"},
    # Its first firing after the start is 2100-01-01: beyond what Temporal can arm.
    {"cron": "0 0 1 1 *", "schedule_at": "2099-03-01T00:00:00Z"},
]


async def test_schedule_times_out_of_range_are_400_naming_schedule_at_and_leave_nothing(
    client: httpx.AsyncClient, new_workspace: CreatedWorkspace, temporal_client: Client
) -> None:
    identity = await create_identity(client, "Far Future")
    for extra in BAD_WHEN:
        response = await client.post(SCHEDULE, json=schedule_body(identity["uid"], **extra))
        found = messages(response, "schedule_at")
        assert not any("timedelta" in m or "Overflow" in m for m in found), found
    listed = await client.get("/v1/schedules")
    assert listed.json() == [] and listed.headers["X-Total-Count"] == "0"
    query = f'{sa.WORKSPACE.name} = "{new_workspace.workspace_uid}"'
    assert [s.id async for s in await temporal_client.list_schedules(query=query)] == []


async def test_an_offset_of_a_day_or_more_gets_a_plain_message(client: httpx.AsyncClient) -> None:
    identity = await create_identity(client, "Offsets")
    response = await client.post(
        SCHEDULE, json=schedule_body(identity["uid"], schedule_at="2030-01-01T00:00:00+25:00")
    )
    [message] = messages(response, "schedule_at")
    assert "-23:59" in message and "+23:59" in message and "timedelta" not in message


async def test_schedules_up_to_the_horizon_are_accepted(client: httpx.AsyncClient) -> None:
    identity = await create_identity(client, "Near Horizon")
    last = await client.post(
        SCHEDULE,
        json=schedule_body(identity["uid"], schedule_at="2099-12-31T23:59:59.500Z", jitter_seconds=3600),
    )
    assert last.status_code == 201, last.text
    assert last.json()["schedule_at"] == "2099-12-31T23:59:59.500Z"
    cron = await client.post(
        SCHEDULE, json=schedule_body(identity["uid"], cron="0 9 * * *", schedule_at="2099-03-01T00:00:00Z")
    )
    assert cron.status_code == 201, cron.text
    assert cron.json()["next_execution_at"] == "2099-03-01T09:00:00.000Z"
    for schedule in (last.json(), cron.json()):
        assert (await client.post(f"/v1/schedules/{schedule['uid']}/cancel")).status_code == 200


async def test_a_long_valid_cron_in_a_long_time_zone_is_scheduled(
    client: httpx.AsyncClient, temporal_client: Client
) -> None:
    """Temporal caps a calendar spec's comment at 200 characters; the comment edgewise writes there names
    the cron (up to 255 characters) and the time zone, so it is shortened — the schedule is not refused."""
    identity = await create_identity(client, "Long Cron")
    cron = ",".join(str(minute) for minute in range(60)) + " * * * *"
    assert len(cron) > 150
    response = await client.post(
        SCHEDULE, json=schedule_body(identity["uid"], cron=cron, timezone="America/Argentina/Buenos_Aires")
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["cron"], created["timezone"]) == (cron, "America/Argentina/Buenos_Aires")
    described = await temporal_client.get_schedule_handle(f"schedule:{created['uid']}").describe()
    comments = [c.comment for c in described.schedule.spec.calendars]
    assert comments and all(c and len(c.encode()) <= 200 for c in comments), comments
    assert (await client.post(f"/v1/schedules/{created['uid']}/cancel")).status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "0001-01-01T00:00:00+01:00"}, "from"),
        ({"to": "9999-12-31T23:59:59-01:00"}, "to"),
        ({"from": "2026-01-01T00:00:00+25:00"}, "from"),
        ({"to": "2026-01-01T00:00:00-24:00"}, "to"),
        ({"from": "2026-01-01T00:00:00" + "0" * 100 + "Z"}, "from"),
    ],
)
async def test_consumption_bounds_out_of_range_are_400(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    response = await client.get("/v1/workspace/consumption", params=params)
    found = messages(response, field)
    assert not any("timedelta" in m for m in found), found


async def test_consumption_takes_the_whole_calendar(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/v1/workspace/consumption", params={"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["period_end"] == "9999-12-31T23:59:59.000Z"


# --- 5. existence before the cursor ---------------------------------------------------------------------


async def test_cursor_paged_routes_say_404_before_judging_the_cursor(
    client: httpx.AsyncClient, api_url: str, engine: Engine, keyring: Keyring
) -> None:
    identity = await create_identity(client, "Cursor Owner")
    response = await client.post(
        "/v1/actions/linkedin-extract-people/run/async",
        json={"inputs": [{"linkedin_profile_url": GOOD["profile"]}], "identity_ids": [identity["uid"]]},
    )
    assert response.status_code == 202, response.text
    run_uid = response.json()["uid"]
    other = create_workspace(engine, keyring, "Cursor Nosy", f"nosy-{uuid.uuid4().hex[:6]}@other.test")
    async with client_for(api_url, other.api_key) as nosy:
        for listing in ("inputs", "outputs"):
            own = await client.get(f"/v1/runs/{run_uid}/{listing}", params={"limit": 1})
            assert own.status_code == 200, own.text
            issued = own.headers["X-Pagination-Next"].replace(api_url, "")
            for cursor in ("garbage", issued.split("cursor=", 1)[1].split("&", 1)[0]):
                for who, uid in ((nosy, run_uid), (client, str(uuid.uuid4()))):
                    answer = await who.get(f"/v1/runs/{uid}/{listing}", params={"cursor": cursor})
                    assert_error(answer, 404, "NOT_FOUND")
            # The owner, with a bad cursor: now the cursor is what is wrong.
            bad = await client.get(f"/v1/runs/{run_uid}/{listing}", params={"cursor": "garbage"})
            assert_error(bad, 400, "BAD_INPUT", "cursor")
            assert (await client.get(issued)).status_code == 200
