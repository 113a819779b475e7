"""The generated world's immutable records. Times are epoch milliseconds (the sandbox's wire format)."""

from __future__ import annotations

from dataclasses import dataclass, field

from linkedin.sandbox import ids


@dataclass(frozen=True, slots=True)
class Company:
    id: int
    slug: str  # universal name, lower-case
    name: str
    industry: str
    employees: tuple[int, int | None]
    headquarters: str
    website: str

    @property
    def url(self) -> str:
        return ids.COMPANY_URL_PREFIX + self.slug

    @property
    def employee_count_range(self) -> str:
        low, high = self.employees
        return f"{low}-{high}" if high is not None else f"{low}+"


@dataclass(frozen=True, slots=True)
class Position:
    title: str
    company: Company
    location: str
    start: tuple[int, int]  # (year, month)
    end: tuple[int, int] | None  # None: current
    description: str


@dataclass(frozen=True, slots=True)
class Education:
    school: str
    degree: str
    field_of_study: str
    start_year: int
    end_year: int


@dataclass(frozen=True, slots=True)
class Person:
    """A LinkedIn member: one of the world's people, or a sandbox account's own profile."""

    member_id: int
    token: str  # the opaque part of `urn:li:fsd_profile:…`
    slug: str  # public identifier: lower-case, NFC
    first_name: str
    last_name: str
    headline: str
    location: str
    geo_id: int
    industry: str
    positions: tuple[Position, ...]
    educations: tuple[Education, ...]
    skills: tuple[str, ...]
    # Lower-cased "first last headline", what keyword searches match against.
    search_text: str = field(repr=False)

    @property
    def urn(self) -> str:
        return ids.PROFILE_URN_PREFIX + self.token

    @property
    def url(self) -> str:
        return ids.PROFILE_URL_PREFIX + self.slug

    @property
    def current_company(self) -> Company | None:
        for position in self.positions:
            if position.end is None:
                return position.company
        return None


@dataclass(frozen=True, slots=True)
class Message:
    message_id: str
    sender_id: int  # member id (the account's own profile, or the other person)
    text: str
    at: int


@dataclass(frozen=True, slots=True)
class Conversation:
    thread_id: str
    member_id: int  # the other participant
    messages: tuple[Message, ...]  # oldest first
    unread: bool


@dataclass(frozen=True, slots=True)
class ReceivedInvitation:
    id: int
    account_id: int
    from_member_id: int
    secret: str
    message: str | None
    sent_at: int

    @property
    def urn(self) -> str:
        return f"{ids.INVITATION_URN_PREFIX}{self.id}"


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    username: str
    password: str
    level: str  # classic | premium | sales_navigator
    login: str  # none | pin | 2fa | in_app | captcha
    profile: Person
    # (member id, connected_at) newest first.
    connections: tuple[tuple[int, int], ...]
    connection_ids: frozenset[int]
    received_invitations: tuple[ReceivedInvitation, ...]
    conversations: tuple[Conversation, ...]

    @property
    def premium(self) -> bool:
        return self.level in ("premium", "sales_navigator")

    @property
    def sales_navigator(self) -> bool:
        return self.level == "sales_navigator"
