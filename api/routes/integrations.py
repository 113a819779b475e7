"""Connecting LinkedIn (API.md §3): connect or reconnect an identity's account by cookies or by
credentials (with LinkedIn's verification checkpoint), read the integration, disconnect it.

A cookie connect stores the submitted cookies encrypted in a short-lived SecretStash row and runs the
connect workflow with that row's uid only (no secret enters Temporal's history); the workflow checks the
session against LinkedIn and attaches it. We wait for its answer and reply with the Integration. A
credentials login goes through api/login_service.py (a PendingLogin row, the same workflow).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field, field_validator
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from activities.blocked_work import hold_work
from activities.connect import delete_stash, new_cookie_stash
from activities.deps import ActivityDeps
from api.deps import (
    CurrentMember,
    DbSession,
    EngineDep,
    KeyringDep,
    OpsMember,
    SettingsDep,
    TemporalClientDep,
    get_or_404,
)
from api.errors import error_responses
from api.login_service import (
    CHECKPOINT_TTL_SECONDS,
    abandon,
    check_code,
    checkpoint_response,
    checkpoint_target,
    erase_password,
    login_response,
    prepare_login,
    refuse_if_login_in_progress,
    run_login,
    search_attributes_for,
    submit_code,
)
from api.schemas import IntegrationOut, StrictModel, integration_out
from db.engine import session_scope
from db.models import Identity, Integration, PendingLogin
from edgewise.config import Settings
from edgewise.crypto import Keyring
from edgewise.egress import assign_egress, load_pool
from edgewise.errors import ApiError, bad_input
from edgewise.events import emit_integration_event
from edgewise.timeutil import iso_z, utcnow
from linkedin.protocol import SessionCookies
from workflows.connect import ConnectWorkflow, integration_uid_for_stash
from workflows.contracts import ConnectInput, ConnectOutcome, connect_workflow_id
from workflows.login_contracts import LoginAnswer

log = logging.getLogger("edgewise.api.integrations")

router = APIRouter(
    prefix="/v1/identities/{uid}/integrations/linkedin",
    tags=["integrations"],
    responses=error_responses(400, 401, 403, 404),
)

IdentityUid = Annotated[str, Path(description="The identity's uid")]

# How long the connect workflow may take (LinkedIn's answer, with a few retries of a hiccup).
CONNECT_TIMEOUT = timedelta(minutes=3)
_EVENT_NAMESPACE = uuid.UUID("0d5f2b1e-3c4a-4e8f-9a61-7b2c9d4e5f10")
_DISCONNECTED = {
    "error_label": "INTEGRATION_INVALID",
    "message": "the identity's LinkedIn account was disconnected; connect it again to resume",
    "params": {},
}


# --- request bodies -----------------------------------------------------------------------------------

# What goes into the Cookie header LinkedIn gets (RFC 6265 §4.1.1 cookie-octet: printable ASCII but space,
# `"`, `,`, `;` and `\`), and into its User-Agent header (printable ASCII): anything else could never be sent.
_COOKIE_OCTETS_RE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+")
_PRINTABLE_ASCII_RE = re.compile(r"[\x20-\x7e]+")


def _cookie_value(value: str) -> str:
    if not _COOKIE_OCTETS_RE.fullmatch(value):
        raise ValueError(
            "must be a cookie value: printable ASCII without spaces, double quotes, commas, semicolons "
            "or backslashes (RFC 6265)"
        )
    return value


def clean_user_agent(value: str | None) -> str | None:
    """The User-Agent sent to LinkedIn: stripped, None when blank; ValueError if a header cannot carry it."""
    value = value.strip() if value else None
    if value and not _PRINTABLE_ASCII_RE.fullmatch(value):
        raise ValueError("must be printable ASCII on one line (it is sent as an HTTP header)")
    return value or None


class CookiesIn(StrictModel):
    """The LinkedIn session cookies, as found in a logged-in browser."""

    li_at: str = Field(min_length=1, max_length=8192, description="The `li_at` cookie")
    JSESSIONID: str = Field(
        min_length=1,
        max_length=1024,
        description='The `JSESSIONID` cookie ("ajax:…"); surrounding double quotes are accepted and dropped',
    )
    li_a: str | None = Field(default=None, max_length=8192, description="The `li_a` cookie (Sales Navigator)")

    @field_validator("li_at", "li_a")
    @classmethod
    def _trimmed(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return _cookie_value(value)

    @field_validator("JSESSIONID")
    @classmethod
    def _unquoted(cls, value: str) -> str:
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].strip()
        if not value:
            raise ValueError("must not be empty")
        return _cookie_value(value)


class BasicIn(StrictModel):
    """A LinkedIn username and password, for one login attempt (kept encrypted only until it is made)."""

    username: str = Field(min_length=1, max_length=320, description="The LinkedIn login (an email or phone)")
    password: str = Field(min_length=1, max_length=1024, description="The LinkedIn password")

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: str) -> str:
        # Sent as given (spaces may be part of it), but a blank one cannot be a LinkedIn password.
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class AuthDataIn(StrictModel):
    cookies: CookiesIn | None = Field(default=None, description="Connect with a browser session's cookies")
    basic: BasicIn | None = Field(
        default=None, description="Log in with `{username, password}` (LinkedIn may ask for verification)"
    )
    user_agent: str | None = Field(
        default=None,
        max_length=1024,
        description="The browser's User-Agent the cookies came from (printable ASCII)",
    )

    @field_validator("user_agent")
    @classmethod
    def _header_value(cls, value: str | None) -> str | None:
        return clean_user_agent(value)


class CheckpointIn(StrictModel):
    code: str | None = Field(
        default=None,
        max_length=64,
        description="The PIN or 2FA code LinkedIn sent (surrounding spaces ignored); omit it to re-check "
        "an in-app validation",
    )


class ConnectIn(StrictModel):
    auth_data: AuthDataIn


# --- helpers --------------------------------------------------------------------------------------------


def _live_integration(session: Session, identity_uid: str) -> Integration | None:
    return session.exec(
        select(Integration)
        .where(Integration.identity_uid == identity_uid, Integration.deleted_at.is_(None))  # type: ignore[union-attr]
        .order_by(Integration.created_at.desc())  # type: ignore[attr-defined]
    ).first()


def _event_deps(request: Request, client: Client) -> ActivityDeps:
    """What edgewise.events needs to record and deliver an event from a request (it never calls LinkedIn)."""
    state = request.app.state

    def no_adapter(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the API never calls LinkedIn")

    return ActivityDeps(
        settings=state.settings,
        engine=state.engine,
        keyring=state.keyring,
        client=client,
        adapter_factory=no_adapter,
    )


def _prepare_connect(
    engine: Engine,
    keyring: Keyring,
    settings: Settings,
    workspace_uid: str,
    identity_uid: str,
    cookies: SessionCookies,
) -> tuple[str, str]:
    """Check the identity and store the cookies in a stash. Returns (workflow id, stash uid)."""
    with session_scope(engine) as session:
        identity = get_or_404(session, Identity, identity_uid, workspace_uid, what="identity")
        # Its own proxy (assigned now if it has none and one is free): the cookie check goes through it.
        if assign_egress(session, identity, load_pool(settings)) is None and settings.egress_required:
            raise ApiError("NO_EGRESS_AVAILABLE", "this identity has no egress proxy; it cannot connect")
        current = _live_integration(session, identity.uid)
        # A login in progress, or its checkpoint waiting for a code (API.md §3: a new connect → 409).
        refuse_if_login_in_progress(session, identity.uid)
        stash = new_cookie_stash(keyring, cookies)
        session.add(stash)
        integration_uid = current.uid if current is not None else integration_uid_for_stash(stash.uid)
        return connect_workflow_id(integration_uid, stash.uid), stash.uid


def _discard_stash(engine: Engine, stash_uid: str) -> None:
    with session_scope(engine) as session:
        delete_stash(session, stash_uid)


def _load_integration(engine: Engine, integration_uid: str) -> Integration | None:
    with Session(engine) as session:
        return session.get(Integration, integration_uid)


async def _run_connect(
    client: Client, settings: Settings, workflow_id: str, input: ConnectInput
) -> ConnectOutcome:
    handle = await client.start_workflow(
        ConnectWorkflow.run,
        input,
        id=workflow_id,
        task_queue=settings.temporal_task_queue,
        execution_timeout=CONNECT_TIMEOUT,
        search_attributes=search_attributes_for(input.workspace_uid, input.identity_uid),
    )
    try:
        return await handle.result()
    except WorkflowFailureError as exc:
        cause = exc.cause  # the workflow's ApplicationError, typed after the activity's failure
        if isinstance(cause, ApplicationError) and cause.type == "Throttled":
            wait = float(cause.details[0]) if cause.details else 60.0
            raise ApiError(
                "LIMIT_REACHED",
                "LinkedIn throttled this account; try again later",
                params={
                    "postponed_until": iso_z(utcnow() + timedelta(seconds=wait)),
                    "limit": "LINKEDIN_THROTTLED",
                },
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        log.warning("connect workflow %s failed: %s", workflow_id, exc.cause)
        raise ApiError("LK_ERROR", "LinkedIn did not answer the session check; try again shortly")


# --- routes ---------------------------------------------------------------------------------------------


@router.post(
    "",
    status_code=201,
    response_model=IntegrationOut,
    summary="Connect (or reconnect) the identity's LinkedIn account",
    description=(
        "Cookies: `{auth_data: {cookies: {li_at, JSESSIONID, li_a?}, user_agent?}}`. The session is "
        "verified against LinkedIn before answering. First connect → 201 and event AUTH_SUCCESS; "
        "reconnecting the same LinkedIn account → 200 (same uid) and event AUTH_UPDATED. A session "
        "LinkedIn rejects → 424 INTEGRATION_INVALID with nothing stored. An account connected to another "
        "identity, or cookies of a different account than the one connected → 409.\n\n"
        "Credentials: `{auth_data: {basic: {username, password}}}`. LinkedIn is asked to log in exactly "
        "once. When it asks for verification → 202 PENDING with `checkpoint {type, expires_at, "
        "attempts_left}` and event AUTH_PENDING; answer it with POST …/checkpoint. A refused login → 424 "
        "INTEGRATION_INVALID with `params.action_to_be_taken` (`RETRY_LOGIN`, or "
        "`SOLVE_CHALLENGE_IN_BROWSER` for a CAPTCHA) and event AUTH_FAILED. The password is kept only for "
        "the one attempt, encrypted, and never returned, logged or written to workflow history.\n\n"
        "Exactly one of `cookies` and `basic`. A new connect while a login or its checkpoint is pending "
        "→ 409."
    ),
    responses={
        200: {"model": IntegrationOut, "description": "Reconnected the same LinkedIn account (same uid)"},
        202: {"model": IntegrationOut, "description": "LinkedIn asks for verification: status PENDING"},
        **error_responses(409, 424, 429),
    },
)
async def connect_linkedin(
    uid: IdentityUid,
    body: ConnectIn,
    member: OpsMember,
    engine: EngineDep,
    keyring: KeyringDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> JSONResponse:
    auth = body.auth_data
    if auth.basic is not None and auth.cookies is not None:
        raise bad_input("auth_data.basic", "give either cookies or basic credentials, not both")
    user_agent = auth.user_agent  # stripped, None when blank
    if auth.basic is not None:
        return await _login(
            uid, auth.basic, user_agent, member.workspace_uid, engine, keyring, settings, client
        )
    if auth.cookies is None:
        raise bad_input("auth_data.cookies", "field required (or auth_data.basic)")
    cookies = SessionCookies(
        li_at=auth.cookies.li_at,
        jsessionid=auth.cookies.JSESSIONID,
        li_a=auth.cookies.li_a,
        user_agent=user_agent,
    )

    workflow_id, stash_uid = await asyncio.to_thread(
        _prepare_connect, engine, keyring, settings, member.workspace_uid, uid, cookies
    )
    try:
        outcome = await _run_connect(
            client,
            settings,
            workflow_id,
            ConnectInput(workspace_uid=member.workspace_uid, identity_uid=uid, stash_uid=stash_uid),
        )
    finally:
        # The workflow erases it; this covers a workflow that never ran (or timed out) — never leave cookies.
        await asyncio.shield(asyncio.to_thread(_discard_stash, engine, stash_uid))

    if outcome.outcome == "CONFLICT":
        raise ApiError(
            "CONFLICT", outcome.message or "this LinkedIn account cannot be connected to this identity"
        )
    if outcome.outcome != "VALID" or outcome.integration_uid is None:
        raise ApiError("INTEGRATION_INVALID", outcome.message or "LinkedIn rejected the session")
    integration = await asyncio.to_thread(_load_integration, engine, outcome.integration_uid)
    if integration is None:  # deleted between the workflow's answer and now
        raise ApiError("CONFLICT", "the integration was removed while connecting")
    return JSONResponse(integration_out(integration), status_code=201 if outcome.created else 200)


async def _login(
    identity_uid: str,
    basic: BasicIn,
    user_agent: str | None,
    workspace_uid: str,
    engine: Engine,
    keyring: Keyring,
    settings: Settings,
    client: Client,
) -> JSONResponse:
    workflow_id, pending_uid = await asyncio.to_thread(
        prepare_login,
        engine,
        keyring,
        settings,
        workspace_uid,
        identity_uid,
        (basic.username, basic.password),
        user_agent,
    )
    answer: LoginAnswer | None = None
    try:
        answer = await run_login(
            client,
            settings,
            workflow_id,
            ConnectInput(
                workspace_uid=workspace_uid,
                identity_uid=identity_uid,
                stash_uid=pending_uid,
                method="credentials",
                checkpoint_ttl_seconds=CHECKPOINT_TTL_SECONDS,
            ),
        )
    finally:
        # The workflow erased the password before asking LinkedIn; this covers a workflow that never ran.
        # Without an answer the flow is dropped altogether (its workflow then finds nothing to do).
        drop = answer is None or answer.outcome == "UNAVAILABLE"
        await asyncio.shield(asyncio.to_thread(erase_password, engine, pending_uid, drop=drop))
    return await asyncio.to_thread(login_response, engine, answer)


@router.post(
    "/checkpoint",
    response_model=IntegrationOut,
    summary="Answer LinkedIn's verification checkpoint of a credentials login",
    description=(
        '`{"code": "123456"}` for a PIN or 2FA checkpoint (surrounding spaces ignored), or `{}` to re-check '
        "an in-app validation the member approved on their phone → 200 with the Integration: VALID (event "
        "AUTH_SUCCESS, or AUTH_UPDATED on a reconnect) or still PENDING. A wrong code → 400 BAD_INPUT with "
        "`params.attempts_left`; the last wrong attempt ends the login (INVALID, event AUTH_FAILED). A "
        "malformed code → 400 naming `code`, no attempt used. No checkpoint pending, or it expired → 409; "
        "two concurrent codes: one is verified with LinkedIn, the other → 409."
    ),
    responses=error_responses(409, 424, 429),
)
async def answer_checkpoint(
    uid: IdentityUid,
    body: CheckpointIn,
    member: OpsMember,
    engine: EngineDep,
    client: TemporalClientDep,
) -> JSONResponse:
    workflow_id, checkpoint_type = await asyncio.to_thread(
        checkpoint_target, engine, member.workspace_uid, uid
    )
    code = check_code(checkpoint_type, body.code)
    answer = await submit_code(client, workflow_id, code)
    return await asyncio.to_thread(checkpoint_response, engine, answer)


@router.get("", response_model=IntegrationOut, summary="The identity's LinkedIn integration")
def get_linkedin(uid: IdentityUid, member: CurrentMember, session: DbSession) -> dict[str, Any]:
    identity = get_or_404(session, Identity, uid, member.workspace_uid, what="identity")
    integration = _live_integration(session, identity.uid)
    if integration is None:
        raise ApiError("NOT_FOUND", f"identity {uid} has no LinkedIn integration", params={"uid": uid})
    return integration_out(integration)


def _disconnect(engine: Engine, workspace_uid: str, identity_uid: str) -> tuple[str, str | None]:
    """Mark the integration deleted with its session erased, and end a login in progress (its password
    and checkpoint cookie go with its row). Returns (integration uid, that login's workflow id)."""
    with session_scope(engine) as session:
        identity = get_or_404(session, Identity, identity_uid, workspace_uid, what="identity")
        integration = session.exec(
            select(Integration)
            .where(Integration.identity_uid == identity.uid, Integration.deleted_at.is_(None))  # type: ignore[union-attr]
            .with_for_update()
        ).first()
        if integration is None:
            raise ApiError("NOT_FOUND", f"identity {identity_uid} has no LinkedIn integration")
        now = utcnow()
        integration.cookies_enc = None
        integration.user_agent = None
        integration.checkpoint = None
        integration.deleted_at = now
        integration.updated_at = now
        session.add(integration)
        pending = session.exec(select(PendingLogin).where(PendingLogin.identity_uid == identity.uid)).first()
        workflow_id = pending.workflow_id if pending is not None else None
        if pending is not None:
            session.delete(pending)
        return integration.uid, workflow_id


def _current_integration(engine: Engine, workspace_uid: str, identity_uid: str) -> str | None:
    with Session(engine) as session:
        identity = get_or_404(session, Identity, identity_uid, workspace_uid, what="identity")
        integration = _live_integration(session, identity.uid)
        return integration.uid if integration is not None else None


@router.delete(
    "",
    status_code=204,
    response_class=Response,
    summary="Disconnect the identity's LinkedIn account",
    description=(
        "Erases the stored session (and ends a login waiting for verification) and emits event DELETED. "
        "The account's work stops: its runs' waiting inputs go BLOCKED until it is connected again. Its "
        "Smart Limits windows are kept: they belong to the LinkedIn account, so reconnecting it (to this "
        "identity or another) does not reset them."
    ),
)
async def delete_linkedin(
    uid: IdentityUid, request: Request, member: OpsMember, engine: EngineDep, client: TemporalClientDep
) -> Response:
    current = await asyncio.to_thread(_current_integration, engine, member.workspace_uid, uid)
    if current is not None:
        # The account's waiting work stops at once: inputs only this identity can run go BLOCKED (API.md
        # §5) until it is connected again; work already with LinkedIn finishes. Done before the integration
        # is marked deleted: the helper finds the identity through its live integration.
        await hold_work(_event_deps(request, client), current, _DISCONNECTED)
    integration_uid, login_workflow_id = await asyncio.to_thread(
        _disconnect, engine, member.workspace_uid, uid
    )
    if login_workflow_id is not None:
        await abandon(client, login_workflow_id)
    event_id = str(uuid.uuid5(_EVENT_NAMESPACE, f"{integration_uid}:DELETED"))
    try:
        await emit_integration_event(
            _event_deps(request, client), integration_uid, "DELETED", event_id=event_id
        )
    except Exception:  # the disconnect stands; a lost event is logged, not a failed request
        log.exception("could not emit DELETED for integration %s", integration_uid)
    return Response(status_code=204)
