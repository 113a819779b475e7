"""The delivery workflow (`delivery:{uid}`, `delivery:{uid}:replay-N`): one webhook event or run callback.

It attempts at once, then after each failed attempt waits on a durable timer for the next one in the retry
plan (about 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then every 2 h, counted from the end of the failed
attempt) as long as that attempt falls within the window (24 h after the first attempt); a failed last
attempt leaves the delivery FAILED. The attempt itself
(loading the row, the HTTP POST, recording the outcome) is the `attempt_delivery` activity: only the
delivery uid crosses the boundary, never the body or the secret.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import DeliveryInput, DeliveryStep
    from workflows.errors import is_cancellation

# Rounds started with this patch plan each retry from the end of the failed attempt (see `_run`).
RETRY_AFTER_ATTEMPT = "delivery-retry-after-attempt-end"
# The HTTP answer timeout is 10 s by default; this bounds one attempt including database work.
ATTEMPT_TIMEOUT = timedelta(seconds=60)
# Temporal retries an attempt only when the activity itself failed (database unavailable, worker lost);
# a refused or unanswered POST is a normal result and follows the delivery's own retry plan instead.
ATTEMPT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=3,
)


@workflow.defn(name="DeliveryWorkflow")
class DeliveryWorkflow:
    @workflow.run
    async def run(self, inp: DeliveryInput) -> str:
        schedule = [max(0.0, float(s)) for s in inp.retry_schedule_seconds] or [5.0]
        if workflow.patched(RETRY_AFTER_ATTEMPT):
            return await self._run(inp, schedule)
        # Rounds started before the patch: the next attempt was planned from the start of the previous one.
        first = workflow.now()
        index = 0
        while True:
            started = workflow.now()
            planned = started + timedelta(seconds=schedule[min(index, len(schedule) - 1)])
            within = (planned - first).total_seconds() <= inp.max_age_seconds
            next_attempt_at = planned if within else None
            step = await self._attempt(inp.model_copy(update={"next_attempt_at": next_attempt_at}))
            if step.succeeded:
                return "SUCCEEDED"
            if step.failed_permanently or next_attempt_at is None:
                return "FAILED"
            wait = (next_attempt_at - workflow.now()).total_seconds()
            if wait > 0:
                await workflow.sleep(timedelta(seconds=wait))
            index += 1

    async def _run(self, inp: DeliveryInput, schedule: list[float]) -> str:
        """Each failed attempt is followed by the plan's wait, counted from when the attempt ended (the
        activity records that time on the delivery), as long as it falls before the deadline."""
        deadline = workflow.now() + timedelta(seconds=inp.max_age_seconds)
        index = 0
        while True:
            retry_in = schedule[min(index, len(schedule) - 1)]
            plan = {"retry_in_seconds": retry_in, "deadline": deadline, "next_attempt_at": None}
            step = await self._attempt(inp.model_copy(update=plan))
            if step.succeeded:
                return "SUCCEEDED"
            if step.failed_permanently or step.next_attempt_at is None:
                return "FAILED"
            wait = (step.next_attempt_at - workflow.now()).total_seconds()
            if wait > 0:
                await workflow.sleep(timedelta(seconds=wait))
            index += 1

    async def _attempt(self, inp: DeliveryInput) -> DeliveryStep:
        try:
            return await workflow.execute_activity(
                "attempt_delivery",
                inp,
                result_type=DeliveryStep,
                start_to_close_timeout=ATTEMPT_TIMEOUT,
                retry_policy=ATTEMPT_RETRY,
            )
        except ActivityError as exc:
            if is_cancellation(exc):
                raise  # a superseded round (or an operator's cancel) ends here
            # The activity could not run (not a refused POST): count it as a failed attempt and go on.
            workflow.logger.warning("delivery attempt failed to run: %s", exc.cause or exc)
            due: datetime | None = None
            if inp.retry_in_seconds is not None:
                due = workflow.now() + timedelta(seconds=inp.retry_in_seconds)
                due = due if inp.deadline is None or due <= inp.deadline else None
            return DeliveryStep(error=f"attempt could not run: {exc.cause or exc}", next_attempt_at=due)
