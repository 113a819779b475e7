"""The Temporal-client side of the per-account workflow: start it, ask it for a lease, give a lease back.

Workflows cannot send updates to other workflows, so run workflows go through the `acquire_lease` /
`release_lease` activities here; the API's live path (api/leases.py) uses the same helpers directly.
Asking is update-with-start (`USE_EXISTING`): the account's workflow is started on first use, and a
request never fails because it is not running yet.
"""

from __future__ import annotations

import logging

from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.deps import ActivityDeps
from workflows.account import AccountWorkflow
from workflows.contracts import (
    AccountWorkflowInput,
    AcquireLeaseInput,
    LeaseGrant,
    LeaseRelease,
    LeaseRequest,
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
    """Start the account's workflow unless it runs already."""
    await client.start_workflow(
        AccountWorkflow.run,
        AccountWorkflowInput(linkedin_profile_id=linkedin_profile_id),
        id=account_workflow_id(linkedin_profile_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
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
            return await handle.execute_update(AccountWorkflow.acquire_lease, request)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
    return await client.execute_update_with_start_workflow(
        AccountWorkflow.acquire_lease,
        request,
        start_workflow_operation=_start_operation(task_queue, linkedin_profile_id),
    )


async def give_back_lease(
    client: Client, linkedin_profile_id: int, lease_id: str, *, wait: bool = True
) -> bool:
    """Release a lease. `wait=True` sends the update and answers whether it released; `wait=False` sends the
    fire-and-forget signal (the live path: the answer does not wait on it). A missing workflow holds
    nothing, so releasing into it is a no-op (False)."""
    handle = client.get_workflow_handle_for(AccountWorkflow.run, account_workflow_id(linkedin_profile_id))
    release = LeaseRelease(lease_id=lease_id)
    try:
        if wait:
            return bool(await handle.execute_update(AccountWorkflow.release_lease, release))
        await handle.signal(AccountWorkflow.release_lease_signal, release)
        return True
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise


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
        return await give_back_lease(self.deps.client, input.linkedin_profile_id, input.lease_id)
