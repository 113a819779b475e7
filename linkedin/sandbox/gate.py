"""The checks every LinkedIn-like request passes, in LinkedIn's order, and the JSESSIONID rotation.

1. session (`li_at` cookie): unknown or expired → a redirect loop to the login wall (never a 401);
2. CSRF: header `csrf-token` must equal the session's *current* JSESSIONID → else 403 "CSRF check failed";
3. restriction → 403 ACCOUNT_RESTRICTED;
4. request rate (tolerances) → 429 with Retry-After for the rest of the minute;
5. injected faults: latency, then 5xx.
After a successful write the JSESSIONID rotates (`Set-Cookie`); the old value then fails CSRF.
A page load (`GET /feed/`, what a browser does with its `li_at`) passes the session check only — no CSRF,
pages are navigations — and hands out the session's current JSESSIONID, as LinkedIn's pages do: a client
that lost a rotation (it died between LinkedIn's answer and storing the new value) gets its session back.
Every request that presents a session of an account (admitted or refused) is counted for that account, so
tests can prove that something did *not* reach LinkedIn (`GET /_sandbox/accounts/{id}/requests`).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from linkedin.sandbox import ids, responses
from linkedin.sandbox.model import Account
from linkedin.sandbox.records import Fault, Session
from linkedin.sandbox.responses import Refusal, refuse
from linkedin.sandbox.store import Store
from linkedin.sandbox.tolerances import Tolerances
from linkedin.sandbox.world import World

AUTHWALL_PATH = "/authwall"


@dataclass
class Caller:
    request: Request
    account: Account
    session: Session
    write: bool
    fault: Fault | None


def jsessionid_cookie(value: str) -> str:
    # LinkedIn sends the value in double quotes; clients must strip them.
    return f'JSESSIONID="{value}"; Path=/; SameSite=None'


def li_at_cookie(value: str) -> str:
    return f"li_at={value}; Path=/; HttpOnly; SameSite=None; Max-Age=31536000"


def authwall_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"{AUTHWALL_PATH}?trk=sandbox&sessionRedirect={quote(target, safe='')}"
    return RedirectResponse(location, status_code=302)


def service_unavailable(headers: dict[str, str] | None = None) -> Response:
    return responses.error(503, responses.SERVICE_UNAVAILABLE, "injected fault: service unavailable", headers)


class Gate:
    def __init__(self, world: World, store: Store, tolerances: Tolerances):
        self._world = world
        self._store = store
        self._tolerances = tolerances
        self._random = random.Random()
        # account id → requests seen with one of its sessions (in memory: a restart starts from zero).
        self.requests: Counter[int] = Counter()

    def _fault_for(self, account_id: int, write: bool) -> Fault | None:
        faults = self._store.faults
        if not faults:
            return None
        fault = faults.get(account_id) or faults.get(None)
        return fault if fault is not None and fault.applies(write) else None

    async def enter(self, request: Request) -> Caller:
        """Admit the request or raise Refusal. Anything but a GET is a write."""
        is_write = request.method != "GET"
        li_at = request.cookies.get("li_at")
        session = self._store.sessions.get(li_at) if li_at else None
        if session is not None:
            self.requests[session.account_id] += 1
        if session is None or session.expired:
            raise Refusal(authwall_redirect(request))
        if request.headers.get("csrf-token") != session.jsessionid:
            raise Refusal(PlainTextResponse(responses.CSRF_FAILED_TEXT, status_code=403))
        account = self._world.account_by_id[session.account_id]
        restriction = self._store.restrictions.get(account.id)
        if restriction is not None:
            raise refuse(
                403, responses.ACCOUNT_RESTRICTED, f"This account is restricted: {restriction.reason}"
            )
        retry_after = self._tolerances.throttle(account.id)
        if retry_after is not None:
            raise Refusal(
                responses.error(
                    429, responses.TOO_MANY_REQUESTS, "Too many requests", {"Retry-After": str(retry_after)}
                )
            )
        fault = self._fault_for(account.id, is_write)
        if fault is not None:
            if is_write:
                # Receive the whole request before being slow: a client that times out meanwhile leaves a
                # write that is still applied (the ambiguous outcome exactly-once writes must survive).
                await request.body()
            if fault.latency_ms > 0:
                await asyncio.sleep(fault.latency_ms / 1000)
            if not (is_write and fault.after_write) and self._random.random() < fault.error_rate:
                raise Refusal(service_unavailable())
        return Caller(request=request, account=account, session=session, write=is_write, fault=fault)

    def page(self, request: Request) -> Response:
        """A browser page load: the login wall's redirect loop for a dead session, else the session's current
        JSESSIONID (`Set-Cookie`)."""
        li_at = request.cookies.get("li_at")
        session = self._store.sessions.get(li_at) if li_at else None
        if session is not None:
            self.requests[session.account_id] += 1
        if session is None or session.expired:
            return authwall_redirect(request)
        response = PlainTextResponse("LinkedIn sandbox — feed")
        response.headers.append("set-cookie", jsessionid_cookie(session.jsessionid))
        return response

    async def leave(self, caller: Caller, response: Response) -> Response:
        """Rotate JSESSIONID after a successful write; apply an after-write fault (the write stands)."""
        if not (caller.write and 200 <= response.status_code < 300):
            return response
        if await caller.request.is_disconnected():
            # The client gave up (a timeout) and will never see a new cookie: rotating now would strand its
            # session on a value that fails CSRF forever. The write itself stands (an ambiguous outcome).
            return response
        fresh = ids.new_jsessionid()
        self._store.rotate_session(caller.session, fresh)
        fault = caller.fault
        if fault is not None and fault.after_write and self._random.random() < fault.error_rate:
            # The 5xx still carries the rotated cookie: without it the client could not use its session again.
            response = service_unavailable()
        response.headers.append("set-cookie", jsessionid_cookie(fresh))
        return response
