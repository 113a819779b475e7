"""Search through the adapter: counts, filters, LinkedIn's result cap (1,000; 2,500 on Sales Navigator)."""

from __future__ import annotations

import pytest

from linkedin.protocol import SalesNavigatorRequired
from tests.linkedin.conftest import SessionFactory
from tests.linkedin.helpers import SandboxControl


async def test_people_search_counts_match_the_world(login: SessionFactory) -> None:
    adapter = login().adapter
    everyone = await adapter.search_people({"keywords": "a"}, 0, 10)
    assert everyone.total is not None and everyone.total > 2500
    engineers = await adapter.search_people({"keywords": "engineer"}, 0, 10)
    assert engineers.total is not None and engineers.total > 50
    assert len(engineers.items) == 10 and engineers.next_start == 10 and not engineers.capped
    assert all("engineer" in (r["headline"] or "").lower() for r in engineers.items)


async def test_people_search_stops_at_the_cap_and_says_so(login: SessionFactory) -> None:
    adapter = login().adapter
    last = await adapter.search_people({"keywords": "a"}, 990, 10)
    assert len(last.items) == 10
    assert last.next_start is None
    assert last.capped
    beyond = await adapter.search_people({"keywords": "a"}, 1000, 10)
    assert beyond.items == [] and beyond.capped


async def test_a_search_that_ends_before_the_cap_is_not_capped(login: SessionFactory) -> None:
    adapter = login().adapter
    first = await adapter.search_people({"keywords": "jürgen müller"}, 0, 10)
    assert first.total is not None and 1 <= first.total < 10
    assert first.next_start is None and not first.capped
    assert any(r["public_identifier"] == "jürgen-müller-a1b2c3" for r in first.items)


async def test_search_filters_first_degree_connections(
    control: SandboxControl, login: SessionFactory
) -> None:
    session = login()
    page = await session.adapter.search_people({"network": '["F"]'}, 0, 50)
    connected = control.get("/_sandbox/people", connected_to=session.account["id"], limit=1000)
    assert page.total == len(connected.json())
    assert {r["connection_degree"] for r in page.items} == {1}
    others = await session.adapter.search_people({"keywords": "engineer", "network": '["S","O"]'}, 0, 50)
    assert others.items and {r["connection_degree"] for r in others.items} <= {2, 3}


async def test_company_search(login: SessionFactory) -> None:
    page = await login().adapter.search_companies({"keywords": "robotics"}, 0, 10)
    assert page.items and all("robotics" in r["name"].lower() for r in page.items)
    assert page.items[0]["linkedin_company_url"].startswith("https://www.linkedin.com/company/")


async def test_sales_navigator_search_is_refused_without_sales_navigator(login: SessionFactory) -> None:
    for level in ("classic", "premium"):
        with pytest.raises(SalesNavigatorRequired):
            await login(level).adapter.sales_search_people({"keywords": "a"}, 0, 25)


async def test_sales_navigator_search_caps_at_2500(login: SessionFactory) -> None:
    adapter = login("sales_navigator").adapter
    first = await adapter.sales_search_people({"query": "(keywords:a)"}, 0, 25)
    assert first.total is not None and first.total > 2500
    assert len(first.items) == 25 and first.next_start == 25
    last = await adapter.sales_search_people({"keywords": "a"}, 2475, 25)
    assert len(last.items) == 25 and last.next_start is None and last.capped
