"""Smart Limits (API.md §7): the bucket table and effective limits. Pure: no I/O, no clock.

(The sliding windows, ramp-up, pacing and working hours are being added alongside the per-account workflow.)
"""

from __future__ import annotations

from typing import Any

DAY = 24 * 3600
# bucket → ({level: default limit, None = unlimited}, window seconds)
BUCKETS: dict[str, tuple[dict[str, int | None], int]] = {
    "LK_PROFILE_VISITS": ({"classic": 80, "premium": 80, "sales_navigator": 150}, DAY),
    "LK_CONNECTION_REQUESTS": ({"classic": 25, "premium": 25, "sales_navigator": 30}, DAY),
    "LK_CONNECTION_REQUESTS_WEEKLY": ({"classic": 100, "premium": 100, "sales_navigator": 150}, 7 * DAY),
    "LK_CONNECTION_NOTES": ({"classic": 5, "premium": None, "sales_navigator": None}, 30 * DAY),
    "LK_MESSAGES_SENT": ({"classic": 100, "premium": 100, "sales_navigator": 100}, DAY),
    "LK_INMAILS": ({"classic": 0, "premium": 15, "sales_navigator": 50}, 30 * DAY),
    "LK_PROFILE_ENRICHMENTS": ({"classic": 1400, "premium": 1400, "sales_navigator": 2100}, DAY),
    "LK_SEARCH_RESULTS": ({"classic": 1000, "premium": 1000, "sales_navigator": 2500}, DAY),
    "LK_INVITATION_ACTIONS": ({"classic": 100, "premium": 100, "sales_navigator": 100}, DAY),
}


def default_limit(bucket: str, level: str) -> int | None:
    return BUCKETS[bucket][0].get(level, BUCKETS[bucket][0]["classic"])


def effective_limit(
    bucket: str, level: str, workspace_overrides: dict[str, Any], identity_overrides: dict[str, Any]
) -> int | None:
    """Identity overrides win over workspace overrides; either is capped at 2× the level's default."""
    default = default_limit(bucket, level)
    override = identity_overrides.get(bucket, workspace_overrides.get(bucket))
    if override is None:
        return default
    if default is None:
        return int(override)
    return min(int(override), 2 * default)
