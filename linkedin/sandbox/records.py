"""Mutable state records: what accounts did to the world at run time. Times are epoch milliseconds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

OutboxKind = Literal["message", "inmail", "invitation", "visit"]
FaultScope = Literal["all", "reads", "writes"]

SENT_INVITATION_ID_BASE = 8_000_000_000


@dataclass
class Session:
    li_at: str
    account_id: int
    jsessionid: str
    created_at: int
    expired: bool = False


@dataclass
class OutboxEntry:
    """One write the account made. Messages and InMails also carry their thread and message ids."""

    id: int
    account_id: int
    kind: OutboxKind
    to_member_id: int
    to_urn: str
    at: int
    text: str | None = None
    subject: str | None = None
    note: str | None = None
    thread_id: str | None = None
    message_id: str | None = None
    token: str | None = None


@dataclass
class SentInvitation:
    id: int
    account_id: int
    to_member_id: int
    note: str | None
    token: str | None
    secret: str
    sent_at: int
    state: Literal["pending", "accepted", "withdrawn"] = "pending"
    updated_at: int | None = None

    @property
    def urn(self) -> str:
        return f"urn:li:fsd_invitation:{self.id}"


@dataclass
class ReceivedChange:
    """A received (generated) invitation the account accepted."""

    invitation_id: int
    account_id: int
    state: Literal["accepted"]
    at: int


@dataclass
class TokenRecord:
    """A write token already used: the same token returns `result` and does nothing else."""

    account_id: int
    token: str
    kind: str
    result: dict[str, Any] = field(default_factory=dict)


@dataclass
class Fault:
    account_id: int | None  # None: every account
    latency_ms: int = 0
    error_rate: float = 0.0
    scope: FaultScope = "all"
    # When set, a failing write is applied first and then answered with a 5xx (an ambiguous outcome).
    after_write: bool = False

    def applies(self, write: bool) -> bool:
        return self.scope == "all" or (self.scope == "writes") == write


@dataclass
class Restriction:
    account_id: int
    reason: str
    at: int


@dataclass
class Challenge:
    """A login checkpoint (PIN, 2FA, IN_APP_VALIDATION or CAPTCHA) waiting for the member."""

    id: str
    account_id: int
    type: str
    code: str | None
    created_at: int
    expires_at: int
    attempts_left: int = 3
    state: Literal["pending", "approved", "passed", "failed"] = "pending"
