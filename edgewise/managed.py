"""The managed pool (API.md §4, `identity_mode: "managed"`): LinkedIn accounts the platform owns, which every
workspace may run `managed_allowed` actions as, at 1.5× the credits.

Where they live: one hidden platform workspace (uid `MANAGED_WORKSPACE_UID`, name `__managed__`) that has no
members, so no API key reaches it and its identities appear in no customer's lists or lookups. One identity
per pool entry, its uid derived from the entry's name (`pool_identity_uid`): provisioning is idempotent and
API replicas agree on it. Each is connected through the same cookie-connect workflow as a customer's account
(api/routes/integrations.py): the cookies are verified against LinkedIn, stored encrypted, and never logged
or returned — what is reported is entry names and reasons.

Configuration (edgewise/config.py): `MANAGED_POOL_FILE` (a path) and/or `MANAGED_POOL` (the same JSON inline):
`[{"name": "…", "cookies": {"li_at": "…", "JSESSIONID": "…", "li_a"?: "…"}, "user_agent"?: "…"}]`, plus
`MANAGED_POOL_SANDBOX_ACCOUNTS=N` (N accounts of a sandbox, for `make dev`). The API provisions the pool on
each start (`provision_on_start`): new entries are connected, entries already VALID with the same `li_at` are
left alone (LinkedIn is not asked again), changed cookies reconnect the same account, entries LinkedIn
refuses are logged and skipped, and identities whose entry was removed are disconnected. With nothing
configured the pool is left as it is (`MANAGED_POOL=[]` empties it), so a replica started without the
setting cannot wipe it.

Customer runs never show the pool's identity uids (see README, "Managed pool"): an async managed run keeps
`identity_ids` empty and finds its lanes at plan time (`pool_identity_uids`); a live one stores the account
it ran as internally, and the run shapes render `identity_ids: []` and `identity_uid: null` for managed runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from db.engine import session_scope
from db.models import Identity, Integration, Workspace
from edgewise.catalog import level_allows
from edgewise.config import Settings
from edgewise.crypto import Keyring, new_webhook_secret
from linkedin.protocol import SessionCookies

if TYPE_CHECKING:
    from temporalio.client import Client

    from workflows.contracts import ConnectOutcome

log = logging.getLogger("edgewise.managed")

_NAMESPACE = uuid.UUID("3b0f6f0e-5a2d-4c47-9d8e-8f4a61c2b7d5")
MANAGED_WORKSPACE_UID = str(uuid.uuid5(_NAMESPACE, "managed-pool-workspace"))
MANAGED_WORKSPACE_NAME = "__managed__"
# pg_advisory_lock(classid, objid): one provisioning at a time across API replicas. The two-key space does
# not overlap the one-key locks the connect activity takes per LinkedIn account.
_LOCK_KEYS = {"a": 7311, "b": 1}


class PoolConfigError(ValueError):
    """The pool's configuration cannot be used; nothing is provisioned. The message holds no secret."""


# --- selection (API and worker) -----------------------------------------------------------------------


def pool_identity_uid(name: str) -> str:
    """The identity of the pool entry `name` (stable across starts and replicas)."""
    return str(uuid.uuid5(_NAMESPACE, f"identity:{name}"))


def pool_integrations(session: Session, required_level: str | None) -> list[Integration]:
    """The pool's VALID integrations that can run an action needing `required_level`, by identity uid."""
    rows = session.exec(
        select(Integration)
        .join(Identity, col(Identity.uid) == col(Integration.identity_uid))
        .where(
            Integration.workspace_uid == MANAGED_WORKSPACE_UID,
            Identity.workspace_uid == MANAGED_WORKSPACE_UID,
            Integration.status == "VALID",
            col(Integration.deleted_at).is_(None),
            col(Identity.deleted_at).is_(None),
            col(Integration.linkedin_profile_id).is_not(None),
        )
    ).all()
    usable = [row for row in rows if level_allows(row.level, required_level)]
    usable.sort(key=lambda row: row.identity_uid)
    return usable


def pool_identity_uids(session: Session, required_level: str | None) -> list[str]:
    """The lanes of an async managed run: every pool identity with a VALID integration of the level."""
    return [row.identity_uid for row in pool_integrations(session, required_level)]


# --- configuration --------------------------------------------------------------------------------------


@dataclass
class PoolAccount:
    """One pool entry. `cookies`, or `fetch_cookies` (called only when the account must be (re)connected)."""

    name: str
    cookies: SessionCookies | None = None
    fetch_cookies: Callable[[], Awaitable[SessionCookies]] | None = field(default=None, repr=False)


class _PoolEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=3, max_length=255)
    cookies: dict[str, Any]
    user_agent: str | None = Field(default=None, max_length=1024)


def _errors_text(where: str, exc: ValidationError) -> str:
    # loc and msg only: pydantic's own str() would quote the input, i.e. the cookies.
    parts = []
    for error in exc.errors()[:5]:
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        message = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
        parts.append(f"{where}{loc}: {message}")
    return "; ".join(parts)


def parse_pool(raw: str, source: str = "MANAGED_POOL") -> list[PoolAccount]:
    """Parse the pool's JSON (see the module docstring). Raises PoolConfigError without echoing values."""
    # The connect route's own rules (quotes, blanks, what an HTTP header can carry).
    from api.routes.integrations import CookiesIn, clean_user_agent

    try:
        data = json.loads(raw)
    except ValueError as exc:
        line = getattr(exc, "lineno", "?")
        raise PoolConfigError(f"{source}: not valid JSON (line {line})") from None
    if not isinstance(data, list):
        raise PoolConfigError(f"{source}: must be a JSON list of accounts")
    accounts: list[PoolAccount] = []
    for index, item in enumerate(data):
        where = f"{source}[{index}]"
        try:
            entry = _PoolEntry.model_validate(item)
        except ValidationError as exc:
            raise PoolConfigError(_errors_text(where, exc)) from None
        try:
            cookies = CookiesIn.model_validate(entry.cookies)
        except ValidationError as exc:
            raise PoolConfigError(_errors_text(f"{where}.cookies", exc)) from None
        try:
            user_agent = clean_user_agent(entry.user_agent)
        except ValueError as exc:
            raise PoolConfigError(f"{where}.user_agent: {exc}") from None
        accounts.append(
            PoolAccount(
                name=entry.name.strip(),
                cookies=SessionCookies(
                    li_at=cookies.li_at,
                    jsessionid=cookies.JSESSIONID,
                    li_a=cookies.li_a,
                    user_agent=user_agent,
                ),
            )
        )
    return accounts


def pool_configured(settings: Settings) -> bool:
    return bool(
        settings.managed_pool_file.strip()
        or settings.managed_pool.get_secret_value().strip()
        or settings.managed_pool_sandbox_accounts
    )


async def sandbox_pool_accounts(settings: Settings, count: int) -> list[PoolAccount]:
    """`count` accounts of the sandbox at LINKEDIN_BASE_URL (login `none`, active), about a third of them
    Sales Navigator; taken from the end of its list. Their cookies are minted only when one must connect."""
    import httpx

    from edgewise.safety import sandbox_answers

    base = settings.linkedin_base_url.rstrip("/")
    if not await asyncio.to_thread(sandbox_answers, base):
        raise PoolConfigError(
            f"MANAGED_POOL_SANDBOX_ACCOUNTS is set but {base} does not answer as a sandbox "
            "(GET /_sandbox/clock)"
        )
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        response = await http.get("/_sandbox/accounts")
        response.raise_for_status()
        listed = [
            a for a in response.json() if a.get("login") == "none" and a.get("status") == "active"
        ][::-1]
    navigators = [a for a in listed if a.get("level") == "sales_navigator"]
    others = [a for a in listed if a.get("level") != "sales_navigator"]
    wanted_sn = min((count + 1) // 3, len(navigators))
    chosen = navigators[:wanted_sn] + others[: count - wanted_sn]
    if len(chosen) < count:
        chosen += navigators[wanted_sn : wanted_sn + count - len(chosen)]

    def minter(account_id: Any) -> Callable[[], Awaitable[SessionCookies]]:
        async def mint() -> SessionCookies:
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                minted = await http.post(f"/_sandbox/accounts/{account_id}/sessions")
                minted.raise_for_status()
                data = minted.json()
            return SessionCookies(li_at=data["li_at"], jsessionid=data["JSESSIONID"])

        return mint

    return [PoolAccount(name=f"sandbox-{a['id']}", fetch_cookies=minter(a["id"])) for a in chosen]


async def load_pool_accounts(settings: Settings) -> list[PoolAccount] | None:
    """The configured pool, or None when nothing is configured (then the pool is left as it is)."""
    if not pool_configured(settings):
        return None
    accounts: list[PoolAccount] = []
    path = settings.managed_pool_file.strip()
    if path:
        try:
            raw = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
        except OSError as exc:
            raise PoolConfigError(f"MANAGED_POOL_FILE {path}: {exc.strerror or type(exc).__name__}") from None
        accounts += parse_pool(raw, "MANAGED_POOL_FILE")
    inline = settings.managed_pool.get_secret_value().strip()
    if inline:
        accounts += parse_pool(inline, "MANAGED_POOL")
    if settings.managed_pool_sandbox_accounts:
        accounts += await sandbox_pool_accounts(settings, settings.managed_pool_sandbox_accounts)
    return accounts


# --- provisioning ---------------------------------------------------------------------------------------


@dataclass
class PoolReport:
    """What a provisioning did, by entry name (never a secret)."""

    connected: list[str] = field(default_factory=list)  # connected now, or reconnected with new cookies
    kept: list[str] = field(default_factory=list)  # already VALID with the configured session
    failed: dict[str, str] = field(default_factory=dict)  # skipped: why
    disconnected: list[str] = field(default_factory=list)  # no longer configured


def ensure_managed_workspace(engine: Engine, keyring: Keyring) -> None:
    """The hidden platform workspace (no members: no API key can reach it)."""
    with session_scope(engine) as session:
        if session.get(Workspace, MANAGED_WORKSPACE_UID) is not None:
            return
        workspace = Workspace(uid=MANAGED_WORKSPACE_UID, name=MANAGED_WORKSPACE_NAME, secret_enc="")
        workspace.secret_enc = keyring.encrypt_json(new_webhook_secret(), associated=workspace.uid)
        session.add(workspace)


def _ensure_identity(engine: Engine, keyring: Keyring, account: PoolAccount) -> tuple[str, bool]:
    """The entry's identity (created or revived), and whether it is already VALID with these cookies."""
    from activities.sessions import decrypt_cookies

    uid = pool_identity_uid(account.name)
    with session_scope(engine) as session:
        identity = session.get(Identity, uid)
        if identity is None:
            # Pool accounts only run reads (managed_allowed actions): no working hours apply.
            session.add(
                Identity(
                    uid=uid,
                    workspace_uid=MANAGED_WORKSPACE_UID,
                    name=account.name,
                    timezone="UTC",
                    working_hours=None,
                )
            )
            return uid, False
        if identity.deleted_at is not None:
            identity.deleted_at = None
            session.add(identity)
        integration = session.exec(
            select(Integration).where(
                Integration.identity_uid == uid, col(Integration.deleted_at).is_(None)
            )
        ).first()
        if integration is None or integration.status != "VALID" or not integration.cookies_enc:
            return uid, False
        if account.cookies is None:
            return uid, True  # minted on demand (sandbox): a VALID session is kept as it is
        try:
            stored = decrypt_cookies(keyring, integration)
        except Exception:
            return uid, False
        return uid, stored.li_at == account.cookies.li_at


def _connected_pool(engine: Engine) -> dict[str, str]:
    """Pool identities that hold a live integration: uid → name."""
    with Session(engine) as session:
        rows = session.exec(
            select(Identity.uid, Identity.name)
            .join(Integration, col(Integration.identity_uid) == col(Identity.uid))
            .where(
                Identity.workspace_uid == MANAGED_WORKSPACE_UID,
                col(Identity.deleted_at).is_(None),
                col(Integration.deleted_at).is_(None),
            )
        ).all()
        return {uid: name for uid, name in rows}


async def _connect(
    engine: Engine, keyring: Keyring, settings: Settings, client: Client, uid: str, cookies: SessionCookies
) -> ConnectOutcome:
    """The connect route's path: stash the cookies encrypted, run the connect workflow, erase the stash."""
    from api.routes.integrations import _discard_stash, _prepare_connect, _run_connect
    from workflows.contracts import ConnectInput

    workflow_id, stash_uid = await asyncio.to_thread(
        _prepare_connect, engine, keyring, settings, MANAGED_WORKSPACE_UID, uid, cookies
    )
    try:
        return await _run_connect(
            client,
            settings,
            workflow_id,
            ConnectInput(workspace_uid=MANAGED_WORKSPACE_UID, identity_uid=uid, stash_uid=stash_uid),
        )
    finally:
        await asyncio.shield(asyncio.to_thread(_discard_stash, engine, stash_uid))


async def _provision_one(
    engine: Engine,
    keyring: Keyring,
    settings: Settings,
    client: Client,
    account: PoolAccount,
    report: PoolReport,
) -> None:
    uid, current = await asyncio.to_thread(_ensure_identity, engine, keyring, account)
    if current:
        report.kept.append(account.name)
        return
    cookies = account.cookies
    if cookies is None:
        if account.fetch_cookies is None:
            raise PoolConfigError("no cookies")
        cookies = await account.fetch_cookies()
    outcome = await _connect(engine, keyring, settings, client, uid, cookies)
    if outcome.outcome == "VALID":
        report.connected.append(account.name)
    else:
        report.failed[account.name] = outcome.message or outcome.outcome


@contextlib.asynccontextmanager
async def _provisioning_lock(engine: Engine) -> AsyncIterator[None]:
    """One provisioning at a time across API replicas (PostgreSQL); SQLite means one machine anyway."""
    if engine.dialect.name != "postgresql":
        yield
        return
    conn = await asyncio.to_thread(lambda: engine.connect().execution_options(isolation_level="AUTOCOMMIT"))
    try:
        await asyncio.to_thread(conn.execute, text("SELECT pg_advisory_lock(:a, :b)"), _LOCK_KEYS)
        try:
            yield
        finally:
            await asyncio.to_thread(conn.execute, text("SELECT pg_advisory_unlock(:a, :b)"), _LOCK_KEYS)
    finally:
        await asyncio.to_thread(conn.close)


async def provision_pool(
    engine: Engine, keyring: Keyring, settings: Settings, client: Client, accounts: Sequence[PoolAccount]
) -> PoolReport:
    """Make the pool exactly `accounts`: connect new or changed entries, disconnect removed ones.

    Idempotent. An entry LinkedIn refuses (or that conflicts, e.g. an account a customer connected) is
    reported in `failed` and skipped; the others go on. Needs a worker polling the task queue.
    """
    names = [account.name for account in accounts]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise PoolConfigError(f"managed pool: duplicate account names {duplicates}")
    from edgewise.errors import ApiError

    report = PoolReport()
    async with _provisioning_lock(engine):
        await asyncio.to_thread(ensure_managed_workspace, engine, keyring)
        for account in accounts:
            try:
                await _provision_one(engine, keyring, settings, client, account, report)
            except ApiError as exc:
                report.failed[account.name] = f"{exc.label}: {exc.message}"
            except Exception as exc:  # one account's trouble never stops the others
                report.failed[account.name] = type(exc).__name__
                log.warning("managed pool: account %r could not be provisioned (%s)", account.name, exc)
        wanted = {pool_identity_uid(name) for name in names}
        for uid, name in (await asyncio.to_thread(_connected_pool, engine)).items():
            if uid in wanted:
                continue
            await _disconnect(engine, uid)
            report.disconnected.append(name)
    for name, reason in report.failed.items():
        log.warning("managed pool: account %r skipped: %s", name, reason)
    log.info(
        "managed pool: %d connected, %d unchanged, %d skipped, %d disconnected",
        len(report.connected),
        len(report.kept),
        len(report.failed),
        len(report.disconnected),
    )
    return report


async def _disconnect(engine: Engine, uid: str) -> None:
    """The disconnect route's path (cookies erased). The hidden workspace has no webhook: no event to send."""
    from api.routes.integrations import _disconnect as disconnect_integration
    from edgewise.errors import ApiError

    with contextlib.suppress(ApiError):  # disconnected meanwhile
        await asyncio.to_thread(disconnect_integration, engine, MANAGED_WORKSPACE_UID, uid)


async def provision_from_settings(
    engine: Engine, keyring: Keyring, settings: Settings, client: Client
) -> PoolReport | None:
    """Provision the configured pool; None when nothing is configured."""
    accounts = await load_pool_accounts(settings)
    if accounts is None:
        return None
    return await provision_pool(engine, keyring, settings, client, accounts)


async def provision_on_start(app: Any, poll_seconds: float = 1.0) -> PoolReport | None:
    """The API's start-up task: wait for Temporal, then provision. Logs, never raises (but cancellation).

    `app` is the FastAPI app (or anything with `.state.settings/engine/keyring/temporal_client`)."""
    state = app.state
    settings: Settings = state.settings
    if not pool_configured(settings):
        return None
    while getattr(state, "temporal_client", None) is None:
        await asyncio.sleep(poll_seconds)
    try:
        return await provision_from_settings(state.engine, state.keyring, settings, state.temporal_client)
    except asyncio.CancelledError:
        raise
    except PoolConfigError as exc:
        log.error("managed pool not provisioned: %s", exc)
    except Exception:
        log.exception("managed pool provisioning failed")
    return None
