"""Request bodies of the run routes (strict: an unknown field is a 400 naming it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_INPUTS = 100_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CallbackBody(_Strict):
    url: str = Field(max_length=2048)
    headers: dict[str, str] | None = None
    on: Literal["all", "final"] = "all"


class _RunBody(_Strict):
    parameters: dict[str, Any] | None = None
    identity_ids: list[str] | None = Field(default=None, max_length=1000)
    identity_mode: Literal["direct", "auto", "managed"] = "direct"


class LiveRunBody(_RunBody):
    input: dict[str, Any] = Field(default_factory=dict)


class AsyncRunBody(_RunBody):
    inputs: list[Any] = Field(min_length=1, max_length=MAX_INPUTS)
    label: str | None = Field(default=None, max_length=255)
    callback: CallbackBody | None = None


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
