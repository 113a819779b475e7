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
