"""The API side of a credentials login and its checkpoint (API.md §3).

A login stores the password encrypted in a PendingLogin row (at most one per identity: a second login, or a
cookie connect, while one is in progress → 409), then starts the connect workflow together with its
`login_answer` update (update-with-start: one round trip) and answers with what LinkedIn said. A code goes
to the same workflow as its `submit_code` update. Only the row's uid crosses the Temporal boundary; the
API erases the password itself too if the workflow never got to it.

Outcomes map to the contract here, in one place: `login_response` for the POST, `checkpoint_response` for
the code.
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import timedelta
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.login import password_payload
from api.deps import get_or_404
from api.schemas import integration_out
from db.engine import session_scope
from db.models import Identity, Integration, PendingLogin, SecretStash
from edgewise.config import Settings
from edgewise.crypto import Keyring
from edgewise.egress import assign_egress, load_pool
from edgewise.errors import ApiError, bad_input
from edgewise.timeutil import as_utc, iso_z, utcnow
from workflows import connect as flow
from workflows import search_attributes as sa
from workflows.contracts import ConnectInput, connect_workflow_id
from workflows.login_contracts import CodeSubmission, LoginAnswer, normalise_code

log = logging.getLogger("edgewise.api.login")

# The checkpoint waits this long for its code (API.md §3).
CHECKPOINT_TTL_SECONDS = 600.0
# The login itself (one LinkedIn round trip, plus the session check): a row older than this whose workflow
# never took it is stale, and the API stops waiting for the answer.
LOGIN_TIMEOUT = timedelta(minutes=2)
# The connect workflow's whole life: the login, then the checkpoint's deadline, with room to finish.
FLOW_TIMEOUT = timedelta(seconds=CHECKPOINT_TTL_SECONDS) + timedelta(minutes=5)

_CONFLICT_REFUSALS = {flow.NOTHING_PENDING, flow.BUSY, flow.EXPIRED}


def search_attributes_for(workspace_uid: str, identity_uid: str) -> TypedSearchAttributes:
    """Operators find connects by workspace and identity in the Temporal UI."""
    return TypedSearchAttributes(
        [SearchAttributePair(sa.WORKSPACE, workspace_uid), SearchAttributePair(sa.IDENTITIES, [identity_uid])]
    )


# --- database ------------------------------------------------------------------------------------------


def live_integration(session: Session, identity_uid: str) -> Integration | None:
    return session.exec(
        select(Integration)
        .where(Integration.identity_uid == identity_uid, col(Integration.deleted_at).is_(None))
        .order_by(col(Integration.created_at).desc())
    ).first()


def refuse_if_login_in_progress(session: Session, identity_uid: str) -> None:
    """409 while a credentials login of this identity is going on — its checkpoint waiting for a code
    included: the row lives until the checkpoint's deadline. A stale row (its workflow died) is dropped
    instead, and so is every expired stash, wherever it came from."""
    now = utcnow()
    session.execute(delete(SecretStash).where(col(SecretStash.expires_at) < now))
    pending = session.exec(select(PendingLogin).where(PendingLogin.identity_uid == identity_uid)).first()
    if pending is None:
        return
    if as_utc(pending.expires_at) > now:
        waiting = pending.challenge_enc is not None
        raise ApiError(
            "CONFLICT",
            "a verification checkpoint is pending for this identity; submit its code first"
            if waiting
            else "a LinkedIn login is in progress for this identity; wait for its answer",
        )
    session.delete(pending)
    session.flush()


def _prepare(
    engine: Engine,
    keyring: Keyring,
    settings: Settings,
    workspace_uid: str,
    identity_uid: str,
    credentials: tuple[str, str],
    user_agent: str | None,
) -> tuple[str, str]:
    """Check the identity and store the password encrypted. Returns (workflow id, pending login uid)."""
    with session_scope(engine) as session:
        identity = get_or_404(session, Identity, identity_uid, workspace_uid, what="identity")
        # Its own proxy (assigned now if it has none and one is free): the login goes through it.
        if assign_egress(session, identity, load_pool(settings)) is None and settings.egress_required:
            raise ApiError("NO_EGRESS_AVAILABLE", "this identity has no egress proxy; it cannot connect")
        current = live_integration(session, identity.uid)
        refuse_if_login_in_progress(session, identity.uid)
        pending = PendingLogin(
            workspace_uid=workspace_uid,
            identity_uid=identity.uid,
            integration_uid="",
            workflow_id="",
            user_agent=user_agent,
            expires_at=utcnow() + LOGIN_TIMEOUT,
        )
        pending.integration_uid = current.uid if current else flow.integration_uid_for_stash(pending.uid)
        pending.workflow_id = connect_workflow_id(pending.integration_uid, pending.uid)
        pending.password_enc = keyring.encrypt_json(password_payload(*credentials), associated=pending.uid)
        session.add(pending)
        return pending.workflow_id, pending.uid


def prepare_login(
    engine: Engine,
    keyring: Keyring,
    settings: Settings,
    workspace_uid: str,
    identity_uid: str,
    credentials: tuple[str, str],
    user_agent: str | None,
) -> tuple[str, str]:
    try:
        return _prepare(engine, keyring, settings, workspace_uid, identity_uid, credentials, user_agent)
    except IntegrityError:
        # Another login of this identity committed its row first (the unique index decided).
        raise ApiError("CONFLICT", "a LinkedIn login is in progress for this identity") from None


def erase_password(engine: Engine, pending_uid: str, *, drop: bool) -> None:
    """Never leave a password behind: erase it (the workflow did already, unless it never ran); `drop`
    removes the whole row (the flow did not get going)."""
    with session_scope(engine) as session:
        pending = session.get(PendingLogin, pending_uid)
        if pending is None:
            return
        if drop:
            session.delete(pending)
        elif pending.password_enc is not None:
            pending.password_enc = None
            session.add(pending)


def checkpoint_target(engine: Engine, workspace_uid: str, identity_uid: str) -> tuple[str, str]:
    """The workflow waiting for this identity's code, and its checkpoint type; 409 when none waits."""
    with Session(engine) as session:
        identity = get_or_404(session, Identity, identity_uid, workspace_uid, what="identity")
        integration = live_integration(session, identity.uid)
        pending = session.exec(select(PendingLogin).where(PendingLogin.identity_uid == identity.uid)).first()
        checkpoint: dict[str, Any] = (integration.checkpoint or {}) if integration is not None else {}
        if (
            integration is None
            or integration.status != "PENDING"
            or not checkpoint
            or pending is None
            or pending.integration_uid != integration.uid
            or pending.challenge_enc is None
        ):
            raise ApiError("CONFLICT", "no verification checkpoint is pending for this identity")
        if as_utc(pending.expires_at) <= utcnow():
            raise ApiError("CONFLICT", "the verification checkpoint expired; log in again")
        return pending.workflow_id, str(checkpoint.get("type", ""))


def load_integration(engine: Engine, integration_uid: str) -> Integration | None:
    with Session(engine) as session:
        return session.get(Integration, integration_uid)


# --- Temporal ------------------------------------------------------------------------------------------


async def run_login(client: Client, settings: Settings, workflow_id: str, input: ConnectInput) -> LoginAnswer:
    """Start the flow with its `login_answer` update, and wait for LinkedIn's answer."""
    operation = WithStartWorkflowOperation(
        flow.ConnectWorkflow.run,
        input,
        id=workflow_id,
        task_queue=settings.temporal_task_queue,
        execution_timeout=FLOW_TIMEOUT,
        search_attributes=search_attributes_for(input.workspace_uid, input.identity_uid),
        # The id is new for every login: a conflict would mean a replayed request, never a second login.
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    try:
        return await asyncio.wait_for(
            client.execute_update_with_start_workflow(
                flow.ConnectWorkflow.login_answer, start_workflow_operation=operation
            ),
            timeout=LOGIN_TIMEOUT.total_seconds(),
        )
    except (TimeoutError, WorkflowUpdateFailedError, RPCError) as exc:
        log.warning("credentials login %s got no answer: %s", workflow_id, type(exc).__name__)
        return LoginAnswer(outcome="UNAVAILABLE", message="LinkedIn did not answer the login")


async def submit_code(client: Client, workflow_id: str, code: str | None) -> LoginAnswer:
    """One code for the waiting checkpoint. A refusal of the update's validator maps to 409 or 400."""
    handle = client.get_workflow_handle_for(flow.ConnectWorkflow.run, workflow_id)
    try:
        return await handle.execute_update(flow.ConnectWorkflow.submit_code, CodeSubmission(code=code))
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        kind = cause.type if isinstance(cause, ApplicationError) else None
        if kind == flow.MALFORMED_CODE:
            raise bad_input("code", cause.message if isinstance(cause, ApplicationError) else "invalid")
        if kind in _CONFLICT_REFUSALS:
            message = cause.message if isinstance(cause, ApplicationError) else "no checkpoint is pending"
            raise ApiError("CONFLICT", message) from None
        log.warning("checkpoint update on %s failed: %s", workflow_id, type(cause).__name__)
        raise ApiError("LK_ERROR", "LinkedIn did not answer the verification; try again shortly") from None
    except RPCError:
        # The flow ended meanwhile (its workflow completed): nothing waits for a code any more.
        raise ApiError("CONFLICT", "no verification checkpoint is pending for this identity") from None


async def abandon(client: Client, workflow_id: str) -> None:
    """Tell a flow its integration is gone (best effort: the row, and so its secrets, are erased already)."""
    try:
        await client.get_workflow_handle_for(flow.ConnectWorkflow.run, workflow_id).signal(
            flow.ConnectWorkflow.abandon
        )
    except RPCError:
        pass  # already over


# --- answers → the contract ----------------------------------------------------------------------------


def check_code(checkpoint_type: str, code: str | None) -> str | None:
    """The code, surrounding spaces dropped; 400 naming `code` when it cannot be one (no attempt used)."""
    try:
        return normalise_code(checkpoint_type, code)
    except ValueError as exc:
        raise bad_input("code", str(exc)) from None


def _common_refusal(answer: LoginAnswer) -> ApiError | None:
    """What the POST and the checkpoint answer alike."""
    if answer.outcome == "THROTTLED":
        wait = answer.retry_after_seconds or 60.0
        return ApiError(
            "LIMIT_REACHED",
            "LinkedIn throttled this login; try again later",
            params={
                "postponed_until": iso_z(utcnow() + timedelta(seconds=wait)),
                "limit": "LINKEDIN_THROTTLED",
            },
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    if answer.outcome == "UNAVAILABLE":
        return ApiError("LK_ERROR", "LinkedIn did not answer the login; try again shortly")
    if answer.outcome == "NO_EGRESS":
        return ApiError("NO_EGRESS_AVAILABLE", "this identity has no egress proxy; it cannot connect")
    if answer.outcome in ("CONFLICT", "BUSY"):
        return ApiError("CONFLICT", answer.message or "this LinkedIn account cannot be connected here")
    if answer.outcome == "FAILED" and answer.reason == "GONE":
        return ApiError("CONFLICT", "this login is no longer pending (the integration was disconnected)")
    if answer.outcome == "FAILED" and answer.reason == "EXPIRED":
        return ApiError("CONFLICT", "the verification checkpoint expired; log in again")
    if answer.outcome == "FAILED":
        params: dict[str, Any] = {"action_to_be_taken": answer.action_to_be_taken}
        if answer.integration_uid:
            params["integration_uid"] = answer.integration_uid
        return ApiError("INTEGRATION_INVALID", answer.message or "LinkedIn refused the login", params=params)
    return None


def _integration_response(engine: Engine, answer: LoginAnswer, status: int) -> JSONResponse:
    integration = load_integration(engine, answer.integration_uid) if answer.integration_uid else None
    if integration is None or integration.deleted_at is not None:
        raise ApiError("CONFLICT", "the integration was removed while connecting")
    return JSONResponse(integration_out(integration), status_code=status)


def login_response(engine: Engine, answer: LoginAnswer) -> JSONResponse:
    """POST …/integrations/linkedin with credentials: 201/200 VALID, 202 PENDING, or the refusal."""
    if answer.outcome == "VALID":
        return _integration_response(engine, answer, 201 if answer.created else 200)
    if answer.outcome == "PENDING":
        return _integration_response(engine, answer, 202)
    raise _common_refusal(answer) or ApiError("LK_ERROR", "LinkedIn answered the login unexpectedly")


def checkpoint_response(engine: Engine, answer: LoginAnswer) -> JSONResponse:
    """POST …/checkpoint: 200 with the Integration (VALID, or still PENDING), or the refusal."""
    if answer.outcome in ("VALID", "PENDING"):
        return _integration_response(engine, answer, 200)
    last_wrong = answer.outcome == "FAILED" and answer.reason == "TOO_MANY_ATTEMPTS"
    if answer.outcome == "WRONG_CODE" or last_wrong:
        left = answer.attempts_left or 0
        message = (
            f"wrong verification code; {left} attempt(s) left"
            if left
            else "wrong verification code; no attempt left: the login failed, log in again"
        )
        raise ApiError(
            "BAD_INPUT",
            message,
            params={"validation_errors": [{"field": "code", "message": message}], "attempts_left": left},
        )
    raise _common_refusal(answer) or ApiError("LK_ERROR", "LinkedIn answered the verification unexpectedly")
