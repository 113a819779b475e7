"""Activities of the action-run workflow: plan lanes, execute batches of inputs, execute a live page,
settle the run. They load inputs and cookies from the database by uid and write outputs back; only uids
and counts cross the Temporal boundary.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import live_handoff, run_store
from activities.deps import ActivityDeps
from activities.run_store import ClaimedInput, Lane, StepWrite
from db.models import RunOutput
from edgewise import metrics
from edgewise.catalog import (
    CATALOG,
    ActionSpec,
    StepContext,
    credited_results,
    effective_max_results,
    level_allows,
    units_per_step,
)
from edgewise.runstate import TERMINAL_RUN_STATES
from linkedin.protocol import (
    AccountRestricted,
    CustomInviteLimitReached,
    LinkedInAdapter,
    LinkedInError,
    LinkedInUnavailable,
    SessionExpired,
    Throttled,
)
from workflows.contracts import (
    BatchInput,
    BatchResult,
    LanePlan,
    LeaseGrant,
    LeaseRequest,
    LiveRunResult,
    PermitAnswer,
    PermitInput,
    PermitOutcome,
    PostponeInput,
    RunPlan,
    RunRef,
    SettleResult,
)

log = logging.getLogger("edgewise.runs")

# Reads buffered before one commit; writes and multi-page inputs commit every step.
_READ_FLUSH_EVERY = 25
# plan_run attempts (≈ 1 minute with the workflow's retry policy) before a missing run counts as gone.
_MISSING_RUN_ATTEMPTS = 12
# How often (in inputs) a batch looks whether its run was stopped.
_STOP_CHECK_EVERY = 20
# In-activity retries of a transient LinkedIn failure before the input fails with LK_ERROR.
_TRANSIENT_RETRIES = 2


# Seconds between a batch's heartbeats (the workflow's heartbeat timeout is a few of these).
HEARTBEAT_SECONDS = 5.0


async def _heartbeat_every(seconds: float) -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(seconds)


def error_body(exc: LinkedInError) -> dict[str, Any]:
    return {"error_label": exc.label, "message": exc.message, "params": exc.params}


class StepCrashed(LinkedInError):
    """An action step raised something unforeseen — a bug, or a LinkedIn answer it cannot read. Its input
    fails with INTERNAL_ERROR and the `error_ref` of the log line holding the traceback: a retry would fail
    the same way and hold the account meanwhile (a batch retried for minutes, a live run left RUNNING)."""

    label = "INTERNAL_ERROR"


class _LaneStop(Exception):
    """Account-level trouble: stop the batch, hold its inputs, tell the workflow."""

    def __init__(self, label: str, hold_status: str, error: dict[str, Any], retry_after: float | None = None):
        super().__init__(label)
        self.label = label
        self.hold_status = hold_status
        self.error = error
        self.retry_after = retry_after


class RunActivities:
    def __init__(self, deps: ActivityDeps):
        self.deps = deps

    # -- helpers -------------------------------------------------------------------------------------

    async def _db(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, self.deps.engine, *args, **kwargs)

    async def _adapter(self, lane: Lane) -> LinkedInAdapter:
        from activities.egress import session_adapter  # through the identity's egress proxy

        assert lane.integration_uid is not None
        return await session_adapter(self.deps, lane.identity_uid, lane.integration_uid)

    async def _account_trouble(self, lane: Lane, exc: LinkedInError) -> _LaneStop | None:
        """Session expiry and restriction hold the lane's work (BLOCKED). The integration's status change,
        its event and the holding of its other waiting work were recorded by the session adapter, with the
        session that met the refusal (activities/session_adapter.py), before the refusal got here."""
        if isinstance(exc, SessionExpired):
            return _LaneStop("INTEGRATION_INVALID", "BLOCKED", error_body(exc))
        if isinstance(exc, AccountRestricted):
            return _LaneStop("INTEGRATION_RESTRICTED", "BLOCKED", error_body(exc))
        if isinstance(exc, Throttled):
            return _LaneStop("THROTTLED", "QUEUED", error_body(exc), retry_after=exc.retry_after_seconds)
        return None

    async def _step_with_retries(self, spec: ActionSpec, ctx: StepContext) -> Any:
        for attempt in range(_TRANSIENT_RETRIES + 1):
            try:
                return await metrics.observe_action(spec.slug, spec.step(ctx))
            except LinkedInUnavailable:
                if attempt == _TRANSIENT_RETRIES or spec.unkeyed_write:
                    raise
                await asyncio.sleep(0.5 * (attempt + 1))
            except (LinkedInError, SQLAlchemyError):
                # A refusal is the caller's to map; the database (a rotated session being stored) is
                # transient: the activity is retried.
                raise
            except Exception:
                ref = uuid.uuid4().hex
                log.exception("action step %s crashed", spec.slug, extra={"error_ref": ref})
                raise StepCrashed(
                    "the action failed inside edgewise; quote error_ref when reporting it",
                    params={"error_ref": ref},
                ) from None
        raise AssertionError("unreachable")

    # -- planning ------------------------------------------------------------------------------------

    @activity.defn(name="plan_run")
    async def plan_run(self, ref: RunRef) -> RunPlan:
        """Which identities can work on this run now; inputs nobody can run are held or failed."""
        run = await self._db(run_store.load_run, ref.run_uid)
        if run is None:
            # The API commits a run's rows right after Temporal accepts its workflow: wait for them a
            # little; a run that never appears was rolled back and there is nothing to do.
            if activity.info().attempt < _MISSING_RUN_ATTEMPTS:
                raise ApplicationError(f"run {ref.run_uid} not visible yet")
            return RunPlan(lanes=[], status="GONE")
        spec = CATALOG[run.action_name]
        await self._db(run_store.requeue_orphans, run.uid)
        lanes: list[Lane] = await self._db(run_store.lanes_for_run, run)
        usable = [
            LanePlan(identity_uid=lane.identity_uid, linkedin_profile_id=lane.linkedin_profile_id)
            for lane in lanes
            if lane.status == "VALID"
            and lane.linkedin_profile_id is not None
            and level_allows(lane.level, spec.required_level)
        ]
        # EGRESS_REQUIRED: a lane whose identity holds no egress proxy may not reach LinkedIn at all.
        from activities.egress import NO_EGRESS_ERROR, without_egress

        lacking = await without_egress(self.deps, [lane.identity_uid for lane in usable])
        usable = [lane for lane in usable if lane.identity_uid not in lacking]
        if not usable and lacking:
            await self._db(_fail_queued, run.uid, NO_EGRESS_ERROR)
        elif not usable:
            wrong_level = [
                lane
                for lane in lanes
                if lane.status == "VALID" and not level_allows(lane.level, spec.required_level)
            ]
            if lanes and len(wrong_level) == len(lanes):
                error = {
                    "error_label": "SN_ACCOUNT_UPGRADE",
                    "message": f"{spec.slug} needs a {spec.required_level} account",
                    "params": {},
                }
                await self._db(_fail_queued, run.uid, error)
            elif run.identity_mode == "auto" or not lanes:
                error = {
                    "error_label": "NO_VALID_ACCOUNT_CONFIGURED",
                    "message": "no identity has a VALID LinkedIn integration",
                    "params": {},
                }
                await self._db(_fail_queued, run.uid, error)
            else:
                # Held until an integration is VALID again (blocked_work.resume_blocked_work requeues them).
                connected = {lane.status for lane in lanes if lane.status is not None}
                error = (
                    {
                        "error_label": "INTEGRATION_RESTRICTED",
                        "message": "LinkedIn restricted the identity's account; the input waits for it",
                        "params": {},
                    }
                    if connected == {"RESTRICTED"}
                    else {
                        "error_label": "INTEGRATION_INVALID",
                        "message": "the identity's LinkedIn session is not valid; reconnect it",
                        "params": {},
                    }
                )
                await self._db(
                    run_store.block_unassignable, run.uid, [lane.identity_uid for lane in lanes], error
                )
        status, _ = await self._db(run_store.refresh_run, run.uid, starting=True)
        return RunPlan(lanes=usable, status=status)

    # -- permits -------------------------------------------------------------------------------------

    @activity.defn(name="request_permit")
    async def request_permit(self, inp: PermitInput) -> PermitAnswer:
        """Ask the lane's account for a batch permit: the demand is built here, from the database."""
        from activities.accounts import request_lease
        from activities.permits import build_demand

        run = await self._db(run_store.load_run, inp.run_uid)
        if run is None:
            return PermitAnswer(grant=LeaseGrant(granted=False, reason="GONE", retry_after_seconds=1.0))
        spec = CATALOG[run.action_name]
        settings = self.deps.settings
        steps = _permit_steps(spec, inp.max_inputs, paced=settings.safety_profile == "standard")
        demand = await asyncio.to_thread(
            build_demand,
            self.deps.engine,
            settings,
            spec,
            run.parameters,
            inp.identity_uid,
            steps=steps,
            live=False,
        )
        request = LeaseRequest(
            holder=inp.holder, kind="batch", lease_seconds=inp.lease_seconds, demand=demand
        )
        grant = await request_lease(
            self.deps.client, settings.temporal_task_queue, inp.linkedin_profile_id, request
        )
        size = steps
        per_step = units_per_step(spec, run.parameters)
        if grant.granted and grant.units is not None and per_step and not spec.page_size:
            # A read granted fewer units covers fewer inputs; a write is all or nothing.
            size = min(grant.units.get(bucket, 0) // need for bucket, need in per_step.items())
        if spec.page_size and not spec.is_write:
            size = inp.max_inputs  # listings: the granted units, not the input count, bound the permit
        return PermitAnswer(grant=grant, batch_size=max(size, 0))

    @activity.defn(name="postpone_inputs")
    async def postpone_inputs(self, inp: PostponeInput) -> int:
        """Every lane waits on a limit, the working hours or a cool-down: queued inputs become SCHEDULED."""
        moved = await self._db(run_store.move_inputs, inp.run_uid, "QUEUED", "SCHEDULED", inp.until)
        await self._db(run_store.refresh_run, inp.run_uid)
        return int(moved)

    @activity.defn(name="requeue_inputs")
    async def requeue_inputs(self, ref: RunRef) -> int:
        """A lane may act again: SCHEDULED inputs go back to the queue."""
        moved = await self._db(run_store.move_inputs, ref.run_uid, "SCHEDULED", "QUEUED", None)
        await self._db(run_store.refresh_run, ref.run_uid)
        return int(moved)

    @activity.defn(name="fail_batch")
    async def fail_batch(self, inp: BatchInput) -> int:
        """A batch whose retries are spent (a fault outside any one input's step): the inputs it still holds
        fail with INTERNAL_ERROR instead of staying RUNNING, claimed by nobody, for ever."""
        ref = uuid.uuid4().hex
        log.error(
            "batch %s of run %s failed after its retries; its inputs fail",
            inp.batch_uid,
            inp.run_uid,
            extra={"error_ref": ref, "run_uid": inp.run_uid},
        )
        error = {
            "error_label": "INTERNAL_ERROR",
            "message": "the batch failed inside edgewise, even retried; quote error_ref when reporting it",
            "params": {"error_ref": ref},
        }
        failed = await self._db(run_store.fail_batch, inp.run_uid, inp.batch_uid, error)
        await self._db(run_store.refresh_run, inp.run_uid)
        return int(failed)

    # -- async batches -------------------------------------------------------------------------------

    @activity.defn(name="run_batch")
    async def run_batch(self, inp: BatchInput) -> BatchResult:
        # Heartbeat from the side, steadily, whatever one LinkedIn call takes: a worker that dies is noticed
        # within the workflow's heartbeat timeout, and the batch is retried elsewhere.
        beating = asyncio.create_task(_heartbeat_every(HEARTBEAT_SECONDS))
        try:
            return await self._run_batch(inp)
        finally:
            beating.cancel()

    async def _run_batch(self, inp: BatchInput) -> BatchResult:
        run = await self._db(run_store.load_run, inp.run_uid)
        if run is None:
            return BatchResult()
        spec = CATALOG[run.action_name]
        lane: Lane = await self._db(run_store.lane_for, inp.identity_uid)
        if lane.status != "VALID" or lane.integration_uid is None:
            label = "INTEGRATION_RESTRICTED" if lane.status == "RESTRICTED" else "INTEGRATION_INVALID"
            return BatchResult(lane_error=label)
        if run.stopped:
            return BatchResult(remaining=0)
        claimed: list[ClaimedInput] = await self._db(
            run_store.claim_inputs, run.uid, inp.identity_uid, inp.batch_uid, inp.max_inputs
        )
        if not claimed:
            return BatchResult(
                remaining=await self._db(run_store.count_assignable, run.uid, inp.identity_uid)
            )
        await self._db(run_store.refresh_run, run.uid)
        # Its session is loaded by its first call: a status changed since lane_for is a refusal below.
        adapter = await self._adapter(lane)
        multiplier = 1.5 if run.identity_mode == "managed" else 1.0
        buffer: list[StepWrite] = []
        processed = outputs = 0
        outcome = PermitOutcome()
        # A listing stops when the permit's units for its bucket are used (the rest waits for a new permit).
        listing_bucket = (
            spec.limit_buckets[0] if (spec.page_size and not spec.is_write and spec.limit_buckets) else None
        )
        budget_left = (
            (inp.budget or {}).get(listing_bucket) if (listing_bucket and inp.budget is not None) else None
        )
        steps_taken = 0

        async def flush() -> None:
            await self._db(
                run_store.record_steps,
                run,
                inp.identity_uid,
                lane.linkedin_profile_id,
                multiplier,
                spec.credit_ratio,
                list(buffer),
            )
            buffer.clear()

        try:
            for position, item in enumerate(claimed):
                # A member's stop takes effect between inputs: what was sent finishes, the rest waits.
                if (
                    position
                    and position % _STOP_CHECK_EVERY == 0
                    and await self._db(run_store.is_stopped, run.uid)
                ):
                    await flush()
                    await self._db(run_store.release_batch, run.uid, inp.batch_uid, "STOPPED")
                    break
                if budget_left is not None and budget_left <= 0:
                    break  # the permit is used up; unfinished inputs go back to the queue below
                page_state = item.page_state
                produced = item.output_count
                try:
                    while True:
                        if steps_taken and inp.pace_seconds:
                            await asyncio.sleep(random.uniform(*inp.pace_seconds))
                        ctx = StepContext(
                            adapter=adapter,
                            input=item.input,
                            parameters=run.parameters,
                            page_state=page_state,
                            write_token=run_store.write_token(item.uid),
                            max_results=effective_max_results(spec, run.parameters),
                            produced=produced,
                            ceiling=spec.max_results or 0,
                            budget=budget_left,
                        )
                        result = await self._step_with_retries(spec, ctx)
                        steps_taken += 1
                        for bucket, used in result.usage.items():
                            outcome.usage[bucket] = outcome.usage.get(bucket, 0) + used
                        if budget_left is not None and listing_bucket is not None:
                            budget_left -= result.usage.get(listing_bucket, 0)
                        buffer.append(
                            StepWrite(
                                input_uid=item.uid,
                                page_state_before=page_state,
                                outputs=result.outputs,
                                next_page_state=result.page_state,
                                finished=result.page_state is None,
                                usage=result.usage,
                                results=credited_results(spec.is_write, result),
                                warnings=result.warnings,
                            )
                        )
                        outputs += len(result.outputs)
                        produced += len(result.outputs)
                        page_state = result.page_state
                        if spec.is_write or spec.page_size or len(buffer) >= _READ_FLUSH_EVERY:
                            await flush()
                        if page_state is None or (budget_left is not None and budget_left <= 0):
                            break
                except LinkedInError as exc:
                    trouble = await self._account_trouble(lane, exc)
                    if trouble is not None:
                        raise trouble from None
                    if isinstance(exc, CustomInviteLimitReached):
                        # LinkedIn refused the bucket itself: the account treats it as used up.
                        outcome.exhausted_buckets.append("LK_CONNECTION_NOTES")
                    await flush()
                    await self._db(run_store.finish_input, item.uid, "FAILED", error_body(exc))
                processed += 1
            await flush()
            # Inputs this permit did not reach (or a listing it paused) wait for the next permit.
            await self._db(run_store.release_batch, run.uid, inp.batch_uid, "QUEUED")
        except _LaneStop as stop:
            await flush()
            await self._db(
                run_store.release_batch,
                run.uid,
                inp.batch_uid,
                stop.hold_status,
                None,
                stop.error if stop.hold_status == "BLOCKED" else None,
            )
            await self._after_batch(run.uid)
            if stop.label == "THROTTLED":
                outcome.throttled_retry_after_seconds = stop.retry_after
            return BatchResult(
                processed=processed,
                outputs=outputs,
                lane_error=stop.label,
                retry_after_seconds=stop.retry_after,
                **outcome.model_dump(),
            )
        finally:
            await adapter.aclose()
        await self._after_batch(run.uid)
        remaining = await self._db(run_store.count_assignable, run.uid, inp.identity_uid)
        return BatchResult(processed=processed, outputs=outputs, remaining=remaining, **outcome.model_dump())

    async def _after_batch(self, run_uid: str) -> None:
        from edgewise.callbacks import emit_run_callbacks

        await self._db(run_store.refresh_run, run_uid)
        await emit_run_callbacks(self.deps, run_uid, final=False)

    # -- live ----------------------------------------------------------------------------------------

    @activity.defn(name="run_live_page")
    async def run_live_page(self, ref: RunRef) -> LiveRunResult:
        """One live page; then the account goes back to its line at once (settled to what was used)."""
        from activities.accounts import give_back_lease

        result, page = await self._live_page(ref)
        if ref.lease_id and ref.linkedin_profile_id is not None:
            await give_back_lease(
                self.deps.client,
                ref.linkedin_profile_id,
                ref.lease_id,
                wait=False,
                used=result.usage,
                throttled_retry_after_seconds=result.throttled_retry_after_seconds,
                exhausted_buckets=result.exhausted_buckets,
            )
            result.lease_released = True
        live_handoff.deliver(ref.run_uid, result, page)  # the API handler in this process may answer now
        return result

    async def _live_page(self, ref: RunRef) -> tuple[LiveRunResult, live_handoff.LivePage | None]:
        """One page (or one write) of a live run, as its identity; the next page's state goes on the run."""
        started = time.perf_counter()
        run, item, lane = await self._db(run_store.start_live_page, ref.run_uid)
        if run is None or lane is None:
            return LiveRunResult(status="GONE"), None
        spec = CATALOG[run.action_name]
        if item is None:  # already executed by an earlier attempt
            status, _ = await self._db(run_store.refresh_run, run.uid)
            return LiveRunResult(status=status, output_count=run.output_count), None
        adapter = await self._adapter(lane)
        page_state = (run.live_page or {}).get("page_state")
        try:
            ctx = StepContext(
                adapter=adapter,
                input=item.input,
                parameters=run.parameters,
                page_state=page_state,
                write_token=run_store.write_token(item.uid),
                max_results=effective_max_results(spec, run.parameters),
                produced=int((run.live_page or {}).get("produced", 0)),
                ceiling=spec.max_results or 0,
                budget=_listing_budget(spec, ref.budget),
            )
            linkedin_started = time.perf_counter()
            result = await self._step_with_retries(spec, ctx)
            linkedin_ms = (time.perf_counter() - linkedin_started) * 1000
        except LinkedInError as exc:
            await self._account_trouble(lane, exc)
            error = error_body(exc)
            outcome = PermitOutcome()
            if isinstance(exc, Throttled):
                error["params"] = {
                    **error["params"],
                    "limit": "LINKEDIN_THROTTLED",
                    "retry_after_seconds": exc.retry_after_seconds,
                }
                outcome.throttled_retry_after_seconds = exc.retry_after_seconds
            if isinstance(exc, CustomInviteLimitReached):
                outcome.exhausted_buckets.append("LK_CONNECTION_NOTES")
            await self._db(run_store.finish_input, item.uid, "FAILED", error)
            await self._db(_set_run_error, run.uid, error)
            status, _ = await self._db(run_store.refresh_run, run.uid, starting=True)
            return LiveRunResult(status=status, error=error, **outcome.model_dump()), None
        finally:
            await adapter.aclose()
        write = StepWrite(
            input_uid=item.uid,
            page_state_before=page_state,
            outputs=result.outputs,
            next_page_state=None,
            finished=True,
            usage=result.usage,
            results=credited_results(spec.is_write, result),
            warnings=result.warnings,
        )
        status, inserted = await self._db(
            run_store.finish_live_page,
            run,
            lane,
            1.5 if run.identity_mode == "managed" else 1.0,
            spec.credit_ratio,
            write,
            result.page_state,
            ctx.produced + len(result.outputs),
        )
        total_ms = (time.perf_counter() - started) * 1000
        page = None
        if len(inserted) == len(result.outputs):  # else an earlier attempt recorded it: read it back
            page = live_handoff.LivePage(
                outputs=[RunOutput(**row) for row in inserted],
                next_page_state=result.page_state,
                next_produced=ctx.produced + len(result.outputs),
            )
        return (
            LiveRunResult(
                status=status,
                output_count=len(result.outputs),
                usage=dict(result.usage),
                timing={
                    "activity": round(total_ms, 2),
                    "linkedin": round(linkedin_ms, 2),
                    "activity_db": round(total_ms - linkedin_ms, 2),
                },
            ),
            page,
        )

    # -- settling ------------------------------------------------------------------------------------

    @activity.defn(name="settle_run")
    async def settle_run(self, ref: RunRef) -> SettleResult:
        """Recompute the run's status; when terminal or STOPPED, send the final callback."""
        from edgewise.callbacks import emit_run_callbacks

        status, counts = await self._db(run_store.refresh_run, ref.run_uid)
        if status in TERMINAL_RUN_STATES or status == "STOPPED":
            await emit_run_callbacks(self.deps, ref.run_uid, final=True)
        return SettleResult(status=status, runnable=bool(counts.get("QUEUED")) and status != "STOPPED")


# Standard-profile reads are paced 1–3 s apart: a permit covers a short time slice, so live calls on the
# same account get their turn between permits.
_PACED_READ_STEPS = 5


def _permit_steps(spec: ActionSpec, max_inputs: int, *, paced: bool) -> int:
    """How many steps one permit asks for: writes one at a time (each is paced and all-or-nothing)."""
    if spec.is_write:
        return 1
    if paced:
        return min(max_inputs, _PACED_READ_STEPS)
    return max_inputs


def _listing_budget(spec: ActionSpec, budget: dict[str, int] | None) -> int | None:
    """Results a listing step may fetch under its permit (None: no limit asked)."""
    if budget is None or not spec.page_size or spec.is_write or not spec.limit_buckets:
        return None
    return budget.get(spec.limit_buckets[0])


def _fail_queued(engine: Any, run_uid: str, error: dict[str, Any]) -> None:
    from sqlalchemy import update
    from sqlmodel import col

    from db.engine import session_scope
    from db.models import RunInput
    from edgewise.timeutil import utcnow

    with session_scope(engine) as session:
        session.execute(
            update(RunInput)
            .where(col(RunInput.run_uid) == run_uid, col(RunInput.status).in_(["QUEUED", "BLOCKED"]))
            .values(status="FAILED", error=error, finished_at=utcnow())
        )


def _set_run_error(engine: Any, run_uid: str, error: dict[str, Any]) -> None:
    from db.engine import session_scope
    from db.models import Run

    with session_scope(engine) as session:
        run = session.get(Run, run_uid)
        if run is not None:
            run.last_error = error
            session.add(run)
