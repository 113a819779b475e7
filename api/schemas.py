"""Request and response models shared by the routes, and the serializers that build response documents.

Request bodies derive from `StrictModel` (an unknown field → 400 naming it). Responses are plain dicts built
by the `*_out` functions (timestamps already RFC 3339 `…Z` strings); the `*Out` models describe them in
OpenAPI and check them on the way out.

Reusable field types: `IanaTimezone`, `AwareTimestamp`, `Email`, `Timestamp` (response strings).
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from db.models import Identity, Integration, Member, Workspace
from edgewise.timeutil import iso_z, parse_rfc3339


def _reject_nul(value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_nul(key)
            _reject_nul(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_nul(item)


class StrictModel(BaseModel):
    """Base of request bodies: unknown fields are refused, and so are NUL characters in any string
    (PostgreSQL cannot store them: without this check they would fail at the database, not as a 400)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after", check_fields=False)
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        _reject_nul(value)
        return value


Timestamp = Annotated[
    str, Field(json_schema_extra={"format": "date-time"}, examples=["2026-01-31T08:00:00.000Z"])
]
Role = Literal["admin", "ops", "user"]


# --- reusable validated types ---------------------------------------------------------------------------

# Canonical IANA areas; `Etc/…` (offset zones like Etc/GMT-2) and legacy aliases (`US/…`, `CET`) are refused.
_TZ_AREAS = frozenset(
    {
        "Africa",
        "America",
        "Antarctica",
        "Arctic",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
    }
)


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_timezone(value: str) -> str:
    """`Area/Location` of the IANA database, or `UTC` (API.md §1); abbreviations and offsets are refused."""
    if value == "UTC":
        return value
    area = value.split("/", 1)[0]
    if "/" not in value or area not in _TZ_AREAS or value not in _known_zones():
        raise ValueError(
            "must be an IANA time zone like 'Europe/Paris' or 'UTC' (no abbreviations or offsets)"
        )
    return value


def parse_timestamp(value: Any) -> datetime:
    """A request timestamp (RFC 3339 with an offset) as an aware UTC datetime; ValueError with the client's
    message otherwise (edgewise.timeutil.parse_rfc3339 parses every timestamp a client sends)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamp must carry an offset (e.g. 'Z' or '+02:00')")
        return value
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 timestamp string")
    return parse_rfc3339(value)


_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# RFC 5321 §4.5.3.1: local part ≤ 64 octets, domain ≤ 255 (each label ≤ 63, RFC 1035), and a path of
# ≤ 256 octets including its angle brackets, so an address of ≤ 254.
MAX_EMAIL_LOCAL = 64
MAX_EMAIL_DOMAIN = 255
MAX_EMAIL_LABEL = 63
MAX_EMAIL = 254


def validate_email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL_RE.match(value):
        raise ValueError("must be an email address")
    local, domain = value.rsplit("@", 1)
    if len(local.encode()) > MAX_EMAIL_LOCAL:
        raise ValueError(f"the part before @ must be at most {MAX_EMAIL_LOCAL} characters (RFC 5321)")
    if len(domain.encode()) > MAX_EMAIL_DOMAIN or any(
        len(label.encode()) > MAX_EMAIL_LABEL for label in domain.split(".")
    ):
        raise ValueError(
            f"the domain must be at most {MAX_EMAIL_DOMAIN} characters, each label at most "
            f"{MAX_EMAIL_LABEL} (RFC 5321)"
        )
    if len(value.encode()) > MAX_EMAIL:
        raise ValueError(f"must be at most {MAX_EMAIL} characters (RFC 5321)")
    return value


IanaTimezone = Annotated[str, AfterValidator(validate_timezone), Field(examples=["Europe/Paris"])]
# A request timestamp: RFC 3339 with an offset; naive → 400. Parsed to an aware UTC datetime.
AwareTimestamp = Annotated[datetime, BeforeValidator(parse_timestamp)]
Email = Annotated[str, AfterValidator(validate_email), Field(examples=["ops@acme.test"])]
# Surrounding spaces are dropped before the length check.
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=255),
    Field(examples=["Alice (sales)"]),
]


# --- errors / misc --------------------------------------------------------------------------------------


class StatusOut(BaseModel):
    status: str


# --- workspace ------------------------------------------------------------------------------------------


def credits(cents: int | None) -> float:
    """Credits are stored in hundredths; the API shows a number with at most 2 decimals."""
    return round((cents or 0) / 100, 2)


class WebhookRef(BaseModel):
    url: str


class WorkspaceOut(BaseModel):
    uid: str
    name: str
    credits_used: float
    webhook: WebhookRef | None
    created_at: Timestamp


def workspace_out(workspace: Workspace) -> dict[str, Any]:
    return {
        "uid": workspace.uid,
        "name": workspace.name,
        "credits_used": credits(workspace.credits_used_cents),
        "webhook": {"url": workspace.webhook_url} if workspace.webhook_url else None,
        "created_at": iso_z(workspace.created_at),
    }


class WebhookIn(StrictModel):
    url: str = Field(description="http(s) URL receiving the workspace's integration events")


class WebhookOut(BaseModel):
    url: str | None
    secret: str = Field(description="Signing secret (`whsec_…`) of webhook events and run callbacks")


class SecretOut(BaseModel):
    secret: str


class ActionConsumption(BaseModel):
    action_name: str
    credits: float
    results: int


class ConsumptionOut(BaseModel):
    credits_used: float
    by_action: list[ActionConsumption]
    period_start: Timestamp
    period_end: Timestamp


# --- members --------------------------------------------------------------------------------------------


class MemberCreate(StrictModel):
    email: Email
    role: Role


class MemberUpdate(StrictModel):
    role: Role


class MemberOut(BaseModel):
    uid: str
    email: str
    role: Role
    created_at: Timestamp


class MemberCreatedOut(MemberOut):
    api_key: str | None = Field(
        default=None, description="Shown once; absent when an idempotent repeat replays the creation"
    )


class ApiKeyOut(BaseModel):
    api_key: str


def member_out(member: Member, api_key: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "uid": member.uid,
        "email": member.email,
        "role": member.role,
        "created_at": iso_z(member.created_at),
    }
    if api_key is not None:
        out["api_key"] = api_key
    return out


# --- identities -----------------------------------------------------------------------------------------

_HHMM_RE = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")

DEFAULT_WORKING_HOURS: dict[str, Any] = {"days": [1, 2, 3, 4, 5], "start": "08:00", "end": "19:00"}


class WorkingHours(StrictModel):
    """When async and scheduled outreach may run, in the identity's time zone (ISO weekdays 1 = Monday)."""

    days: list[Annotated[StrictInt, Field(ge=1, le=7)]] = Field(
        min_length=1, max_length=7, examples=[[1, 2, 3]]
    )
    start: str = Field(examples=["08:00"], description="HH:MM, 24-hour")
    end: str = Field(examples=["19:00"], description="HH:MM, 24-hour, after start")

    @field_validator("days")
    @classmethod
    def _unique_days(cls, days: list[int]) -> list[int]:
        if len(set(days)) != len(days):
            raise ValueError("days must be unique")
        return days

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM_RE.match(value):
            raise ValueError("must be a time HH:MM (00:00–23:59)")
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> WorkingHours:
        if self.start >= self.end:
            raise ValueError("end must be after start")
        return self


class IdentityCreate(StrictModel):
    name: Name
    timezone: IanaTimezone = "UTC"
    working_hours: WorkingHours | None = Field(
        default=None,
        description='Default {"days": [1,2,3,4,5], "start": "08:00", "end": "19:00"}; null means any time',
    )


class IdentityUpdate(StrictModel):
    """Fields left out keep their value; `working_hours: null` means any time."""

    name: Name | None = None
    timezone: IanaTimezone | None = None
    working_hours: WorkingHours | None = None


class EgressOut(BaseModel):
    proxy_id: str
    country: str | None


class IntegrationOut(BaseModel):
    uid: str
    identity_uid: str
    type: Literal["linkedin"]
    status: Literal["PENDING", "VALID", "INVALID", "RESTRICTED"]
    level: Literal["classic", "premium", "sales_navigator"] | None
    account_name: str | None
    linkedin_profile_id: int | None
    linkedin_profile_urn: str | None
    checkpoint: dict[str, Any] | None = Field(description="{type, expires_at, attempts_left} while PENDING")
    last_error: dict[str, Any] | None
    connected_at: Timestamp | None
    updated_at: Timestamp


class WorkingHoursOut(BaseModel):
    days: list[int]
    start: str
    end: str


class IdentityOut(BaseModel):
    uid: str
    name: str
    timezone: str
    working_hours: WorkingHoursOut | None
    egress: EgressOut | None
    integrations: list[IntegrationOut]
    created_at: Timestamp
    updated_at: Timestamp


def integration_out(integration: Integration) -> dict[str, Any]:
    """The contract's Integration object (API.md §3). Never includes cookies or other secrets."""
    return {
        "uid": integration.uid,
        "identity_uid": integration.identity_uid,
        "type": integration.type,
        "status": integration.status,
        "level": integration.level,
        "account_name": integration.account_name,
        "linkedin_profile_id": integration.linkedin_profile_id,
        "linkedin_profile_urn": integration.linkedin_profile_urn,
        "checkpoint": integration.checkpoint,
        "last_error": integration.last_error,
        "connected_at": iso_z(integration.connected_at),
        "updated_at": iso_z(integration.updated_at),
    }


def identity_out(identity: Identity, integrations: list[Integration]) -> dict[str, Any]:
    """The Identity object; `integrations` are its non-deleted ones (the caller loads them)."""
    egress = (
        {"proxy_id": identity.egress_proxy_id, "country": identity.egress_country}
        if identity.egress_proxy_id
        else None
    )
    return {
        "uid": identity.uid,
        "name": identity.name,
        "timezone": identity.timezone,
        "working_hours": identity.working_hours,
        "egress": egress,
        "integrations": [integration_out(i) for i in integrations if i.deleted_at is None],
        "created_at": iso_z(identity.created_at),
        "updated_at": iso_z(identity.updated_at),
    }
