"""The LinkedIn adapter protocol: what activities may ask of LinkedIn, and the typed refusals.

The real implementation (linkedin.http_adapter) talks to LINKEDIN_BASE_URL over HTTP — the sandbox by
default, the same code against linkedin.com. Activities depend on this protocol only.

Records are plain dicts shaped like ACTIONS.md's output fields (people, company, thread, message,
invitation), so catalog entries can hand them straight to run outputs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

Record = dict[str, Any]


@dataclass
class SessionCookies:
    """An authenticated LinkedIn browser session. Never logged, never passed through Temporal."""

    li_at: str
    jsessionid: str  # "ajax:…", stored without surrounding quotes
    li_a: str | None = None
    user_agent: str | None = None

    def __repr__(self) -> str:  # keep secrets out of tracebacks and logs
        return "SessionCookies(<redacted>)"


# Called with the rotated session before the adapter method returns, so a restarted worker uses it.
CookieSink = Callable[[SessionCookies], Awaitable[None]]


@dataclass
class Me:
    linkedin_profile_id: int
    linkedin_profile_urn: str
    public_identifier: str
    first_name: str
    last_name: str
    level: str  # classic | premium | sales_navigator


@dataclass
class Page:
    """One page of a list. `next_start` (offset paging) or `next_cursor` (cursor paging) is None at the end.

    `total` is what LinkedIn reports as available (search results are capped by LinkedIn itself).
    """

    items: list[Record]
    next_start: int | None = None
    next_cursor: str | None = None
    total: int | None = None
    capped: bool = False  # LinkedIn's own result cap stopped this listing although more matched


@dataclass
class WriteResult:
    """Outcome of a write. `sent` is False when LinkedIn did nothing (already pending, connected, accepted
    or withdrawn). A replay of the same write token reports the original write: a token is one run input's,
    so a replay means an earlier attempt of that input sent it and lost the answer — it still counts once."""

    record: Record
    sent: bool = True


# ---------------------------------------------------------------------------------------------------------
# Refusals. Each maps to a contract label (API.md §1); activities translate them into input errors,
# integration status changes or postponements.


class LinkedInError(Exception):
    label = "LK_ERROR"

    def __init__(self, message: str, *, status: int | None = None, params: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.params = dict(params or {})
        if status is not None:
            self.params.setdefault("linkedin_status", status)


class SessionExpired(LinkedInError):
    """The session is dead (LinkedIn's redirect loop to the login wall, or a 401)."""

    label = "INTEGRATION_INVALID"


class CsrfFailed(LinkedInError):
    """403 "CSRF check failed": the JSESSIONID is stale. Not an expiry: refresh once, then report."""

    label = "LK_ERROR"


class AccountRestricted(LinkedInError):
    label = "INTEGRATION_RESTRICTED"


class Throttled(LinkedInError):
    """LinkedIn answered 429; wait `retry_after_seconds`."""

    label = "LIMIT_REACHED"

    def __init__(self, message: str, *, retry_after_seconds: float, status: int | None = 429):
        super().__init__(message, status=status)
        self.retry_after_seconds = retry_after_seconds


class NotConnected(LinkedInError):
    label = "NOT_CONNECTED"


class ProfileNotAccessible(LinkedInError):
    """No such profile, or not visible to this account."""

    label = "PROFILE_NOT_ACCESSIBLE"


class CustomInviteLimitReached(LinkedInError):
    label = "CUSTOM_INVITE_LIMIT_REACHED"


class SalesNavigatorRequired(LinkedInError):
    label = "SN_ACCOUNT_UPGRADE"


class RequestNotSendable(LinkedInError):
    """The request could not even be built (a URL too long for HTTP, a header value with a line break or a
    non-ASCII character): it never left, and it never will, so it is not retried."""

    label = "LK_ERROR"


class LinkedInUnavailable(LinkedInError):
    """A 5xx, a timeout or a connection failure: transient, safe to retry (writes carry a token)."""

    label = "LK_ERROR"


class LinkedInAdapter(Protocol):
    """One authenticated account's view of LinkedIn. Instances are cheap and bound to one session."""

    async def me(self) -> Me: ...

    async def get_profile(self, ref: str, sections: list[str] | None = None) -> Record:
        """`ref` is a slug (decoded, lower-case) or a `urn:li:fsd_profile:…`. People fields + extras."""
        ...

    async def get_company(self, slug: str) -> Record: ...

    async def search_people(self, params: dict[str, str], start: int, count: int) -> Page: ...

    async def search_companies(self, params: dict[str, str], start: int, count: int) -> Page: ...

    async def sales_search_people(self, params: dict[str, str], start: int, count: int) -> Page: ...

    async def connections(self, start: int, count: int) -> Page: ...

    async def conversations(self, cursor: str | None, count: int, unread_only: bool) -> Page: ...

    async def messages(self, thread_id: str, cursor: str | None, count: int) -> Page: ...

    async def received_invitations(self, start: int, count: int) -> Page: ...

    async def sent_invitations(self, start: int, count: int) -> Page: ...

    async def visit_profile(self, profile_urn: str) -> WriteResult: ...

    async def connect(self, profile_urn: str, note: str | None, token: str) -> WriteResult:
        """Send an invitation. Already pending or connected → WriteResult(sent=False) with the state."""
        ...

    async def send_message(self, profile_urn: str, text: str, token: str) -> WriteResult:
        """Send a message to a first-degree connection; the token de-duplicates (LinkedIn's originToken)."""
        ...

    async def find_message_by_token(self, token: str) -> Record | None:
        """Read back a message sent with this token (after a timeout or an ambiguous answer)."""
        ...

    async def send_inmail(
        self, profile_urn: str, subject: str | None, text: str, token: str
    ) -> WriteResult: ...

    async def accept_invitation(self, invitation_urn: str, secret: str | None, token: str) -> WriteResult: ...

    async def withdraw_invitation(self, invitation_urn: str, token: str) -> WriteResult: ...

    async def refresh_session(self) -> bool:
        """Load a page as a browser would, with the session's `li_at`: LinkedIn answers with the session's
        current JSESSIONID (persisted through the rotation sink). True when it differs from the one held."""
        ...

    async def aclose(self) -> None: ...


@dataclass
class AdapterConfig:
    base_url: str
    timeout_seconds: float = 20.0
    proxy_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class AdapterFactory(Protocol):
    """Builds an adapter for one session. `on_rotate` persists rotated cookies before a call returns."""

    def __call__(
        self, cookies: SessionCookies, on_rotate: CookieSink, proxy_url: str | None = None
    ) -> LinkedInAdapter: ...
