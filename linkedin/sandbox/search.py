"""People and company search over the world: keywords, filters, and LinkedIn's result caps.

Keywords match case-insensitively as substrings of "first last headline" (every whitespace-separated
word must match), the same rule as the control API's `query`. Keyword matches are cached per query: the
world never changes, and a paged search asks the same question once per page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, TypeVar

from linkedin.sandbox.model import Account, Company, Person
from linkedin.sandbox.world import World

PEOPLE_CAP = 1000
SALES_NAVIGATOR_CAP = 2500
MAX_PAGE = 50
SALES_MAX_PAGE = 100

_FILTER_RE = re.compile(r"^List\((.*)\)$", re.S)
T = TypeVar("T")


def parse_filters(text: str | None) -> dict[str, list[str]]:
    """`List(resultType->PEOPLE,network->F|S,geoUrn->103644278)` → {"resultType": ["PEOPLE"], …}."""
    if not text:
        return {}
    match = _FILTER_RE.match(text.strip())
    body = match.group(1) if match else text
    result: dict[str, list[str]] = {}
    for part in body.split(","):
        if "->" not in part:
            continue
        key, _, values = part.partition("->")
        result[key.strip()] = [v.strip() for v in values.split("|") if v.strip()]
    return result


def keyword_terms(keywords: str | None) -> tuple[str, ...]:
    return tuple((keywords or "").lower().split())


@dataclass(frozen=True)
class Slice(Generic[T]):
    items: list[T]
    total: int  # everything that matched
    cap: int

    @property
    def capped(self) -> bool:
        return self.total > self.cap


class Searcher:
    def __init__(self, world: World, is_connected: Callable[[Account, int], bool]):
        self._world = world
        self._is_connected = is_connected
        self._people_by_terms = lru_cache(maxsize=256)(self._match_people)
        self._companies_by_terms = lru_cache(maxsize=256)(self._match_companies)

    def _match_people(self, terms: tuple[str, ...]) -> tuple[Person, ...]:
        return tuple(p for p in self._world.people if all(t in p.search_text for t in terms))

    def _match_companies(self, terms: tuple[str, ...]) -> tuple[Company, ...]:
        return tuple(
            c for c in self._world.companies if all(t in f"{c.name} {c.industry}".lower() for t in terms)
        )

    def people(self, account: Account, keywords: str | None, filters: dict[str, list[str]]) -> list[Person]:
        matches: list[Person] = list(self._people_by_terms(keyword_terms(keywords)))
        network = {v.upper() for v in filters.get("network", [])}
        if network:

            def degree_ok(p: Person) -> bool:
                first = self._is_connected(account, p.member_id)
                return ("F" in network and first) or (bool(network & {"S", "O"}) and not first)

            matches = [p for p in matches if degree_ok(p)]
        geo = {v for v in filters.get("geoUrn", [])}
        if geo:
            matches = [p for p in matches if str(p.geo_id) in geo]
        companies = set(filters.get("currentCompany", []))
        if companies:
            matches = [p for p in matches if (c := p.current_company) is not None and str(c.id) in companies]
        for key, attribute in (("firstName", "first_name"), ("lastName", "last_name"), ("title", "headline")):
            wanted = " ".join(filters.get(key, [])).lower()
            if wanted:
                matches = [p for p in matches if wanted in str(getattr(p, attribute)).lower()]
        return [p for p in matches if p.member_id != account.profile.member_id]

    def companies(self, keywords: str | None) -> list[Company]:
        return list(self._companies_by_terms(keyword_terms(keywords)))


def page(items: Sequence[T], start: int, count: int, cap: int) -> Slice[T]:
    """The slice [start, start+count) of `items`, never beyond LinkedIn's cap."""
    end = min(start + count, cap, len(items))
    return Slice(items=list(items[start:end]) if start < end else [], total=len(items), cap=cap)
