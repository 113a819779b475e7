"""The real LinkedIn adapter: LinkedIn's web ("Voyager") API over HTTP, against LINKEDIN_BASE_URL.

The same code runs against the sandbox (the default) and linkedin.com. Sections:
transport (shared connection pools, cookies, CSRF, JSESSIONID rotation), refusal mapping (HTTP answer →
the typed errors of linkedin.protocol), parsing (Voyager JSON → ACTIONS.md records), and the adapter.

Rules that matter: redirects are never followed (LinkedIn answers a dead session with a redirect loop to
its login wall: the first 302 is reported as SessionExpired at once); a rotated JSESSIONID is persisted
through `on_rotate` before the method returns or raises; cookies are never logged, and the shared pools
keep no cookie jar (each request carries its own session's cookies).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import re
import unicodedata
import weakref
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import quote

import httpx

from edgewise.config import Settings
from edgewise.metrics import linkedin_request
from linkedin.protocol import (
    AccountRestricted,
    AdapterConfig,
    AdapterFactory,
    CookieSink,
    CsrfFailed,
    CustomInviteLimitReached,
    LinkedInError,
    LinkedInUnavailable,
    Me,
    NotConnected,
    Page,
    ProfileNotAccessible,
    Record,
    RequestNotSendable,
    SalesNavigatorRequired,
    SessionCookies,
    SessionExpired,
    Throttled,
    WriteResult,
)

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
CANONICAL_BASE = "https://www.linkedin.com"
PROFILE_URN_PREFIX = "urn:li:fsd_profile:"
DEFAULT_RETRY_AFTER_SECONDS = 60.0

# ---------------------------------------------------------------------------------------------------------
# Transport: one connection pool per (event loop, base URL, proxy), shared by every adapter.

_POOLS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, str | None, float], httpx.AsyncClient]
]
_POOLS = weakref.WeakKeyDictionary()


def _no_cookie_jar() -> CookieJar:
    # A shared client must never remember one session's Set-Cookie and send it with another's requests.
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def shared_client(base_url: str, proxy_url: str | None, timeout_seconds: float) -> httpx.AsyncClient:
    """The pool for this event loop, base URL and proxy (httpx clients are bound to their loop)."""
    per_loop = _POOLS.setdefault(asyncio.get_running_loop(), {})
    key = (base_url, proxy_url, timeout_seconds)
    client = per_loop.get(key)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            proxy=proxy_url,
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0)),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=100, keepalive_expiry=30),
            follow_redirects=False,
            cookies=_no_cookie_jar(),
            trust_env=False,
        )
        per_loop[key] = client
    return client


@contextlib.contextmanager
def transport_errors(what: str) -> Iterator[None]:
    """httpx's exceptions around one request → linkedin.protocol's. A timeout or a failed connection is
    LinkedInUnavailable (transient: retried, writes carry a token). A request httpx cannot build — a URL
    component over its 64 KiB, a header value with a line break or non-ASCII — never left and never will:
    RequestNotSendable, not retried (checked before TransportError: LocalProtocolError is one)."""
    try:
        yield
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError, UnicodeEncodeError) as exc:
        raise RequestNotSendable(f"{what}: the request could not be built ({type(exc).__name__})") from None
    except httpx.TimeoutException:
        raise LinkedInUnavailable(f"LinkedIn did not answer {what} in time") from None
    except httpx.TransportError as exc:
        raise LinkedInUnavailable(f"LinkedIn is unreachable ({type(exc).__name__})") from None


async def close_pools() -> None:
    """Close this event loop's pools (worker shutdown)."""
    per_loop = _POOLS.pop(asyncio.get_running_loop(), {})
    for client in per_loop.values():
        await client.aclose()


_SET_COOKIE_RE = re.compile(r'^\s*(li_at|JSESSIONID)\s*=\s*"?([^";]*)"?\s*(;.*)?$', re.I | re.S)


def rotated_cookies(response: httpx.Response) -> dict[str, str]:
    """`li_at` / `JSESSIONID` values a response sets (quotes stripped; deletions ignored)."""
    found: dict[str, str] = {}
    for header in response.headers.get_list("set-cookie"):
        match = _SET_COOKIE_RE.match(header)
        if not match:
            continue
        name, value, attributes = match.group(1), match.group(2), (match.group(3) or "").lower()
        if not value or value == "delete me" or "max-age=0" in attributes:
            continue
        found["li_at" if name.lower() == "li_at" else "JSESSIONID"] = value
    return found


def cookie_header(cookies: SessionCookies) -> str:
    # A JSESSIONID pasted with its surrounding quotes still works (LinkedIn itself sends them quoted).
    jsessionid = cookies.jsessionid.strip().strip('"')
    parts = [f"li_at={cookies.li_at.strip()}", f'JSESSIONID="{jsessionid}"']
    if cookies.li_a:
        parts.append(f"li_a={cookies.li_a}")
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------------------------
# Refusals: an HTTP answer → the protocol's typed errors.


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return DEFAULT_RETRY_AFTER_SECONDS
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_SECONDS
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def refusal(response: httpx.Response) -> LinkedInError:
    status = response.status_code
    text = response.text
    try:
        body = response.json()
    except ValueError:
        body = {}
    code = str(body.get("code", "")) if isinstance(body, dict) else ""
    message = str(body.get("message", "")) if isinstance(body, dict) else ""
    message = message or text[:200] or f"LinkedIn answered {status}"
    params = {"linkedin_code": code} if code else {}
    if 300 <= status < 400 or status == 401:
        return SessionExpired("the LinkedIn session is no longer valid (login wall)", status=status)
    if status == 429:
        return Throttled("LinkedIn is throttling this account", retry_after_seconds=_retry_after(response))
    if status >= 500:
        return LinkedInUnavailable(f"LinkedIn failed ({status})", status=status)
    if status == 403 and "csrf check failed" in text.lower():
        return CsrfFailed("CSRF check failed: the JSESSIONID is stale", status=status)
    mapped: dict[str, type[LinkedInError]] = {
        "ACCOUNT_RESTRICTED": AccountRestricted,
        "NOT_FIRST_DEGREE_CONNECTION": NotConnected,
        "CUSTOM_INVITE_LIMIT_REACHED": CustomInviteLimitReached,
        "SALES_NAVIGATOR_REQUIRED": SalesNavigatorRequired,
        "PREMIUM_REQUIRED": SalesNavigatorRequired,
        "PROFILE_NOT_FOUND": ProfileNotAccessible,
        "COMPANY_NOT_FOUND": ProfileNotAccessible,
    }
    if code in mapped:
        return mapped[code](message, status=status, params=params)
    if status == 404 and code not in ("THREAD_NOT_FOUND", "INVITATION_NOT_FOUND"):
        return ProfileNotAccessible(message, status=status, params=params)
    return LinkedInError(message, status=status, params=params)


# ---------------------------------------------------------------------------------------------------------
# Parsing: Voyager JSON → records shaped like ACTIONS.md's output fields.


def iso_ms(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _member_id(urn: str | None) -> int | None:
    if not urn:
        return None
    tail = urn.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _slug(value: str) -> str:
    return unicodedata.normalize("NFC", value).lower()


def person(mini: dict[str, Any]) -> Record:
    slug = _slug(mini.get("publicIdentifier") or "")
    return {
        "linkedin_profile_id": _member_id(mini.get("objectUrn")),
        "linkedin_profile_urn": mini.get("dashEntityUrn"),
        "public_identifier": slug,
        "linkedin_profile_url": f"{CANONICAL_BASE}/in/{slug}",
        "first_name": mini.get("firstName"),
        "last_name": mini.get("lastName"),
        "headline": mini.get("occupation") or mini.get("headline"),
        "location": mini.get("locationName") or mini.get("geoLocationName"),
    }


def _year_month(date: dict[str, int] | None) -> str | None:
    if not date:
        return None
    return f"{date['year']:04d}-{date['month']:02d}" if date.get("month") else f"{date['year']:04d}"


def profile(view: dict[str, Any], sections: list[str]) -> Record:
    prof = view.get("profile") or {}
    positions = (view.get("positionView") or {}).get("elements") or []
    record = person(prof)
    current = next((p for p in positions if not (p.get("timePeriod") or {}).get("endDate")), None)
    record["current_company"] = current.get("companyName") if current else None
    if "experiences" in sections:
        record["experiences"] = [
            {
                "title": p.get("title"),
                "company": p.get("companyName"),
                "linkedin_company_id": _member_id(p.get("companyUrn")),
                "linkedin_company_url": (
                    f"{CANONICAL_BASE}/company/{p['companyUniversalName']}"
                    if p.get("companyUniversalName")
                    else None
                ),
                "location": p.get("locationName"),
                "description": p.get("description"),
                "start_date": _year_month((p.get("timePeriod") or {}).get("startDate")),
                "end_date": _year_month((p.get("timePeriod") or {}).get("endDate")),
            }
            for p in positions
        ]
    if "educations" in sections:
        record["educations"] = [
            {
                "school": e.get("schoolName"),
                "degree": e.get("degreeName"),
                "field_of_study": e.get("fieldOfStudy"),
                "start_year": ((e.get("timePeriod") or {}).get("startDate") or {}).get("year"),
                "end_year": ((e.get("timePeriod") or {}).get("endDate") or {}).get("year"),
            }
            for e in (view.get("educationView") or {}).get("elements") or []
        ]
    if "skills" in sections:
        record["skills"] = [s.get("name") for s in (view.get("skillView") or {}).get("elements") or []]
    return record


def company(element: dict[str, Any]) -> Record:
    staff = element.get("staffCountRange") or {}
    if staff.get("start") is None:
        employees = None
    elif staff.get("end") is None:
        employees = f"{staff['start']}+"
    else:
        employees = f"{staff['start']}-{staff['end']}"
    slug = element.get("universalName") or ""
    return {
        "linkedin_company_id": _member_id(element.get("entityUrn")),
        "linkedin_company_url": f"{CANONICAL_BASE}/company/{slug}",
        "name": element.get("name"),
        "industry": ((element.get("companyIndustries") or [{}])[0]).get("localizedName"),
        "employee_count_range": employees,
        "headquarters": (element.get("headquarter") or {}).get("description"),
        "website": element.get("companyPageUrl"),
    }


def person_hit(hit: dict[str, Any]) -> Record:
    slug = _slug(hit.get("publicIdentifier") or "")
    distance = str((hit.get("memberDistance") or {}).get("value", ""))
    return {
        "linkedin_profile_id": _member_id(hit.get("trackingUrn") or hit.get("objectUrn")),
        "linkedin_profile_urn": hit.get("targetUrn"),
        "public_identifier": slug,
        "linkedin_profile_url": f"{CANONICAL_BASE}/in/{slug}",
        "first_name": hit.get("firstName"),
        "last_name": hit.get("lastName"),
        "headline": (hit.get("headline") or {}).get("text"),
        "location": (hit.get("subline") or {}).get("text"),
        "connection_degree": int(distance[-1]) if distance[-1:].isdigit() else None,
    }


def company_hit(hit: dict[str, Any]) -> Record:
    slug = hit.get("universalName") or ""
    return {
        "linkedin_company_id": _member_id(hit.get("targetUrn")),
        "linkedin_company_url": f"{CANONICAL_BASE}/company/{slug}",
        "name": (hit.get("title") or {}).get("text"),
        "industry": (hit.get("headline") or {}).get("text"),
        "employee_count_range": hit.get("employeeCountRange"),
        "headquarters": (hit.get("subline") or {}).get("text"),
        "website": hit.get("websiteUrl"),
    }


def invitation(element: dict[str, Any]) -> Record:
    inv = element.get("invitation") or element
    other = inv.get("fromMember") or inv.get("toMember") or {}
    return {
        "linkedin_invitation_urn": inv.get("entityUrn"),
        "invitation_secret": inv.get("sharedSecret"),
        "person": person(other),
        "message": inv.get("message"),
        "sent_at": iso_ms(inv.get("sentTime")),
    }


def message_record(element: dict[str, Any]) -> Record:
    return {
        "linkedin_message_id": element.get("messageId"),
        "sender": person(element.get("sender") or {}),
        "text": (element.get("body") or {}).get("text"),
        "sent_at": iso_ms(element.get("deliveredAt")),
    }


def sent_message_record(value: dict[str, Any]) -> Record:
    return {
        "linkedin_profile_id": value.get("recipientMemberId"),
        "linkedin_thread_id": value.get("conversationId"),
        "linkedin_message_id": value.get("messageId"),
        "delivered_at": iso_ms(value.get("deliveredAt")),
    }


def conversation(element: dict[str, Any]) -> Record:
    thread_id = element.get("conversationId") or ""
    return {
        "linkedin_thread_id": thread_id,
        "linkedin_thread_url": element.get("conversationUrl")
        or f"{CANONICAL_BASE}/messaging/thread/{thread_id}/",
        "participants": [person(p) for p in element.get("participants") or []],
        "last_message_at": iso_ms(element.get("lastActivityAt")),
        "unread": not element.get("read", True),
    }


def _list_values(value: str) -> list[str]:
    """A search URL filter value: `["F","S"]`, `F,S` or a single value."""
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text.strip("[]").replace('"', "").split(",")
        return [str(v).strip() for v in parsed if str(v).strip()]
    return [v.strip() for v in text.split(",") if v.strip()]


_PEOPLE_FILTERS = ("network", "geoUrn", "currentCompany")
_TEXT_FILTERS = ("title", "firstName", "lastName")


def search_filters(params: dict[str, str], result_type: str) -> str:
    """Search-URL parameters → Voyager's `List(resultType->PEOPLE,network->F|S,…)`."""
    parts = [f"resultType->{result_type}"]
    for key in _PEOPLE_FILTERS:
        if params.get(key):
            parts.append(f"{key}->{'|'.join(_list_values(params[key]))}")
    for key in _TEXT_FILTERS:
        if params.get(key):
            parts.append(f"{key}->{re.sub(r'[,|()]', ' ', params[key])}")
    return f"List({','.join(parts)})"


def offset_page(items: list[Record], data: dict[str, Any], start: int) -> Page:
    """Offset paging; `capped` when LinkedIn's result cap (not the end of the matches) stopped it."""
    paging = data.get("paging") or {}
    metadata = data.get("metadata") or {}
    total = int(paging.get("total") or 0)
    cap = metadata.get("resultCap")
    reachable = min(total, int(cap)) if cap else total
    end = start + len(items)
    next_start = end if items and end < reachable else None
    capped = bool(metadata.get("capped")) and next_start is None
    return Page(items=items, next_start=next_start, total=total, capped=capped)


# ---------------------------------------------------------------------------------------------------------
# The adapter.


class HttpLinkedInAdapter:
    """One session's view of LinkedIn (see linkedin.protocol.LinkedInAdapter)."""

    def __init__(self, cookies: SessionCookies, on_rotate: CookieSink, config: AdapterConfig):
        self._cookies = cookies
        self._on_rotate = on_rotate
        self._config = config
        self._base = config.base_url.rstrip("/")

    @property
    def cookies(self) -> SessionCookies:
        return self._cookies

    def _headers(self) -> dict[str, str]:
        return {
            "cookie": cookie_header(self._cookies),
            "csrf-token": self._cookies.jsessionid.strip().strip('"'),
            "user-agent": self._cookies.user_agent or DEFAULT_USER_AGENT,
            "accept": "application/vnd.linkedin.normalized+json+2.1",
            "x-restli-protocol-version": "2.0.0",
            "x-li-lang": "en_US",
        }

    async def _absorb(self, response: httpx.Response) -> None:
        """Persist a rotated session (through on_rotate) before anything else happens with the answer."""
        fresh = rotated_cookies(response)
        if not fresh:
            return
        updated = replace(
            self._cookies,
            li_at=fresh.get("li_at", self._cookies.li_at),
            jsessionid=fresh.get("JSESSIONID", self._cookies.jsessionid),
        )
        if (updated.li_at, updated.jsessionid) == (self._cookies.li_at, self._cookies.jsessionid):
            return
        self._cookies = updated
        await self._on_rotate(updated)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        client = shared_client(self._base, self._config.proxy_url, self._config.timeout_seconds)
        for attempt in range(2):
            sent_with = self._cookies.jsessionid
            with transport_errors(f"{method} {path.split('?')[0]}"):
                response = await client.request(
                    method, self._base + path, params=params, json=body, headers=self._headers()
                )
            linkedin_request(method, response.status_code, response.elapsed.total_seconds())
            await self._absorb(response)
            log.debug("linkedin %s %s → %s", method, path.split("?")[0], response.status_code)
            if 200 <= response.status_code < 300:
                try:
                    data = response.json() if response.content else {}
                except ValueError:
                    raise LinkedInError(
                        "LinkedIn sent an unreadable answer", status=response.status_code
                    ) from None
                return data if isinstance(data, dict) else {"elements": data}
            error = refusal(response)
            # A write of this same adapter may have rotated the JSESSIONID while this request was in flight.
            if isinstance(error, CsrfFailed) and attempt == 0 and sent_with != self._cookies.jsessionid:
                continue
            raise error
        raise AssertionError("unreachable")

    # --- reads ----------------------------------------------------------------------------------------

    async def me(self) -> Me:
        data = await self._call("GET", "/voyager/api/me")
        record = person(data.get("miniProfile") or {})
        level = (
            "sales_navigator"
            if data.get("salesNavigator")
            else "premium"
            if data.get("premiumSubscriber")
            else "classic"
        )
        return Me(
            linkedin_profile_id=int(record["linkedin_profile_id"] or data.get("plainId") or 0),
            linkedin_profile_urn=record["linkedin_profile_urn"],
            public_identifier=record["public_identifier"],
            first_name=record["first_name"],
            last_name=record["last_name"],
            level=level,
        )

    async def get_profile(self, ref: str, sections: list[str] | None = None) -> Record:
        view = await self._call("GET", f"/voyager/api/identity/profiles/{quote(ref, safe='')}/profileView")
        return profile(view, list(sections or []))

    async def get_company(self, slug: str) -> Record:
        data = await self._call(
            "GET", "/voyager/api/organization/companies", params={"q": "universalName", "universalName": slug}
        )
        elements = data.get("elements") or []
        if not elements:
            raise ProfileNotAccessible(f"no company page {slug!r}", status=404)
        return company(elements[0])

    async def _blended(
        self, params: dict[str, str], result_type: str, start: int, count: int
    ) -> dict[str, Any]:
        query: dict[str, Any] = {
            "q": "all",
            "filters": search_filters(params, result_type),
            "start": start,
            "count": count,
        }
        if params.get("keywords"):
            query["keywords"] = params["keywords"]
        return await self._call("GET", "/voyager/api/search/blended", params=query)

    async def search_people(self, params: dict[str, str], start: int, count: int) -> Page:
        data = await self._blended(params, "PEOPLE", start, count)
        return offset_page([person_hit(h) for h in data.get("elements") or []], data, start)

    async def search_companies(self, params: dict[str, str], start: int, count: int) -> Page:
        data = await self._blended(params, "COMPANIES", start, count)
        return offset_page([company_hit(h) for h in data.get("elements") or []], data, start)

    async def sales_search_people(self, params: dict[str, str], start: int, count: int) -> Page:
        query: dict[str, Any] = {"q": "searchQuery", "start": start, "count": count}
        for key in ("keywords", "query"):
            if params.get(key):
                query[key] = params[key]
        if any(params.get(k) for k in (*_PEOPLE_FILTERS, *_TEXT_FILTERS)):
            query["filters"] = search_filters(params, "PEOPLE")
        data = await self._call("GET", "/sales-api/salesApiLeadSearch", params=query)
        return offset_page([person_hit(h) for h in data.get("elements") or []], data, start)

    async def connections(self, start: int, count: int) -> Page:
        data = await self._call(
            "GET",
            "/voyager/api/relationships/dash/connections",
            params={"q": "search", "sortType": "RECENTLY_ADDED", "start": start, "count": count},
        )
        items = [person(e.get("connectedMemberResolutionResult") or {}) for e in data.get("elements") or []]
        return offset_page(items, data, start)

    async def conversations(self, cursor: str | None, count: int, unread_only: bool) -> Page:
        params: dict[str, Any] = {"q": "search", "count": count}
        if cursor:
            params["nextCursor"] = cursor
        if unread_only:
            params["read"] = "false"
        data = await self._call(
            "GET", "/voyager/api/voyagerMessagingDashMessengerConversations", params=params
        )
        items = [conversation(e) for e in data.get("elements") or []]
        return Page(items=items, next_cursor=(data.get("metadata") or {}).get("nextCursor"))

    async def messages(self, thread_id: str, cursor: str | None, count: int) -> Page:
        params: dict[str, Any] = {"q": "conversation", "conversationId": thread_id, "count": count}
        if cursor:
            params["nextCursor"] = cursor
        data = await self._call("GET", "/voyager/api/voyagerMessagingDashMessengerMessages", params=params)
        items = [message_record(e) for e in data.get("elements") or []]
        return Page(items=items, next_cursor=(data.get("metadata") or {}).get("nextCursor"))

    async def received_invitations(self, start: int, count: int) -> Page:
        data = await self._call(
            "GET",
            "/voyager/api/relationships/invitationViews",
            params={"q": "receivedInvitation", "start": start, "count": count},
        )
        return offset_page([invitation(e) for e in data.get("elements") or []], data, start)

    async def sent_invitations(self, start: int, count: int) -> Page:
        data = await self._call(
            "GET",
            "/voyager/api/relationships/sentInvitationViewsV2",
            params={"q": "invitationType", "invitationType": "CONNECTION", "start": start, "count": count},
        )
        return offset_page([invitation(e) for e in data.get("elements") or []], data, start)

    async def find_message_by_token(self, token: str) -> Record | None:
        data = await self._call(
            "GET",
            "/voyager/api/voyagerMessagingDashMessengerMessages",
            params={"q": "originToken", "originToken": token},
        )
        elements = data.get("elements") or []
        return sent_message_record(elements[0]) if elements else None

    # --- writes ---------------------------------------------------------------------------------------

    async def visit_profile(self, profile_urn: str) -> WriteResult:
        data = await self._call(
            "POST", "/voyager/api/voyagerIdentityDashProfileViews", body={"viewedProfileUrn": profile_urn}
        )
        value = data.get("value") or {}
        record = {
            "linkedin_profile_id": value.get("memberId"),
            "linkedin_profile_urn": value.get("profileUrn", profile_urn),
            "visited_at": iso_ms(value.get("viewedAt")),
        }
        return WriteResult(record=record, sent=True)

    async def connect(self, profile_urn: str, note: str | None, token: str) -> WriteResult:
        body: dict[str, Any] = {
            "invitee": {"inviteeUnion": {"memberProfile": profile_urn}},
            "trackingId": token,
        }
        if note:
            body["customMessage"] = note
        data = await self._call(
            "POST",
            "/voyager/api/voyagerRelationshipsDashMemberRelationships?action=verifyQuotaAndCreateV2",
            body=body,
        )
        value = data.get("value") or {}
        state = value.get("state")
        record = {
            "linkedin_profile_id": value.get("memberId"),
            "invitation_sent": bool(value.get("sent")),
            "connected": state == "ALREADY_CONNECTED",
            "pending": state in ("PENDING", "ALREADY_PENDING"),
            "connection_sent_at": iso_ms(value.get("sentAt")),
        }
        # A replay of this token is this input's own invitation (sent once, by an attempt whose answer was
        # lost): it reports what that attempt did.
        return WriteResult(record=record, sent=bool(value.get("sent")))

    async def _create_message(self, body: dict[str, Any]) -> WriteResult:
        data = await self._call(
            "POST", "/voyager/api/voyagerMessagingDashMessengerMessages?action=createMessage", body=body
        )
        value = data.get("value") or {}
        # Created now, or a replay of this token (the same message, sent once): either way it was sent.
        return WriteResult(record=sent_message_record(value), sent=True)

    async def send_message(self, profile_urn: str, text: str, token: str) -> WriteResult:
        return await self._create_message(
            {"message": {"body": {"text": text}, "originToken": token}, "hostRecipientUrns": [profile_urn]}
        )

    async def send_inmail(self, profile_urn: str, subject: str | None, text: str, token: str) -> WriteResult:
        message: dict[str, Any] = {"body": {"text": text}, "originToken": token}
        if subject:
            message["subject"] = subject
        return await self._create_message(
            {"message": message, "hostRecipientUrns": [profile_urn], "messageType": "INMAIL"}
        )

    async def _invitation_secret(self, invitation_urn: str) -> str | None:
        """The shared secret of a received invitation, when the caller did not have it."""
        start = 0
        while start is not None and start < 2000:
            page = await self.received_invitations(start, 100)
            for item in page.items:
                if item["linkedin_invitation_urn"] == invitation_urn:
                    return str(item["invitation_secret"])
            start = page.next_start  # type: ignore[assignment]
        return None

    async def _invitation_action(self, invitation_urn: str, action: str, body: dict[str, Any]) -> WriteResult:
        invitation_id = invitation_urn.rsplit(":", 1)[-1]
        data = await self._call(
            "POST", f"/voyager/api/relationships/invitations/{invitation_id}?action={action}", body=body
        )
        value = data.get("value") or {}
        record = {
            "linkedin_invitation_urn": value.get("invitationUrn", invitation_urn),
            "accepted": bool(value.get("accepted")),
            "withdrawn": bool(value.get("withdrawn")),
            "at": iso_ms(value.get("at")),
        }
        return WriteResult(record=record, sent=bool(value.get("sent")))  # a replay: what the original did

    async def accept_invitation(self, invitation_urn: str, secret: str | None, token: str) -> WriteResult:
        if not secret:
            secret = await self._invitation_secret(invitation_urn)
        body: dict[str, Any] = {
            "invitationSharedSecret": secret,
            "isGenericInvitation": False,
            "trackingId": token,
        }
        return await self._invitation_action(invitation_urn, "accept", body)

    async def withdraw_invitation(self, invitation_urn: str, token: str) -> WriteResult:
        return await self._invitation_action(invitation_urn, "withdraw", {"trackingId": token})

    async def refresh_session(self) -> bool:
        """GET /feed/ with the cookies (no CSRF header is checked on a page): a live session answers with its
        current JSESSIONID, which `_absorb` persists; a dead one loops to the login wall (SessionExpired)."""
        client = shared_client(self._base, self._config.proxy_url, self._config.timeout_seconds)
        before = self._cookies.jsessionid
        headers = {k: v for k, v in self._headers().items() if k in ("cookie", "user-agent")}
        with transport_errors("GET /feed/"):
            response = await client.get(self._base + "/feed/", headers=headers)
        linkedin_request("GET", response.status_code, response.elapsed.total_seconds())
        await self._absorb(response)
        if not 200 <= response.status_code < 300:
            raise refusal(response)
        return self._cookies.jsessionid != before

    async def aclose(self) -> None:
        """Nothing to release: connection pools are shared (see close_pools)."""


def http_adapter_factory(settings: Settings) -> AdapterFactory:
    base_url = settings.linkedin_base_url
    timeout = settings.linkedin_timeout_seconds

    def factory(
        cookies: SessionCookies, on_rotate: CookieSink, proxy_url: str | None = None
    ) -> HttpLinkedInAdapter:
        return HttpLinkedInAdapter(cookies, on_rotate, AdapterConfig(base_url, timeout, proxy_url))

    return factory
