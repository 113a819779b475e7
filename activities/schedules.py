"""Activities of a schedule's firing (workflows/schedule.py): make the firing's run, and record its end.

Both keep the Temporal Schedule's armed window ahead of time (edgewise/schedule_spec.py): once half of it
has gone by, the next window of instants replaces it.
"""

from __future__ import annotations

import asyncio
import logging

from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import schedule_store
from activities.deps import ActivityDeps
from edgewise import schedules
from edgewise.timeutil import utcnow
from workflows.schedule import FinishRequest, FireRequest, FireResult, RunStart

log = logging.getLogger("edgewise.schedules")

# fire_schedule attempts (≈ 2 minutes with the workflow's retry policy) before a schedule that cannot be
# seen counts as gone: the API commits its row right after Temporal accepted the schedule.
_MISSING_SCHEDULE_ATTEMPTS = 12


class ScheduleActivities:
    def __init__(self, deps: ActivityDeps):
        self.deps = deps

    @activity.defn(name="fire_schedule")
    async def fire_schedule(self, req: FireRequest) -> FireResult:
        """The firing's run (idempotent: a retry returns the run it made), or why there is none."""
        fired = await asyncio.to_thread(
            schedule_store.fire, self.deps.engine, self.deps.keyring, req.schedule_uid, req.nominal_at
        )
        if fired.outcome == "MISSING":
            if activity.info().attempt < _MISSING_SCHEDULE_ATTEMPTS:
                raise ApplicationError(f"schedule {req.schedule_uid} is not in the database (yet)")
            return FireResult(outcome="GONE")
        try:
            await self._rearm_if_due(req.schedule_uid)
        except Exception:  # the run comes first; the next firing or the run's end re-arms
            log.exception("could not re-arm schedule %s", req.schedule_uid)
        if fired.run is None:
            log.info("schedule %s firing at %s: %s", req.schedule_uid, req.nominal_at, fired.outcome)
            return FireResult(outcome=fired.outcome)
        run = fired.run
        return FireResult(
            outcome=fired.outcome,
            run=RunStart(
                run_uid=run.uid,
                workspace_uid=run.workspace_uid,
                action_name=run.action_name,
                identity_ids=list(run.identity_ids),
                batch_size=self.deps.settings.run_batch_size,
                max_lanes=self.deps.settings.run_max_lanes,
            ),
        )

    @activity.defn(name="finish_firing")
    async def finish_firing(self, req: FinishRequest) -> None:
        """The firing's run is finished: the schedule has no run in progress; a one-shot is COMPLETED and
        its Temporal Schedule deleted. The skips Temporal counted while the run went on are kept."""
        skipped = await schedules.skipped_by_temporal(self.deps.client, req.schedule_uid)
        completed = await asyncio.to_thread(
            schedule_store.finish, self.deps.engine, req.schedule_uid, req.run_uid, skipped
        )
        if completed:
            await schedules.delete(self.deps.client, req.schedule_uid)
        else:
            await self._rearm_if_due(req.schedule_uid)

    async def _rearm_if_due(self, schedule_uid: str) -> None:
        """Renew the armed window once half of it has gone by — under the row's lock, as the API changes a
        schedule (edgewise/schedules.py says why), so a pause meanwhile is never undone."""
        with Session(self.deps.engine, expire_on_commit=False) as session:  # db: thread pool only
            try:
                schedule = await asyncio.to_thread(schedule_store.locked, session, schedule_uid)
                now = utcnow()
                if schedule is None or not schedule_store.rearm_due(schedule, now):
                    await asyncio.to_thread(session.rollback)
                    return
                plan = schedules.plan_now(schedule, schedule.runs_count, now)
                paused = schedule.status != "ACTIVE"
                await schedules.apply(self.deps.client, self.deps.settings, schedule, plan, paused=paused)
                schedule.armed_at, schedule.armed_until = plan.armed_at, plan.armed_until
                session.add(schedule)
                await asyncio.to_thread(session.commit)
            except BaseException:
                await asyncio.to_thread(session.rollback)
                raise
