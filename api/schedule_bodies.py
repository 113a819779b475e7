"""Request body and documented response of schedules (API.md §5 "schedule", §6). Strict: an unknown field is
a 400 naming it; `cron`, `schedule_at` and `timezone` are checked here so their 400s name them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from api.run_bodies import AsyncRunBody, CallbackOut, no_nul
from api.schemas import parse_timestamp, validate_timezone
from edgewise.cron import CronError, next_firing, parse_cron
from edgewise.schedule_spec import SCHEDULE_HORIZON
from edgewise.timeutil import utcnow

_HORIZON = SCHEDULE_HORIZON.isoformat().replace("+00:00", "Z")

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
        description="RFC 3339 with an offset, in the future and before 2100-01-01T00:00:00Z: alone, a "
        "one-shot (a fraction of a second is rounded up); with `cron`, when it starts",
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
        parsed = parse_timestamp(value)
        if parsed <= utcnow():
            raise ValueError("must be in the future")
        if parsed >= SCHEDULE_HORIZON:
            raise ValueError(f"must be before {_HORIZON}")
        return parsed

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return validate_timezone(value)

    def never_fires_in_time(self) -> dict[str, str] | None:
        """The validation error of a cron that does not fire before SCHEDULE_HORIZON (counted from
        `schedule_at` when given: naming it then, else `cron`), or None. Checked once the body is valid."""
        if self.cron is None:
            return None
        after = (self.schedule_at or utcnow()) - timedelta(microseconds=1)  # it starts *at* schedule_at
        first = next_firing(parse_cron(self.cron), self.timezone, after)
        if first is not None and first.at < SCHEDULE_HORIZON:
            return None
        field = "schedule_at" if self.schedule_at is not None else "cron"
        return {"field": field, "message": f"the cron must fire at least once before {_HORIZON}"}

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
