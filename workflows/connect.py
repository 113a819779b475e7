"""The connect workflow (`connect:{integration_uid}:{attempt}`): connect or reconnect an identity's LinkedIn
account, then hand the account over to its per-account workflow.

Cookies path: the API stores the submitted cookies encrypted in a SecretStash row and passes only its uid;
`verify_and_attach_cookies` checks them against LinkedIn and attaches them in one transaction (erasing the
stash). The attempt id is the stash uid, and a first connect's integration uid derives from it
(`integration_uid_for_stash`), so the workflow id is known before the integration exists.

Credentials path (API.md §3): the password waits encrypted in a PendingLogin row whose uid is the attempt
id. `login_with_credentials` runs once (never retried: repeated logins lock LinkedIn accounts). The API
starts the workflow together with the `login_answer` update (update-with-start) and answers with it:
connected, failed, or PENDING with a checkpoint. A checkpoint's code arrives as the `submit_code` update —
its validator refuses a malformed code, a flow with nothing pending and a second code while one is being
verified (so two concurrent submissions send LinkedIn exactly one); its handler verifies the code through
`answer_checkpoint`. The flow ends when the checkpoint passes or fails, at its deadline (a durable timer),
or when the integration is disconnected (`abandon`); `end_login` then erases the row, whatever happened.

No secret crosses the Temporal boundary: arguments and results are uids, labels, ids and numbers (the
one-time verification code aside, see workflows/login_contracts.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import ConnectAnnouncement, ConnectInput, ConnectOutcome, DiscardStashInput
    from workflows.errors import is_cancellation
    from workflows.login_contracts import (
        RETRY_LOGIN,
        CheckpointStepInput,
        CodeSubmission,
        EndLoginInput,
        LoginAnswer,
        LoginEvent,
        LoginStepInput,
        normalise_code,
    )

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
# A login, and each answer to its checkpoint, reaches LinkedIn at most once: never retried.
_ONCE = RetryPolicy(maximum_attempts=1)
_LOGIN_STEP_TIMEOUT = timedelta(seconds=90)

# Update validators' refusals (the API maps them: MalformedCode → 400, the others → 409).
NOTHING_PENDING = "NothingPending"
BUSY = "Busy"
EXPIRED = "Expired"
MALFORMED_CODE = "MalformedCode"

# Outcomes after which a credentials flow is over.
_FINAL = frozenset({"VALID", "FAILED", "CONFLICT"})


def integration_uid_for_stash(stash_uid: str) -> str:
    """A first connect's integration uid: deterministic from its attempt, so retries create one row."""
    return str(uuid.uuid5(_NAMESPACE, f"integration:{stash_uid}"))


def event_id_for(workflow_id: str, event: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{workflow_id}:{event}"))


@workflow.defn
class ConnectWorkflow:
    @workflow.init
    def __init__(self, input: ConnectInput) -> None:
        # Set here, not in run(): the `login_answer` update arrives with the very first task.
        self._input = input
        self._first: LoginAnswer | None = None  # the login's answer, for the API
        self._last: LoginAnswer | None = None  # the flow's latest answer (the workflow's result)
        self._pending = False  # a checkpoint waits for its code
        self._verifying = False  # a code is with LinkedIn right now
        self._abandoned = False  # disconnected meanwhile
        self._expires_at: datetime | None = None
        self._checkpoint_type = ""

    @workflow.run
    async def run(self, input: ConnectInput) -> ConnectOutcome:
        if input.method == "credentials":
            return await self._credentials(input)
        return await self._cookies(input)

    # --- cookies -----------------------------------------------------------------------------------------

    async def _cookies(self, input: ConnectInput) -> ConnectOutcome:
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
            await self._announce_connected(
                outcome.integration_uid, outcome.linkedin_profile_id, outcome.created
            )
        return outcome

    async def _discard(self, stash_uid: str) -> None:
        await workflow.execute_activity(
            "discard_stash",
            DiscardStashInput(stash_uid=stash_uid),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_HOUSEKEEPING_RETRY,
        )

    async def _announce_connected(
        self, integration_uid: str, linkedin_profile_id: int, created: bool
    ) -> None:
        """AUTH_SUCCESS (first time VALID) or AUTH_UPDATED, and the account's own workflow runs from now."""
        event = "AUTH_SUCCESS" if created else "AUTH_UPDATED"
        await workflow.execute_activity(
            "announce_connected",
            ConnectAnnouncement(
                integration_uid=integration_uid,
                linkedin_profile_id=linkedin_profile_id,
                event=event,
                event_id=event_id_for(workflow.info().workflow_id, event),
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_HOUSEKEEPING_RETRY,
        )

    # --- credentials: the API's handles ------------------------------------------------------------------

    @workflow.update
    async def login_answer(self) -> LoginAnswer:
        """The login's answer, once LinkedIn has given it (VALID, FAILED, PENDING with a checkpoint, …)."""
        await workflow.wait_condition(lambda: self._first is not None)
        assert self._first is not None
        return self._first

    @login_answer.validator
    def _validate_login_answer(self) -> None:
        if self._input.method != "credentials":
            raise ApplicationError("this connect is not a credentials login", type=NOTHING_PENDING)

    @workflow.update
    async def submit_code(self, submission: CodeSubmission) -> LoginAnswer:
        """Verify one code (or re-check an in-app validation) with LinkedIn."""
        if not self._pending or self._verifying or self._abandoned:
            # Accepted in the same task as another submission, before that one started: only one goes.
            return LoginAnswer(outcome="BUSY", message="another verification code is being checked")
        self._verifying = True
        try:
            answer = await self._step(
                "answer_checkpoint",
                CheckpointStepInput(
                    pending_uid=self._input.stash_uid,
                    code=normalise_code(self._checkpoint_type, submission.code),
                ),
            )
            await self._conclude(answer)
        finally:
            self._verifying = False
        return answer

    @submit_code.validator
    def _validate_code(self, submission: CodeSubmission) -> None:
        # Refused here, a submission never reaches history nor LinkedIn.
        if self._input.method != "credentials" or not self._pending or self._abandoned:
            raise ApplicationError("no verification checkpoint is pending", type=NOTHING_PENDING)
        if self._verifying:
            raise ApplicationError("another verification code is being checked", type=BUSY)
        if self._expires_at is not None and workflow.now() >= self._expires_at:
            raise ApplicationError("the verification checkpoint expired", type=EXPIRED)
        try:
            normalise_code(self._checkpoint_type, submission.code)
        except ValueError as exc:
            raise ApplicationError(str(exc), type=MALFORMED_CODE) from None

    @workflow.signal
    def abandon(self) -> None:
        """The integration was disconnected (its row already erased by the API): stop waiting."""
        self._abandoned = True

    @workflow.query
    def checkpoint_pending(self) -> bool:
        return self._pending and not self._abandoned

    # --- credentials: the flow ---------------------------------------------------------------------------

    async def _credentials(self, input: ConnectInput) -> ConnectOutcome:
        try:
            first = await self._step(
                "login_with_credentials",
                LoginStepInput(
                    pending_uid=input.stash_uid, checkpoint_ttl_seconds=input.checkpoint_ttl_seconds
                ),
            )
            if first.outcome == "PENDING" and first.integration_uid is not None:
                self._pending = True
                self._expires_at = first.expires_at
                self._checkpoint_type = first.checkpoint_type or ""
                await self._announce(first.integration_uid, "AUTH_PENDING", None)
            else:
                await self._conclude(first)
            self._first = self._last = first
            if self._pending:
                await self._wait_for_checkpoint()
        finally:
            # Whatever happened (cancellation included): the password and the pre-login cookie go, and a
            # checkpoint nobody can answer any more fails (its deadline passed, or the flow broke off).
            expired = self._pending and not self._abandoned
            self._pending = False
            ended = await self._end(input.stash_uid, expired=expired)
            if ended.integration_failed and ended.integration_uid:
                self._last = ended
                await self._announce(ended.integration_uid, "AUTH_FAILED", RETRY_LOGIN)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return _outcome(self._last or self._first)

    async def _wait_for_checkpoint(self) -> None:
        """Until the checkpoint passes or fails, is abandoned, or its deadline passes (durable timer)."""
        assert self._expires_at is not None
        remaining = (self._expires_at - workflow.now()).total_seconds()
        if remaining > 0:
            try:
                await workflow.wait_condition(
                    lambda: not self._pending or self._abandoned, timeout=timedelta(seconds=remaining)
                )
            except TimeoutError:
                pass
        # A code already with LinkedIn when the deadline struck is answered first: its answer stands.
        await workflow.wait_condition(lambda: not self._verifying)

    async def _conclude(self, answer: LoginAnswer) -> None:
        """Announce what a final answer changed; the flow is then over."""
        self._last = answer
        if answer.outcome not in _FINAL:
            return
        self._pending = False
        if answer.outcome == "VALID" and answer.integration_uid and answer.linkedin_profile_id is not None:
            await self._announce_connected(answer.integration_uid, answer.linkedin_profile_id, answer.created)
        elif answer.integration_failed and answer.integration_uid:
            await self._announce(answer.integration_uid, "AUTH_FAILED", answer.action_to_be_taken)

    async def _step(self, activity: str, argument: Any) -> LoginAnswer:
        """One exchange with LinkedIn, at most once. A lost answer is reported, never retried."""
        try:
            answer: LoginAnswer = await workflow.execute_activity(
                activity,
                argument,
                result_type=LoginAnswer,
                start_to_close_timeout=_LOGIN_STEP_TIMEOUT,
                retry_policy=_ONCE,
            )
            return answer
        except ActivityError as exc:
            if is_cancellation(exc):
                raise
            return LoginAnswer(outcome="UNAVAILABLE", message="LinkedIn's answer to the login was lost")

    async def _end(self, pending_uid: str, *, expired: bool) -> LoginAnswer:
        answer: LoginAnswer = await workflow.execute_activity(
            "end_login",
            EndLoginInput(pending_uid=pending_uid, expired=expired),
            result_type=LoginAnswer,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_HOUSEKEEPING_RETRY,
        )
        return answer

    async def _announce(
        self,
        integration_uid: str,
        event: Literal["AUTH_PENDING", "AUTH_FAILED"],
        action_to_be_taken: str | None,
    ) -> None:
        await workflow.execute_activity(
            "announce_login_event",
            LoginEvent(
                integration_uid=integration_uid,
                event=event,
                event_id=event_id_for(workflow.info().workflow_id, event),
                action_to_be_taken=action_to_be_taken,
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_HOUSEKEEPING_RETRY,
        )


def _outcome(answer: LoginAnswer | None) -> ConnectOutcome:
    """The workflow's result (for operators): what the credentials flow came to."""
    if answer is None:
        return ConnectOutcome(outcome="INVALID", message="the login did not run")
    outcomes: dict[str, Literal["VALID", "CONFLICT", "PENDING"]] = {
        "VALID": "VALID",
        "CONFLICT": "CONFLICT",
        "PENDING": "PENDING",
    }
    return ConnectOutcome(
        outcome=outcomes.get(answer.outcome, "INVALID"),
        integration_uid=answer.integration_uid,
        created=answer.created,
        linkedin_profile_id=answer.linkedin_profile_id,
        message=answer.message,
    )
