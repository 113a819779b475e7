"""The action-run workflow (`run:{run_uid}`), for live and async runs.

Live: the API already holds the account's lease; one activity executes the page, the lease is released.
Async: the inputs are database rows, never workflow arguments. Each usable identity is a *lane*; a lane
takes the account's lease (the per-account workflow guarantees one action at a time per LinkedIn account),
runs a batch of inputs in one activity, releases, and repeats until nothing it can take is left. Lanes run
concurrently (bounded). History stays small — uids and counts only — and the workflow continues-as-new
when Temporal suggests it. STOPPED and BLOCKED runs wait here, durably, for `resume`.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows import search_attributes as sa
    from workflows.contracts import (
        AcquireLeaseInput,
        BatchInput,
        BatchResult,
        LanePlan,
        LeaseGrant,
        LeaseRequest,
        LiveRunResult,
        ReleaseLeaseInput,
        RunPlan,
        RunRef,
        RunWorkflowInput,
        SettleResult,
    )

_BATCH_LEASE_SECONDS = 20 * 60
# A batch heartbeats every 5 s (activities/runs.py): a dead worker's batch is retried within this.
_BATCH_HEARTBEAT_TIMEOUT_SECONDS = 20
_QUICK = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10))
# Events before a run continues-as-new even if Temporal has not suggested it yet (keeps replays cheap).
_HISTORY_ROLLOVER = 8_000
_TERMINAL = ("SUCCEEDED", "FAILED", "PARTIAL_SUCCEEDED", "GONE")


@workflow.defn(name="ActionRun")
class ActionRunWorkflow:
    def __init__(self) -> None:
        self._stopped = False
        self._wakeups = 0
        self._rollover = False
        self._batch_size = 50
        self._max_lanes = 20
        self._rollover_after: int | None = None

    @workflow.signal
    def stop(self) -> None:
        self._stopped = True

    @workflow.signal
    def resume(self) -> None:
        """Sent by the API on resume, and when an integration becomes VALID again (BLOCKED work)."""
        self._stopped = False
        self._wakeups += 1

    @workflow.query
    def stopped(self) -> bool:
        return self._stopped

    @workflow.run
    async def run(self, inp: RunWorkflowInput) -> LiveRunResult:
        if inp.live:
            return await self._live(inp)
        ref = RunRef(run_uid=inp.run_uid)
        self._batch_size, self._max_lanes = inp.batch_size, inp.max_lanes
        self._rollover_after = (
            inp.batches_done + inp.rollover_after_batches if inp.rollover_after_batches else None
        )
        batches_done = inp.batches_done
        while True:
            plan: RunPlan = await workflow.execute_activity(
                "plan_run",
                ref,
                result_type=RunPlan,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=_QUICK,
            )
            self._set_status(plan.status)
            if plan.status in _TERMINAL:
                settled = await self._settle(ref)
                return LiveRunResult(status=settled.status)
            if plan.lanes and not self._stopped:
                results = await asyncio.gather(
                    *(
                        self._lane(inp.run_uid, lane, i, batches_done)
                        for i, lane in enumerate(plan.lanes[: self._max_lanes])
                    )
                )
                batches_done += sum(results)
            settled = await self._settle(ref)
            if settled.status in _TERMINAL:
                return LiveRunResult(status=settled.status)
            if self._rollover:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(inp.model_copy(update={"batches_done": batches_done}))
            if settled.runnable and not self._stopped:
                continue
            # STOPPED, or BLOCKED with nothing runnable: wait, durably, for a resume.
            seen = self._wakeups
            await workflow.wait_condition(lambda seen=seen: self._wakeups > seen)  # type: ignore[misc]

    async def _settle(self, ref: RunRef) -> SettleResult:
        settled: SettleResult = await workflow.execute_activity(
            "settle_run",
            ref,
            result_type=SettleResult,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=_QUICK,
        )
        self._set_status(settled.status)
        return settled

    def _set_status(self, status: str) -> None:
        if status != "GONE":
            workflow.upsert_search_attributes([sa.RUN_STATUS.value_set(status)])

    async def _lane(self, run_uid: str, lane: LanePlan, lane_index: int, batches_before: int) -> int:
        """Batches on one account until nothing is left for it. Returns how many batches ran."""
        info = workflow.info()
        holder = info.workflow_id
        n = 0
        while not self._stopped and not self._rollover:
            grant: LeaseGrant = await workflow.execute_activity(
                "acquire_lease",
                AcquireLeaseInput(
                    linkedin_profile_id=lane.linkedin_profile_id,
                    request=LeaseRequest(holder=holder, kind="batch", lease_seconds=_BATCH_LEASE_SECONDS),
                ),
                result_type=LeaseGrant,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_QUICK,
            )
            if not grant.granted or grant.lease_id is None:
                await workflow.sleep(timedelta(seconds=max(grant.retry_after_seconds or 1.0, 0.05)))
                continue
            try:
                result = await workflow.execute_activity(
                    "run_batch",
                    BatchInput(
                        run_uid=run_uid,
                        identity_uid=lane.identity_uid,
                        batch_uid=f"{info.run_id}:{lane_index}:{batches_before + n}",
                        max_inputs=self._batch_size,
                    ),
                    result_type=BatchResult,
                    start_to_close_timeout=timedelta(minutes=15),
                    heartbeat_timeout=timedelta(seconds=_BATCH_HEARTBEAT_TIMEOUT_SECONDS),
                    retry_policy=RetryPolicy(
                        initial_interval=timedelta(seconds=1),
                        maximum_interval=timedelta(seconds=30),
                        maximum_attempts=8,
                    ),
                )
            except ActivityError:
                # Its inputs stay claimed; the next plan_run hands them back. Let the others go on.
                workflow.logger.warning("batch failed after retries; lane %s pauses", lane_index)
                await self._release(lane.linkedin_profile_id, grant.lease_id)
                break
            else:
                await self._release(lane.linkedin_profile_id, grant.lease_id)
            n += 1
            if (
                info.is_continue_as_new_suggested()
                or workflow.info().get_current_history_length() > _HISTORY_ROLLOVER
                or (self._rollover_after is not None and batches_before + n >= self._rollover_after)
            ):
                self._rollover = True
            if result.lane_error == "THROTTLED":
                await workflow.sleep(timedelta(seconds=max(result.retry_after_seconds or 60.0, 1.0)))
                continue
            if result.lane_error or result.remaining == 0:
                break
        return n

    async def _release(self, linkedin_profile_id: int, lease_id: str) -> None:
        try:
            await workflow.execute_activity(
                "release_lease",
                ReleaseLeaseInput(linkedin_profile_id=linkedin_profile_id, lease_id=lease_id),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=5),
            )
        except ActivityError:
            workflow.logger.warning("lease release failed; it expires on its own")

    async def _live(self, inp: RunWorkflowInput) -> LiveRunResult:
        try:
            return await workflow.execute_activity(
                "run_live_page",
                RunRef(run_uid=inp.run_uid),
                result_type=LiveRunResult,
                start_to_close_timeout=timedelta(seconds=90),
                retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=3),
            )
        finally:
            if inp.lease_id and inp.linkedin_profile_id is not None:
                await self._release(inp.linkedin_profile_id, inp.lease_id)
