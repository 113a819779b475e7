"""A schedule's firing (`ScheduleFire`): what the Temporal Schedule `schedule:{uid}` starts each time.

It turns the firing into an ordinary run — the activity creates the Run row (execution_mode SCHEDULED, the
schedule's inputs copied), idempotent on the firing's nominal local time — then executes that run as the
usual `ActionRun` child workflow (`run:{run_uid}`: Smart Limits, pacing and working hours apply as for any
async run), and waits for it. Waiting is what makes Temporal's overlap policy SKIP mean "the previous run is
not finished"; when the run ends, a last activity records it (a one-shot becomes COMPLETED).

Only the schedule's uid and the firing's nominal time cross the boundary; inputs stay rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ChildWorkflowError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from workflows import search_attributes as sa
    from workflows.contracts import LiveRunResult, RunWorkflowInput, run_workflow_id

# Set by Temporal on every workflow a schedule starts: the firing's nominal time (before jitter).
SCHEDULED_START_TIME = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


def schedule_id(schedule_uid: str) -> str:
    return f"schedule:{schedule_uid}"


def fire_workflow_id(schedule_uid: str) -> str:
    """Temporal appends the firing's nominal time: `schedule:{uid}:fire-2026-10-25T00:30:00Z`."""
    return f"schedule:{schedule_uid}:fire"


class ScheduleFireInput(BaseModel):
    schedule_uid: str


class FireRequest(BaseModel):
    schedule_uid: str
    nominal_at: datetime


class RunStart(BaseModel):
    """What the firing's ActionRun child needs: ids, the worker's batch settings, search attributes."""

    run_uid: str
    workspace_uid: str
    action_name: str
    identity_ids: list[str] = Field(default_factory=list)
    batch_size: int = 50
    max_lanes: int = 20


class FireResult(BaseModel):
    # FIRED (a run to execute), DUPLICATE (its nominal local time already fired), SKIPPED (the previous run
    # is not finished), INACTIVE (paused, cancelled or completed meanwhile), GONE (no such schedule).
    outcome: str
    run: RunStart | None = None


class FinishRequest(BaseModel):
    schedule_uid: str
    run_uid: str


_QUICK = RetryPolicy(initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=30))


@workflow.defn(name="ScheduleFire")
class ScheduleFireWorkflow:
    @workflow.run
    async def run(self, inp: ScheduleFireInput) -> str:
        info = workflow.info()
        # A manual trigger has a start time too; without one (started by hand) the firing is "now".
        nominal = info.typed_search_attributes.get(SCHEDULED_START_TIME) or workflow.now()
        fired: FireResult = await workflow.execute_activity(
            "fire_schedule",
            FireRequest(schedule_uid=inp.schedule_uid, nominal_at=nominal),
            result_type=FireResult,
            # Copies up to 100,000 input rows in one transaction.
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=_QUICK,
        )
        if fired.run is None:
            return fired.outcome
        if not await self._execute(fired.run):
            return "ALREADY_RUNNING"
        await workflow.execute_activity(
            "finish_firing",
            FinishRequest(schedule_uid=inp.schedule_uid, run_uid=fired.run.run_uid),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=_QUICK,
        )
        return fired.outcome

    async def _execute(self, run: RunStart) -> bool:
        """The run, as the ordinary ActionRun workflow: its own id, so stop/resume signals reach it, and
        ABANDON, so it outlives this firing if the firing is ever terminated. False: it was already started
        by an earlier execution of this firing (a reset), which is not this workflow's to wait for."""
        try:
            await workflow.execute_child_workflow(
                "ActionRun",
                RunWorkflowInput(run_uid=run.run_uid, batch_size=run.batch_size, max_lanes=run.max_lanes),
                id=run_workflow_id(run.run_uid),
                result_type=LiveRunResult,
                parent_close_policy=ParentClosePolicy.ABANDON,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(sa.WORKSPACE, run.workspace_uid),
                        SearchAttributePair(sa.IDENTITIES, list(run.identity_ids)),
                        SearchAttributePair(sa.ACTION, run.action_name),
                        SearchAttributePair(sa.RUN_STATUS, "QUEUED"),
                    ]
                ),
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.warning("run %s was started by an earlier execution of this firing", run.run_uid)
            return False
        except ChildWorkflowError:
            # The run's workflow failed or was terminated: the firing is over all the same.
            workflow.logger.warning("run %s of a schedule ended abnormally", run.run_uid)
        return True
