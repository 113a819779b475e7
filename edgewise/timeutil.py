"""Aware-UTC time helpers: every timestamp edgewise stores or returns is UTC, rendered with `Z`."""

from __future__ import annotations

import re
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Treat a naive datetime (SQLite hands those back) as UTC; convert an aware one to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso_z(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a `Z`, millisecond precision."""
    if value is None:
        return None
    return as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# The UTC offset ending a timestamp (`+02:00`, `-0130`; seconds are not RFC 3339's, but Python takes them).
_OFFSET_RE = re.compile(r"[Tt ][^+-]*[+-](\d{2}):?(\d{2})(:?\d{2}(?:\.\d*)?)?\Z")


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp that carries an offset into an aware UTC datetime. Every timestamp a client
    sends goes through here; ValueError, with a message for the client, for a text that is not one, a naive
    timestamp, an offset outside ±23:59, or an instant outside years 0001–9999 once in UTC."""
    if len(text) > 64:  # the longest a timestamp gets (nanoseconds and an offset) is about 35
        raise ValueError("must be an RFC 3339 timestamp with an offset, e.g. 2026-01-31T08:00:00Z")
    offset = _OFFSET_RE.search(text)
    if offset and (offset.group(3) or int(offset.group(1)) > 23 or int(offset.group(2)) > 59):
        raise ValueError("the UTC offset must be ±HH:MM, between -23:59 and +23:59")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError("must be an RFC 3339 timestamp with an offset, e.g. 2026-01-31T08:00:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError("timestamp must carry an offset (e.g. 'Z' or '+02:00')")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z (UTC)") from None
