"""A LinkedIn adapter bound to an integration's *stored* session: what every action and health check uses.

It wraps the real adapter (built by `deps.adapter_factory`, through the identity's egress proxy) and adds
what only the stored session can know:

- **CSRF is not an expiry.** LinkedIn answers 403 "CSRF check failed" when the JSESSIONID sent is no longer
  the session's current one — typically because another holder of the same session (a batch retried on
  another worker while the first attempt still ran, a health check next to a write) rotated it and persisted
  the new value. So the JSESSIONID is refreshed *once* from the store and the call retried. When the store
  has nothing fresher — the holder that received the rotation died before storing it (a worker killed
  between LinkedIn's answer and the commit) — the session is refreshed from LinkedIn itself: a page load
  with the `li_at` hands out the current JSESSIONID, as in a browser (persisted, then the call retried once).
  Only when that too yields nothing new is the refusal reported (LK_ERROR); the integration stays VALID.
- **Expiry and restriction are recorded before the refusal reaches the caller**, with the session that met
  them: `mark_session_expired` ignores an expiry of a session a reconnect has already replaced, and flips
  the integration (event, held work) once per expiry however many calls meet it at the same time.
- Rotations are persisted by the inner adapter's sink before its method returns (activities/sessions.py).
- The session is loaded on the first call, not when the adapter is made: an integration that stopped being
  usable in between (another call met the expiry) surfaces as that call's SessionExpired/AccountRestricted,
  where callers already handle LinkedIn's refusals — and nothing is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from activities.deps import ActivityDeps
from activities.sessions import load_session, mark_restricted, mark_session_expired
from linkedin.protocol import (
    AccountRestricted,
    CsrfFailed,
    LinkedInAdapter,
    Me,
    Page,
    Record,
    SessionCookies,
    SessionExpired,
    WriteResult,
)

log = logging.getLogger("edgewise.sessions")

T = TypeVar("T")

# What a caller sees when the refresh found nothing fresher (the integration stays VALID).
STALE_MESSAGE = (
    "CSRF check failed: LinkedIn no longer accepts the stored JSESSIONID and nothing fresher is stored; "
    "reconnect the integration if this persists"
)


class StoredSessionAdapter:
    """`LinkedInAdapter` over an integration's stored session (see the module docstring)."""

    def __init__(
        self,
        deps: ActivityDeps,
        integration_uid: str,
        proxy_url: str | None,
        statuses: tuple[str, ...],
    ) -> None:
        self._deps = deps
        self._integration_uid = integration_uid
        self._proxy_url = proxy_url
        self._statuses = statuses
        self._session: SessionCookies | None = None
        self._inner: LinkedInAdapter | None = None

    @property
    def session(self) -> SessionCookies:
        """The session as last loaded or rotated (never logged: its repr is redacted)."""
        assert self._session is not None, "open() first"
        return self._session

    async def open(self) -> StoredSessionAdapter:
        """Load the stored session (raises SessionExpired / AccountRestricted when it is not usable)."""
        cookies, sink = await load_session(self._deps, self._integration_uid, statuses=self._statuses)

        async def track(rotated: SessionCookies) -> None:
            await sink(rotated)  # persisted first: a worker that dies right after still has it
            self._session = rotated

        self._session = cookies
        self._inner = self._deps.adapter_factory(cookies, track, self._proxy_url)
        return self

    async def _refresh(self) -> bool:
        """Reload the stored session; True when it holds another JSESSIONID (or a reconnect's session).
        Raises SessionExpired / AccountRestricted when the integration stopped being usable meanwhile (its
        work is then held like any expiry's, not failed)."""
        failed = self.session
        if self._inner is not None:
            await self._inner.aclose()
        await self.open()
        fresher = (self.session.li_at, self.session.jsessionid) != (failed.li_at, failed.jsessionid)
        if not fresher:
            assert self._inner is not None
            fresher = await self._inner.refresh_session()  # persisted through the sink before it returns
        log.info(
            "CSRF check failed on integration %s; %s",
            self._integration_uid,
            "retrying once with a fresher JSESSIONID" if fresher else "LinkedIn gave no fresher JSESSIONID",
        )
        return fresher

    async def _call(self, method: Callable[[LinkedInAdapter], Awaitable[T]]) -> T:
        if self._inner is None:
            await self.open()  # refused by the store itself (not VALID any more): nothing to record
        assert self._inner is not None
        try:
            try:
                return await method(self._inner)
            except CsrfFailed as exc:
                if not await self._refresh():
                    raise CsrfFailed(STALE_MESSAGE, status=exc.status) from None
                return await method(self._inner)  # once: a second CsrfFailed is reported as it is
        except SessionExpired as exc:
            await mark_session_expired(
                self._deps, self._integration_uid, reason=exc.message, session=self.session
            )
            raise
        except AccountRestricted:
            await mark_restricted(self._deps, self._integration_uid)
            raise

    # --- LinkedInAdapter ------------------------------------------------------------------------------

    async def me(self) -> Me:
        return await self._call(lambda a: a.me())

    async def get_profile(self, ref: str, sections: list[str] | None = None) -> Record:
        return await self._call(lambda a: a.get_profile(ref, sections))

    async def get_company(self, slug: str) -> Record:
        return await self._call(lambda a: a.get_company(slug))

    async def search_people(self, params: dict[str, str], start: int, count: int) -> Page:
        return await self._call(lambda a: a.search_people(params, start, count))

    async def search_companies(self, params: dict[str, str], start: int, count: int) -> Page:
        return await self._call(lambda a: a.search_companies(params, start, count))

    async def sales_search_people(self, params: dict[str, str], start: int, count: int) -> Page:
        return await self._call(lambda a: a.sales_search_people(params, start, count))

    async def connections(self, start: int, count: int) -> Page:
        return await self._call(lambda a: a.connections(start, count))

    async def conversations(self, cursor: str | None, count: int, unread_only: bool) -> Page:
        return await self._call(lambda a: a.conversations(cursor, count, unread_only))

    async def messages(self, thread_id: str, cursor: str | None, count: int) -> Page:
        return await self._call(lambda a: a.messages(thread_id, cursor, count))

    async def received_invitations(self, start: int, count: int) -> Page:
        return await self._call(lambda a: a.received_invitations(start, count))

    async def sent_invitations(self, start: int, count: int) -> Page:
        return await self._call(lambda a: a.sent_invitations(start, count))

    async def visit_profile(self, profile_urn: str) -> WriteResult:
        return await self._call(lambda a: a.visit_profile(profile_urn))

    async def connect(self, profile_urn: str, note: str | None, token: str) -> WriteResult:
        # A CSRF refusal comes before LinkedIn looks at the write, and the token de-duplicates: retry-safe.
        return await self._call(lambda a: a.connect(profile_urn, note, token))

    async def send_message(self, profile_urn: str, text: str, token: str) -> WriteResult:
        return await self._call(lambda a: a.send_message(profile_urn, text, token))

    async def find_message_by_token(self, token: str) -> Record | None:
        return await self._call(lambda a: a.find_message_by_token(token))

    async def send_inmail(self, profile_urn: str, subject: str | None, text: str, token: str) -> WriteResult:
        return await self._call(lambda a: a.send_inmail(profile_urn, subject, text, token))

    async def accept_invitation(self, invitation_urn: str, secret: str | None, token: str) -> WriteResult:
        return await self._call(lambda a: a.accept_invitation(invitation_urn, secret, token))

    async def withdraw_invitation(self, invitation_urn: str, token: str) -> WriteResult:
        return await self._call(lambda a: a.withdraw_invitation(invitation_urn, token))

    async def refresh_session(self) -> bool:
        return await self._call(lambda a: a.refresh_session())

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()


async def open_session_adapter(
    deps: ActivityDeps,
    integration_uid: str,
    proxy_url: str | None = None,
    *,
    statuses: tuple[str, ...] = ("VALID",),
) -> StoredSessionAdapter:
    """The integration's stored session as an adapter, through `proxy_url` (the identity's egress); the
    session is loaded by its first call."""
    return StoredSessionAdapter(deps, integration_uid, proxy_url, statuses)

