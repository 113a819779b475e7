"""What a permit asks of an account's Smart Limits, built from the catalog and the database.

Shared by the live route (one page or one write, unpaced, any hour) and async lanes (a batch, paced, and —
for outreach — only inside the identity's working hours). The account workflow adds what only it knows:
its windows, the ramp-up, cool-down and pacing clock.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from db.models import Identity, Integration, Workspace
from edgewise.catalog import ActionSpec, units_per_step
from edgewise.config import Settings
from edgewise.limits import effective_limit
from workflows.contracts import Demand

# Outreach (API.md §3 working_hours): visits, invitations, messages, InMails.
OUTREACH_PACING = frozenset({"visit", "invitation", "message"})


def identity_limits(
    session: Session, identity_uid: str
) -> tuple[str, dict[str, Any], dict[str, Any], Identity]:
    """(level, workspace overrides, identity overrides, identity) — classic while no account is connected."""
    identity = session.get(Identity, identity_uid)
    if identity is None:
        raise LookupError(f"identity {identity_uid} not found")
    workspace = session.get(Workspace, identity.workspace_uid)
    integration = session.exec(
        select(Integration).where(
            Integration.identity_uid == identity_uid, col(Integration.deleted_at).is_(None)
        )
    ).first()
    level = (integration.level if integration else None) or "classic"
    return level, dict((workspace.limits if workspace else None) or {}), dict(identity.limits or {}), identity


def build_demand(
    engine: Engine,
    settings: Settings,
    spec: ActionSpec,
    parameters: dict[str, Any],
    identity_uid: str,
    *,
    steps: int = 1,
    live: bool,
) -> Demand:
    """`steps` pages or writes of `spec` as `identity_uid` (reads may be granted fewer: the page is cut)."""
    with Session(engine) as session:
        level, workspace_overrides, identity_overrides, identity = identity_limits(session, identity_uid)
    units = {bucket: n * steps for bucket, n in units_per_step(spec, parameters).items()}
    outreach = (not live) and spec.pacing in OUTREACH_PACING
    return Demand(
        action=spec.slug,
        units=units,
        partial=not spec.is_write,
        limits={b: effective_limit(b, level, workspace_overrides, identity_overrides) for b in units},
        profile=settings.safety_profile,
        pacing=None if live else spec.pacing,
        working_hours=identity.working_hours if outreach else None,
        timezone=identity.timezone or "UTC",
    )
