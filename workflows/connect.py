"""The connect workflow (`connect:{integration_uid}:{attempt}`): connect or reconnect an identity's LinkedIn
account, then hand the account over to its per-account workflow.

Cookies path: the API stores the submitted cookies encrypted in a SecretStash row and passes only its uid;
`verify_and_attach_cookies` checks them against LinkedIn and attaches them in one transaction (erasing the
stash). No secret ever crosses the Temporal boundary: arguments and results are uids, labels and ids.
The attempt id is the stash uid, and a first connect's integration uid derives from it
(`integration_uid_for_stash`), so the workflow id is known before the integration exists.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import ConnectAnnouncement, ConnectInput, ConnectOutcome, DiscardStashInput
    from workflows.errors import is_cancellation

_NAMESPACE = uuid.UUID("6f1d7f43-8a55-4c0e-9f4e-2b8a3f7c1e20")

# LinkedIn hiccups (5xx, timeouts) are retried a few times; a refusal is an answer, not an error.
_VERIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=4,
    non_retryable_error_types=["Throttled"],
)
_HOUSEKEEPING_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=10)


def integration_uid_for_stash(stash_uid: str) -> str:
    """A first connect's integration uid: deterministic from its attempt, so retries create one row."""
    return str(uuid.uuid5(_NAMESPACE, f"integration:{stash_uid}"))


def event_id_for(workflow_id: str, event: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{workflow_id}:{event}"))


@workflow.defn
class ConnectWorkflow:
    @workflow.run
    async def run(self, input: ConnectInput) -> ConnectOutcome:
        if input.method != "cookies":
            await self._discard(input.stash_uid)
            return ConnectOutcome(outcome="INVALID", message="credentials login is not supported yet")
        try:
            outcome: ConnectOutcome = await workflow.execute_activity(
                "verify_and_attach_cookies",
                input,
                result_type=ConnectOutcome,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=_VERIFY_RETRY,
            )
        except ActivityError as exc:
            # LinkedIn did not answer (or throttled us): nothing attached; erase the cookies, report why.
            await self._discard(input.stash_uid)
            if is_cancellation(exc):
                raise  # cancelled by an operator: the cookies are erased all the same
            cause = exc.cause
            raise ApplicationError(
                "LinkedIn did not answer the session check",
                *(cause.details if isinstance(cause, ApplicationError) else ()),
                type=cause.type
                if isinstance(cause, ApplicationError) and cause.type
                else "LinkedInUnavailable",
                non_retryable=True,
            ) from exc

        if outcome.outcome == "VALID" and outcome.integration_uid and outcome.linkedin_profile_id is not None:
            event = "AUTH_SUCCESS" if outcome.created else "AUTH_UPDATED"
            await workflow.execute_activity(
                "announce_connected",
                ConnectAnnouncement(
                    integration_uid=outcome.integration_uid,
                    linkedin_profile_id=outcome.linkedin_profile_id,
                    event=event,
                    event_id=event_id_for(workflow.info().workflow_id, event),
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_HOUSEKEEPING_RETRY,
            )
        return outcome

    async def _discard(self, stash_uid: str) -> None:
        await workflow.execute_activity(
            "discard_stash",
            DiscardStashInput(stash_uid=stash_uid),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_HOUSEKEEPING_RETRY,
        )
