"""The per-account workflow's session health check: its DTOs and its (pure, deterministic) schedule.

An idle account meets no LinkedIn refusal, so nothing would notice its session expiring (or a restriction
lifting) until the next action fails. While a session of the account is connected, its workflow therefore
probes it every
`HEALTH_CHECK_INTERVAL_SECONDS`, ± `HEALTH_CHECK_JITTER` of that at random: accounts connected together (a
managed pool provisioned at start, a bulk import) do not all probe LinkedIn in the same second, and no
account shows a fixed-period request pattern. The interval is the workers' setting, learnt from each
check's report, so a changed setting applies from the next check without restarting any workflow.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

# Before a workflow has learnt the workers' interval (its first report failed), it tries again this soon.
FALLBACK_INTERVAL_SECONDS = 3600.0
# With health checks switched off (interval 0), look at the setting again this often.
DISABLED_RECHECK_SECONDS = 86400.0
# Never probe more often than this, whatever the jitter draws.
MIN_DELAY_SECONDS = 1.0


class HealthCheckInput(BaseModel):
    """Activity `check_account_health`. `probe=False` only reports the schedule (no LinkedIn call)."""

    linkedin_profile_id: int
    probe: bool = True


class HealthReport(BaseModel):
    """What a check found and the workers' schedule. `outcome`: VALID (the session answers), INVALID /
    RESTRICTED (found now, or the integration already was), PENDING, NONE (no connected integration),
    CHANGED (its status changed while the check began), CSRF / THROTTLED / UNAVAILABLE / LK_ERROR /
    NO_EGRESS_AVAILABLE (no verdict this time), IN_USE (a lease holder is using the session: not probed),
    ERROR (the check itself failed), SCHEDULE (not probed: only the schedule was asked)."""

    outcome: str
    interval_seconds: float
    jitter: float


class HealthState(BaseModel):
    """Carried across continue-as-new in the account's state."""

    # On from the moment a session of the account is connected (signal `watch_session`), off when a check
    # finds no connected integration any more (disconnected): an account nobody connected is never probed.
    enabled: bool = False
    interval_seconds: float | None = None  # the workers' setting, as last reported (0: switched off)
    jitter: float = 0.0
    next_check_at: datetime | None = None  # None: learn the schedule first
    last_check_at: datetime | None = None
    last_outcome: str | None = None
    checks: int = 0


def next_delay(interval_seconds: float | None, jitter: float, draw: float) -> float:
    """Seconds until the next check: the interval ± `jitter` of it, `draw` uniform in [0, 1) (from
    workflow.random(), so replays draw the same)."""
    if interval_seconds is None:
        return FALLBACK_INTERVAL_SECONDS
    if interval_seconds <= 0:
        return DISABLED_RECHECK_SECONDS
    spread = min(max(jitter, 0.0), 1.0)
    return max(MIN_DELAY_SECONDS, interval_seconds * (1.0 + spread * (2.0 * draw - 1.0)))
