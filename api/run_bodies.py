"""Request bodies of the run routes (strict: an unknown field is a 400 naming it)."""

from __future__ import annotations

import re
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_INPUTS = 100_000
MAX_CALLBACK_HEADERS = 20
MAX_HEADER_VALUE = 1024
# RFC 9110 token: what a header name may be made of.
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$")
# RFC 9110 field-content without obs-text: visible ASCII, spaces and tabs (what an HTTP client can send).
_HEADER_VALUE_RE = re.compile(r"[\x20-\x7e\t]*")
# Set by edgewise on every delivery: a caller may not replace them.
RESERVED_HEADERS = frozenset(
    {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "content-type",
        "content-length",
        "host",
        "transfer-encoding",
        "connection",
    }
)


class NulCharacter(ValueError):
    """A NUL character in a request's JSON; `field` is its path (`parameters.message`, `inputs[3].x`)."""

    def __init__(self, field: str):
        super().__init__(f"{field} must not contain NUL characters")
        self.field = field


def no_nul(value: Any, where: str = "") -> None:
    """Refuse NUL characters anywhere in a JSON value (they break storage and LinkedIn alike), naming the
    exact field that holds one."""
    if isinstance(value, str):
        if "\x00" in value:
            raise NulCharacter(where or "value")
    elif isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if "\x00" in str(key):
                raise NulCharacter(path.replace("\x00", "\\u0000"))
            no_nul(item, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            no_nul(item, f"{where}[{index}]")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CallbackBody(_Strict):
    url: str = Field(max_length=2048)
    headers: dict[str, str] | None = Field(default=None, max_length=MAX_CALLBACK_HEADERS)
    on: Literal["all", "final"] = "all"

    @field_validator("headers")
    @classmethod
    def _valid_headers(cls, headers: dict[str, str] | None) -> dict[str, str] | None:
        """Header names are tokens, values single-line and bounded, edgewise's own headers are not theirs."""
        for name, value in (headers or {}).items():
            if not _HEADER_NAME_RE.match(name):
                raise ValueError(f"header name {name[:40]!r} is not a valid HTTP header name")
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by edgewise and cannot be overridden")
            if len(value) > MAX_HEADER_VALUE or not _HEADER_VALUE_RE.fullmatch(value):
                raise ValueError(
                    f"header {name!r}: value must be one line of printable ASCII, at most "
                    f"{MAX_HEADER_VALUE} characters"
                )
        return headers


class _RunBody(_Strict):
    parameters: dict[str, Any] | None = None
    identity_ids: list[str] | None = Field(default=None, max_length=1000)
    identity_mode: Literal["direct", "auto", "managed"] = "direct"

    @field_validator("identity_ids")
    @classmethod
    def _uuids(cls, ids: list[str] | None) -> list[str] | None:
        for uid in ids or []:
            try:
                UUID(uid)
            except ValueError:
                raise ValueError(f"{uid[:40]!r} is not an identity uid (a UUID)") from None
        return [str(UUID(uid)) for uid in ids] if ids else ids


class LiveRunBody(_RunBody):
    input: dict[str, Any] = Field(default_factory=dict)


class AsyncRunBody(_RunBody):
    inputs: list[Any] = Field(min_length=1, max_length=MAX_INPUTS)
    label: str | None = Field(default=None, max_length=255)
    callback: CallbackBody | None = None

    @field_validator("label")
    @classmethod
    def _label(cls, label: str | None) -> str | None:
        no_nul(label, "label")
        return label


# --- documented response shapes (the routes build them in api/run_schemas.py) -----------------------------


class CallbackOut(BaseModel):
    url: str
    on: Literal["all", "final"]


class RunOut(BaseModel):
    uid: str
    action_name: str
    execution_mode: Literal["LIVE", "ASYNC", "SCHEDULED"]
    status: Literal[
        "CREATED",
        "QUEUED",
        "SCHEDULED",
        "RUNNING",
        "BLOCKED",
        "STOPPED",
        "SUCCEEDED",
        "FAILED",
        "PARTIAL_SUCCEEDED",
    ]
    label: str | None
    identity_mode: Literal["direct", "auto", "managed"]
    identity_ids: list[str]
    parameters: dict[str, Any]
    callback: CallbackOut | None
    inputs_count: int
    inputs_done: int
    output_count: int
    credits_used: float
    warnings: list[dict[str, Any]]
    last_error: dict[str, Any] | None
    postponed_until: str | None
    schedule_uid: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    updated_at: str


class RunStatusOut(BaseModel):
    uid: str
    status: str
    inputs_done: int
    inputs_count: int
    output_count: int
    postponed_until: str | None


class RunInputOut(BaseModel):
    uid: str
    index: int
    status: Literal["QUEUED", "SCHEDULED", "RUNNING", "BLOCKED", "SUCCEEDED", "FAILED", "STOPPED"]
    input: dict[str, Any]
    custom_data: dict[str, Any] | None
    identity_uid: str | None
    output_count: int
    error: dict[str, Any] | None
    postponed_until: str | None
    started_at: str | None
    finished_at: str | None


class RunOutputOut(BaseModel):
    """The action's `output_fields` (GET /v1/actions/{slug}) plus these."""

    model_config = ConfigDict(extra="allow")
    run_input_uid: str
    identity_uid: str | None
    custom_data: dict[str, Any] | None
    extracted_at: str
