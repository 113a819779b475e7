"""The delivery workflow (`delivery:{uid}`, `delivery:{uid}:replay-N`): one webhook event or run callback.

It attempts at once, then after each failed attempt waits on a durable timer for the next one in the retry
plan (about 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then every 2 h) as long as that attempt falls within the
window (24 h after the first attempt); a failed last attempt leaves the delivery FAILED. The attempt itself
(loading the row, the HTTP POST, recording the outcome) is the `attempt_delivery` activity: only the
delivery uid crosses the boundary, never the body or the secret.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import DeliveryInput, DeliveryStep
    from workflows.errors import is_cancellation

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
            return DeliveryStep(error=f"attempt could not run: {exc.cause or exc}")
