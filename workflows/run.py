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
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows import search_attributes as sa
    from workflows.contracts import (
        BatchInput,
        BatchResult,
        LanePlan,
        LeaseGrant,
        LiveRunResult,
        PermitAnswer,
        PermitInput,
        PermitOutcome,
        PostponeInput,
        ReleaseLeaseInput,
        RunPlan,
        RunRef,
        RunWorkflowInput,
        SettleResult,
    )
    from workflows.errors import is_cancellation

_BATCH_LEASE_SECONDS = 20 * 60
# A batch heartbeats every 5 s (activities/runs.py): a dead worker's batch is retried within this.
_BATCH_HEARTBEAT_TIMEOUT_SECONDS = 20
_QUICK = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10))
# Events before a run continues-as-new even if Temporal has not suggested it yet (keeps replays cheap).
_HISTORY_ROLLOVER = 8_000
# Refusals longer than this (a limit's window, working hours, a cool-down) show as SCHEDULED inputs.
_SHORT_WAIT_SECONDS = 120.0
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
        # Lanes working, lanes waiting on a long refusal (until when), and whether inputs show SCHEDULED.
        self._active_lanes: set[int] = set()
        self._waiting: dict[int, datetime] = {}
        self._postponed = False

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
            # A resume counts from the moment this round starts planning: one that arrives while it plans,
            # runs or settles (a reconnect requeues BLOCKED inputs, then signals) starts another round
            # instead of being lost before the wait below.
            seen = self._wakeups
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
            # STOPPED, or BLOCKED with nothing runnable: wait, durably, for a resume (or go on at once when
            # one came during this round).
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
        """Permits and batches on one account until nothing is left for it. Returns how many batches ran."""
        info = workflow.info()
        n = 0
        self._active_lanes.add(lane_index)
        try:
            while not self._stopped and not self._rollover:
                permit: PermitAnswer = await workflow.execute_activity(
                    "request_permit",
                    PermitInput(
                        run_uid=run_uid,
                        identity_uid=lane.identity_uid,
                        linkedin_profile_id=lane.linkedin_profile_id,
                        holder=info.workflow_id,
                        max_inputs=self._batch_size,
                        lease_seconds=_BATCH_LEASE_SECONDS,
                    ),
                    result_type=PermitAnswer,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=_QUICK,
                )
                grant = permit.grant
                if grant.reason == "GONE":
                    break
                if not grant.granted or grant.lease_id is None:
                    await self._wait(run_uid, lane_index, grant)
                    continue
                if permit.batch_size <= 0:
                    await self._release(lane.linkedin_profile_id, grant.lease_id, PermitOutcome())
                    await workflow.sleep(timedelta(seconds=1))
                    continue
                batch = BatchInput(
                    run_uid=run_uid,
                    identity_uid=lane.identity_uid,
                    batch_uid=f"{info.run_id}:{lane_index}:{batches_before + n}",
                    max_inputs=permit.batch_size,
                    budget=grant.units,
                    pace_seconds=grant.pace_seconds,
                )
                try:
                    result = await workflow.execute_activity(
                        "run_batch",
                        batch,
                        result_type=BatchResult,
                        start_to_close_timeout=timedelta(minutes=15),
                        heartbeat_timeout=timedelta(seconds=_BATCH_HEARTBEAT_TIMEOUT_SECONDS),
                        retry_policy=RetryPolicy(
                            initial_interval=timedelta(seconds=1),
                            maximum_interval=timedelta(seconds=30),
                            maximum_attempts=8,
                        ),
                    )
                except ActivityError as exc:
                    if is_cancellation(exc):
                        raise
                    # Retries spent: a fault outside any one input's step (those fail their input inside
                    # the batch). The inputs it holds fail rather than stay RUNNING, claimed by nobody; the
                    # lane pauses and the run goes on with the rest.
                    workflow.logger.warning("batch failed after retries; lane %s pauses", lane_index)
                    await workflow.execute_activity(
                        "fail_batch",
                        batch,
                        result_type=int,
                        start_to_close_timeout=timedelta(minutes=2),
                        retry_policy=_QUICK,
                    )
                    await self._release(lane.linkedin_profile_id, grant.lease_id, None)
                    break
                await self._release(lane.linkedin_profile_id, grant.lease_id, result)
                n += 1
                if (
                    info.is_continue_as_new_suggested()
                    or workflow.info().get_current_history_length() > _HISTORY_ROLLOVER
                    or (self._rollover_after is not None and batches_before + n >= self._rollover_after)
                ):
                    self._rollover = True
                if result.lane_error == "THROTTLED":
                    continue  # the account refuses the next permit until LinkedIn's wait (and cool-down) end
                if result.lane_error or result.remaining == 0:
                    break
        finally:
            self._active_lanes.discard(lane_index)
            self._waiting.pop(lane_index, None)
        return n

    async def _wait(self, run_uid: str, lane_index: int, grant: LeaseGrant) -> None:
        """Wait out a refusal. A short one (account busy, pacing) is a plain timer; a long one (a limit's
        window, the working hours, a cool-down) also shows: when every lane waits, the run's queued inputs
        become SCHEDULED with `postponed_until`, and go back to the queue when a lane wakes."""
        wait = max(grant.retry_after_seconds or 1.0, 0.05)
        if wait <= _SHORT_WAIT_SECONDS:
            await workflow.sleep(timedelta(seconds=wait))
            return
        until = grant.available_at or (workflow.now() + timedelta(seconds=wait))
        resumes = self._wakeups
        self._waiting[lane_index] = until
        if self._waiting.keys() >= self._active_lanes and not self._postponed:
            self._postponed = True
            await workflow.execute_activity(
                "postpone_inputs",
                PostponeInput(
                    run_uid=run_uid, until=min(self._waiting.values()), reason=grant.reason or "LIMIT"
                ),
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=_QUICK,
            )
            self._set_status("SCHEDULED")
        # Durable: a wait of days survives worker and server restarts. A resume (the integration is VALID
        # again after inputs were held BLOCKED meanwhile) wakes the lane early: it asks again, and a limit
        # still refusing shows its inputs SCHEDULED again instead of leaving them QUEUED behind this timer.
        remaining = max((until - workflow.now()).total_seconds(), 1.0)
        try:
            await workflow.wait_condition(
                lambda: self._stopped or self._wakeups > resumes, timeout=timedelta(seconds=remaining)
            )
        except TimeoutError:
            pass  # the refusal has lifted
        self._waiting.pop(lane_index, None)
        if self._postponed and not self._stopped:
            self._postponed = False
            await workflow.execute_activity(
                "requeue_inputs",
                RunRef(run_uid=run_uid),
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=_QUICK,
            )

    async def _release(self, linkedin_profile_id: int, lease_id: str, outcome: PermitOutcome | None) -> None:
        """Give the account back, settling the permit to what was really used (None: all it granted)."""
        try:
            await workflow.execute_activity(
                "release_lease",
                ReleaseLeaseInput(
                    linkedin_profile_id=linkedin_profile_id,
                    lease_id=lease_id,
                    used=outcome.usage if outcome is not None else None,
                    throttled_retry_after_seconds=outcome.throttled_retry_after_seconds if outcome else None,
                    exhausted_buckets=list(outcome.exhausted_buckets) if outcome else [],
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=5),
            )
        except ActivityError as exc:
            if is_cancellation(exc):
                raise
            workflow.logger.warning("lease release failed; it expires on its own")

    async def _live(self, inp: RunWorkflowInput) -> LiveRunResult:
        """One page as a *local* activity: the whole live call is one workflow task, no task dispatch in
        between (measured: three workflow tasks cost ~130 ms of dispatch on the dev server). Safe for the
        account: the caller already holds its lease and Smart Limits' permit; the write token keeps a retried
        write single. The activity gives the lease back itself, settled to what it used."""
        result: LiveRunResult | None = None
        try:
            result = await workflow.execute_local_activity(
                "run_live_page",
                RunRef(
                    run_uid=inp.run_uid,
                    budget=inp.budget,
                    lease_id=inp.lease_id,
                    linkedin_profile_id=inp.linkedin_profile_id,
                ),
                result_type=LiveRunResult,
                start_to_close_timeout=timedelta(seconds=90),
                retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=3),
            )
            return result
        finally:
            released = result is not None and result.lease_released
            if inp.lease_id and inp.linkedin_profile_id is not None and not released:
                await self._release(inp.linkedin_profile_id, inp.lease_id, result)
