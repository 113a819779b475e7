"""Request body and documented response of schedules (API.md §5 "schedule", §6). Strict: an unknown field is
a 400 naming it; `cron`, `schedule_at` and `timezone` are checked here so their 400s name them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from api.run_bodies import AsyncRunBody, CallbackOut, no_nul
from api.schemas import validate_timezone
from edgewise.cron import CronError, next_firing, parse_cron
from edgewise.timeutil import parse_rfc3339, utcnow

# Temporal spreads each firing over [0, jitter); an hour keeps "within 30 s of its time (plus jitter)" useful.
MAX_JITTER_SECONDS = 3600


class ScheduleRunBody(AsyncRunBody):
    """The async body plus when to run it: `cron` and/or `schedule_at` (neither → 400)."""

    cron: str | None = Field(
        default=None,
        description="Five fields: minute hour day-of-month month day-of-week (no macros, seconds or CRON_TZ)",
        examples=["0 9 * * 1-5"],
    )
    schedule_at: datetime | None = Field(
        default=None,
        description="RFC 3339 with an offset, in the future: alone, a one-shot; with `cron`, when it starts",
    )
    timezone: str = Field(default="UTC", description="IANA time zone of `cron`", examples=["Europe/Paris"])
    jitter_seconds: int = Field(default=0, ge=0, le=MAX_JITTER_SECONDS)
    name: str | None = Field(default=None, max_length=255)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            cron = parse_cron(value)
        except CronError as exc:
            raise ValueError(str(exc)) from None
        if next_firing(cron, "UTC", utcnow()) is None:
            raise ValueError("never fires (no such date)")
        return value  # kept exactly as given

    @field_validator("schedule_at", mode="before")
    @classmethod
    def _schedule_at(cls, value: Any) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("must be an RFC 3339 timestamp string")
        try:
            parsed = parse_rfc3339(value)
        except ValueError as exc:
            if "offset" in str(exc):
                raise
            raise ValueError(
                "must be an RFC 3339 timestamp with an offset, e.g. 2026-01-31T08:00:00Z"
            ) from None
        if parsed <= utcnow():
            raise ValueError("must be in the future")
        return parsed

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return validate_timezone(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        no_nul(value, "name")
        return value


class ScheduleOut(BaseModel):
    uid: str
    name: str | None
    action_name: str
    status: Literal["ACTIVE", "PAUSED", "CANCELLED", "COMPLETED"]
    cron: str | None
    timezone: str
    schedule_at: str | None
    jitter_seconds: int
    next_execution_at: str | None = Field(description="The nominal next firing (before jitter)")
    last_executed_at: str | None
    runs_count: int
    skipped_count: int
    inputs_count: int
    identity_mode: Literal["direct", "auto", "managed"]
    identity_ids: list[str]
    parameters: dict[str, Any]
    callback: CallbackOut | None
    created_at: str
    updated_at: str
