"""Voyager search routes: blended people/company search and Sales Navigator lead search.

LinkedIn reports how many results matched (`paging.total`) but lets a query page only to its cap
(1,000; 2,500 on Sales Navigator); `metadata.capped` tells the caller the cap hides the rest.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from linkedin.sandbox import render, responses
from linkedin.sandbox.context import Sandbox
from linkedin.sandbox.model import Account, Person
from linkedin.sandbox.responses import json_response, refuse
from linkedin.sandbox.routes.paging import offset, paging
from linkedin.sandbox.search import (
    MAX_PAGE,
    PEOPLE_CAP,
    SALES_MAX_PAGE,
    SALES_NAVIGATOR_CAP,
    page,
    parse_filters,
)

_SALES_KEYWORDS_RE = re.compile(r"keywords:([^,)]*)")


def _listing(elements: list[dict[str, Any]], start: int, count: int, total: int, cap: int) -> dict[str, Any]:
    return {
        "elements": elements,
        "paging": paging(start, count, total),
        "metadata": {"totalResultCount": total, "resultCap": cap, "capped": total > cap},
    }


def _sales_hit(sb: Sandbox, account: Account, person: Person) -> dict[str, Any]:
    degree = sb.social.degree(account, person.member_id)
    company = person.current_company
    return {
        **render.person_hit(person, degree),
        "entityUrn": f"urn:li:fs_salesProfile:({person.token},NAME_SEARCH,sbx)",
        "objectUrn": f"urn:li:member:{person.member_id}",
        "fullName": f"{person.first_name} {person.last_name}",
        "geoRegion": person.location,
        "degree": degree,
        "currentPositions": (
            [{"companyName": company.name, "title": person.positions[0].title}] if company else []
        ),
    }


def router(sb: Sandbox) -> APIRouter:
    api = APIRouter(tags=["voyager: search"])

    @api.get("/voyager/api/search/blended")
    async def blended(request: Request) -> Response:
        """`?q=all&keywords=…&filters=List(resultType->PEOPLE|COMPANIES,network->F|S,geoUrn->…,
        currentCompany->…,title->…,firstName->…,lastName->…)&start=&count=` (count ≤ 50)."""
        caller = await sb.gate.enter(request)
        start, count = offset(request, 10, MAX_PAGE)
        filters = parse_filters(request.query_params.get("filters"))
        keywords = request.query_params.get("keywords")
        result_type = (filters.get("resultType") or ["PEOPLE"])[0].upper()
        if result_type == "COMPANIES":
            companies = sb.searcher.companies(keywords)
            cslice = page(companies, start, count, PEOPLE_CAP)
            hits = [render.company_hit(c) for c in cslice.items]
            return json_response(_listing(hits, start, count, cslice.total, PEOPLE_CAP))
        if result_type != "PEOPLE":
            raise refuse(400, responses.BAD_REQUEST, f"unsupported resultType {result_type}")
        people = sb.searcher.people(caller.account, keywords, filters)
        pslice = page(people, start, count, PEOPLE_CAP)
        hits = [render.person_hit(p, sb.social.degree(caller.account, p.member_id)) for p in pslice.items]
        return json_response(_listing(hits, start, count, pslice.total, PEOPLE_CAP))

    @api.get("/sales-api/salesApiLeadSearch")
    async def lead_search(request: Request) -> Response:
        """Sales Navigator: `?q=searchQuery&query=(keywords:…)` (or `keywords=`)
        `&filters=List(…)&start=&count=` (count ≤ 100). Refused to accounts without Sales Navigator."""
        caller = await sb.gate.enter(request)
        if not caller.account.sales_navigator:
            raise refuse(403, responses.SALES_NAVIGATOR_REQUIRED, "This feature requires Sales Navigator")
        start, count = offset(request, 25, SALES_MAX_PAGE)
        keywords = request.query_params.get("keywords")
        match = _SALES_KEYWORDS_RE.search(request.query_params.get("query", ""))
        if match and not keywords:
            keywords = match.group(1)
        filters = parse_filters(request.query_params.get("filters"))
        people = sb.searcher.people(caller.account, keywords, filters)
        pslice = page(people, start, count, SALES_NAVIGATOR_CAP)
        hits = [_sales_hit(sb, caller.account, p) for p in pslice.items]
        return json_response(_listing(hits, start, count, pslice.total, SALES_NAVIGATOR_CAP))

    return api
