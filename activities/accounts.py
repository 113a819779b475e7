"""The Temporal-client side of the per-account workflow: start it, ask it for a lease, give a lease back.

Workflows cannot send updates to other workflows, so run workflows go through the `acquire_lease` /
`release_lease` activities here; the API's live path (api/leases.py) uses the same helpers directly.
Asking is update-with-start (`USE_EXISTING`): the account's workflow is started on first use, and a
request never fails because it is not running yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import timedelta

from temporalio import activity
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import QueryRejectCondition, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.deps import ActivityDeps
from edgewise.limits import LimitsState
from edgewise.metrics import count_refusal
from edgewise.timeutil import utcnow
from workflows.account import AccountWorkflow, limit_views
from workflows.contracts import (
    AccountWorkflowInput,
    AcquireLeaseInput,
    LeaseGrant,
    LeaseRelease,
    LeaseRequest,
    LimitsQuery,
    LimitView,
    ReleaseLeaseInput,
    account_workflow_id,
)

log = logging.getLogger("edgewise.accounts")


def _start_operation(
    task_queue: str, linkedin_profile_id: int
) -> WithStartWorkflowOperation[AccountWorkflow, None]:
    return WithStartWorkflowOperation(
        AccountWorkflow.run,
        AccountWorkflowInput(linkedin_profile_id=linkedin_profile_id),
        id=account_workflow_id(linkedin_profile_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        # It never completes on its own; if an operator terminated it, the next request starts it afresh.
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )


async def ensure_account_workflow(client: Client, task_queue: str, linkedin_profile_id: int) -> None:
    """A session of this account was connected: start the account's workflow unless it runs already, and
    have it watch the session (periodic health checks) — in one signal-with-start. Workflows started only
    for leases (no session connected) do not probe anything."""
    await client.start_workflow(
        AccountWorkflow.run,
        AccountWorkflowInput(linkedin_profile_id=linkedin_profile_id),
        id=account_workflow_id(linkedin_profile_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        start_signal="watch_session",
    )


async def request_lease(
    client: Client,
    task_queue: str,
    linkedin_profile_id: int,
    request: LeaseRequest,
    *,
    with_start: bool = True,
) -> LeaseGrant:
    """One `acquire_lease` update. `with_start=False` skips the start half (cheaper for a re-poll of a
    workflow known to run); it falls back to update-with-start if the workflow is not found."""
    if not with_start:
        handle = client.get_workflow_handle_for(AccountWorkflow.run, account_workflow_id(linkedin_profile_id))
        try:
            grant = await handle.execute_update(AccountWorkflow.acquire_lease, request)
            return count_refusal(grant, request.kind)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
    operation = _start_operation(task_queue, linkedin_profile_id)
    try:
        grant = await client.execute_update_with_start_workflow(
            AccountWorkflow.acquire_lease, request, start_workflow_operation=operation
        )
        return count_refusal(grant, request.kind)
    except BaseException:
        _consume_start_failure(operation)
        raise


def _consume_start_failure(operation: WithStartWorkflowOperation[AccountWorkflow, None]) -> None:
    """A failed update-with-start also fails the start operation's handle future, which nobody awaits: mark
    its exception retrieved, or asyncio logs "Future exception was never retrieved" for every busy poll
    (10 updates in flight) of a burst of live calls. The exception itself is the one raised to the caller."""
    future = getattr(operation, "_workflow_handle", None)
    if isinstance(future, asyncio.Future) and future.done() and not future.cancelled():
        future.exception()


async def give_back_lease(
    client: Client,
    linkedin_profile_id: int,
    lease_id: str,
    *,
    wait: bool = True,
    used: dict[str, int] | None = None,
    throttled_retry_after_seconds: float | None = None,
    exhausted_buckets: Iterable[str] = (),
) -> bool:
    """Release a lease, settling its reservation to what was `used` (None: as granted), and report what
    LinkedIn said (a throttle, buckets it refused itself). `wait=True` sends the update and answers whether it
    released; `wait=False` sends the fire-and-forget signal (the live path: the answer does not wait on it).
    A missing workflow holds nothing, so releasing into it is a no-op (False)."""
    handle = client.get_workflow_handle_for(AccountWorkflow.run, account_workflow_id(linkedin_profile_id))
    release = LeaseRelease(
        lease_id=lease_id,
        used=used,
        throttled_retry_after_seconds=throttled_retry_after_seconds,
        exhausted_buckets=list(exhausted_buckets),
    )
    try:
        if wait:
            return bool(await handle.execute_update(AccountWorkflow.release_lease, release))
        await handle.signal(AccountWorkflow.release_lease_signal, release)
        return True
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise


# A query needs a worker to answer it: bounded, so a stopped worker is an error, not a hang.
QUERY_TIMEOUT = timedelta(seconds=10)


async def query_limits(client: Client, linkedin_profile_id: int, query: LimitsQuery) -> list[LimitView]:
    """The account's limits as GET …/limits shows them (`query.limits`: the asker's effective limits, before
    ramp-up). Evaluated now (`query.at` filled in when missing). An account whose workflow does not run
    yet (or was closed: the next request starts it afresh) has empty windows and starts its ramp-up now."""
    if query.at is None:
        query = query.model_copy(update={"at": utcnow()})
    handle = client.get_workflow_handle_for(AccountWorkflow.run, account_workflow_id(linkedin_profile_id))
    try:
        return await handle.query(
            AccountWorkflow.limits_view,
            query,
            reject_condition=QueryRejectCondition.NOT_OPEN,
            rpc_timeout=QUERY_TIMEOUT,
        )
    except WorkflowQueryRejectedError:
        pass
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    assert query.at is not None
    return limit_views(LimitsState(first_seen_at=query.at), query, query.at)


class AccountActivities:
    def __init__(self, deps: ActivityDeps):
        self.deps = deps

    @activity.defn(name="acquire_lease")
    async def acquire_lease(self, input: AcquireLeaseInput) -> LeaseGrant:
        """Ask once; the caller waits `retry_after_seconds` on a durable timer when refused."""
        try:
            return await request_lease(
                self.deps.client,
                self.deps.settings.temporal_task_queue,
                input.linkedin_profile_id,
                input.request,
            )
        except WorkflowUpdateFailedError as exc:
            # The validator refused the request: a bug in the caller, retrying cannot help.
            raise ApplicationError(
                f"lease request rejected: {exc.cause or exc}", type="LeaseRequestRejected", non_retryable=True
            )

    @activity.defn(name="release_lease")
    async def release_lease(self, input: ReleaseLeaseInput) -> bool:
        return await give_back_lease(
            self.deps.client,
            input.linkedin_profile_id,
            input.lease_id,
            used=input.used,
            throttled_retry_after_seconds=input.throttled_retry_after_seconds,
            exhausted_buckets=input.exhausted_buckets,
        )
