"""Activity `check_account_health`: the per-account workflow's periodic probe of its LinkedIn session.

One cheap read (`me`) with the stored session, through the identity's egress proxy. What LinkedIn answers
is recorded by the session adapter exactly as for an action (activities/session_adapter.py): an expired
session flips the integration to INVALID with AUTH_EXPIRED and holds its work — once per expiry, whoever
meets it first. A RESTRICTED integration is probed too: when LinkedIn answers it again, the restriction has
lifted, so it is VALID again (AUTH_UPDATED) and its BLOCKED work resumes. INVALID and PENDING integrations
are not probed (only a reconnect revives them). The report carries the workers' schedule
(HEALTH_CHECK_INTERVAL_SECONDS, HEALTH_CHECK_JITTER) for the workflow's next timer.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio import activity

from activities.deps import ActivityDeps
from activities.session_adapter import open_session_adapter
from activities.sessions import mark_restriction_lifted
from db.models import Integration
from linkedin.protocol import (
    AccountRestricted,
    CsrfFailed,
    LinkedInError,
    LinkedInUnavailable,
    SessionExpired,
    Throttled,
)
from workflows.health_check import HealthCheckInput, HealthReport

log = logging.getLogger("edgewise.health")

PROBED = ("VALID", "RESTRICTED")


@dataclass
class _Target:
    integration_uid: str
    identity_uid: str
    status: str


def _target(engine: Engine, linkedin_profile_id: int) -> _Target | None:
    """The account's connected integration (one at a time per LinkedIn account), if any."""
    with Session(engine) as session:
        integration = session.exec(
            select(Integration).where(
                Integration.linkedin_profile_id == linkedin_profile_id,
                col(Integration.deleted_at).is_(None),
            )
        ).first()
        if integration is None:
            return None
        return _Target(integration.uid, integration.identity_uid, integration.status)


class HealthActivities:
    def __init__(self, deps: ActivityDeps):
        self.deps = deps

    @activity.defn(name="check_account_health")
    async def check_account_health(self, input: HealthCheckInput) -> HealthReport:
        settings = self.deps.settings
        outcome = "SCHEDULE"
        if input.probe:
            outcome = await self._probe(input.linkedin_profile_id)
        return HealthReport(
            outcome=outcome,
            interval_seconds=settings.health_check_interval_seconds,
            jitter=settings.health_check_jitter,
        )

    async def _probe(self, linkedin_profile_id: int) -> str:
        target = await asyncio.to_thread(_target, self.deps.engine, linkedin_profile_id)
        if target is None:
            return "NONE"
        if target.status not in PROBED:
            return target.status
        from activities.egress import proxy_url  # the identity's own egress, as for its actions

        try:
            adapter = await open_session_adapter(
                self.deps,
                target.integration_uid,
                await proxy_url(self.deps, target.identity_uid),
                statuses=PROBED,
            )
        except SessionExpired:
            return "CHANGED"  # not probed: disconnected or no longer VALID/RESTRICTED since we looked
        except LinkedInError as exc:  # NoEgressAvailable: egress is required and it has no proxy
            return exc.label if exc.label == "NO_EGRESS_AVAILABLE" else "LK_ERROR"
        try:
            await adapter.me()
        except SessionExpired:
            return "INVALID"  # recorded by the adapter (once per expiry, with its event and held work)
        except AccountRestricted:
            return "RESTRICTED"
        except CsrfFailed:
            return "CSRF"  # not an expiry: reported, the integration stays as it is
        except Throttled:
            return "THROTTLED"
        except LinkedInUnavailable:
            return "UNAVAILABLE"
        except LinkedInError as exc:
            log.warning("health check of %s: LinkedIn answered %s", target.integration_uid, exc.label)
            return "LK_ERROR"
        finally:
            await adapter.aclose()
        if target.status == "RESTRICTED":
            await mark_restriction_lifted(self.deps, target.integration_uid, adapter.session)
        return "VALID"
