"""Request dependencies (FastAPI `Annotated` style). Use them as parameter types in routes:

    @router.post("/things", status_code=201)
    def create_thing(body: ThingIn, member: OpsMember, session: DbSession) -> ThingOut: ...

- `DbSession`      a sqlmodel Session for this request; commits when the route returns (before the response
                   is sent), rolls back if it raises. On SQLite every transaction holds the database's
                   write lock (`BEGIN IMMEDIATE`): `session.commit()` before awaiting anything slow.
- `CurrentMember`  the authenticated Member (401 without a valid `X-API-Key`). Members with role `user`
                   are read-only: any non-GET route using it answers 403 for them. The object is detached
                   (loaded by its own short session); re-load it through DbSession to change it.
- `AnyMember`      authenticated, without the read-only rule (only for what users may write: their key).
- `AdminMember`, `OpsMember` (admin or ops), or `Annotated[Member, Depends(require_role(...))]`.
- `SettingsDep`, `KeyringDep`, `EngineDep`, `TemporalClientDep` (503 SERVICE_UNAVAILABLE while Temporal
  is not connected).
- `get_or_404(session, Model, uid, workspace_uid)`: an object of this workspace, else 404.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client

from db.models import Member
from edgewise.config import Settings
from edgewise.crypto import Keyring, hash_api_key
from edgewise.errors import ApiError

ROLES = ("admin", "ops", "user")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="A member's API key (shown once, when the member is created or the key rotated).",
)


# --- application state ----------------------------------------------------------------------------------


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine_dep(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_keyring_dep(request: Request) -> Keyring:
    keyring: Keyring = request.app.state.keyring
    return keyring


def get_temporal_client(request: Request) -> Client:
    client: Client | None = getattr(request.app.state, "temporal_client", None)
    if client is None:
        raise ApiError(
            "SERVICE_UNAVAILABLE",
            "the workflow engine (Temporal) is not reachable yet; retry shortly",
            headers={"Retry-After": "5"},
        )
    return client


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
EngineDep = Annotated[Engine, Depends(get_engine_dep)]
KeyringDep = Annotated[Keyring, Depends(get_keyring_dep)]
TemporalClientDep = Annotated[Client, Depends(get_temporal_client)]


# --- database session -----------------------------------------------------------------------------------


def get_db(request: Request) -> Iterator[Session]:
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# scope="function": the commit runs when the route returns, before the response is sent — so a failed
# commit is an error response, never a 2xx for something that was not stored.
DbSession = Annotated[Session, Depends(get_db, scope="function")]


# --- authentication and roles ---------------------------------------------------------------------------


def lookup_member(engine: Engine, api_key: str | None) -> Member | None:
    """The member owning this key, detached, or None. Its own short session: no transaction (and, on
    SQLite, no write lock) stays open while the route runs."""
    if not api_key:
        return None
    with Session(engine, expire_on_commit=False) as session:
        # Closing the session (not rolling back) keeps the loaded attributes readable on the detached object.
        return session.exec(select(Member).where(Member.key_hash == hash_api_key(api_key))).first()


def _unauthorized(api_key: str | None) -> ApiError:
    message = "missing X-API-Key header" if not api_key else "unknown API key"
    return ApiError("UNAUTHORIZED", message, headers={"WWW-Authenticate": "X-API-Key"})


def _read_only_refusal(member: Member, method: str) -> ApiError | None:
    if member.role == "user" and method not in READ_METHODS:
        return ApiError("FORBIDDEN", "members with role 'user' are read-only", params={"role": member.role})
    return None


def check_request_auth(request: Request, *, read_only_rule: bool = True) -> ApiError | None:
    """What the auth dependencies would refuse for this request (used where they have not run yet, e.g. a
    body refused before the route runs): 401 without a valid key; with `read_only_rule` (routes using
    `CurrentMember`), 403 for a `user` member's write."""
    api_key = request.headers.get("x-api-key")
    member = lookup_member(request.app.state.engine, api_key)
    if member is None:
        return _unauthorized(api_key)
    return _read_only_refusal(member, request.method) if read_only_rule else None


def authenticate(request: Request, api_key: Annotated[str | None, Security(api_key_header)]) -> Member:
    member = lookup_member(request.app.state.engine, api_key)
    if member is None:
        raise _unauthorized(api_key)
    request.state.member = member
    return member


def get_current_member(request: Request, member: Annotated[Member, Depends(authenticate)]) -> Member:
    refusal = _read_only_refusal(member, request.method)
    if refusal is not None:
        raise refusal
    return member


AnyMember = Annotated[Member, Depends(authenticate)]
CurrentMember = Annotated[Member, Depends(get_current_member)]


def require_role(*roles: str) -> Callable[..., Member]:
    """A dependency allowing only members with one of `roles` (403 otherwise)."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    def dependency(member: CurrentMember) -> Member:
        if member.role not in roles:
            raise ApiError(
                "FORBIDDEN",
                f"this requires role {' or '.join(roles)}; the key's member is {member.role}",
                params={"role": member.role, "required": list(roles)},
            )
        return member

    dependency.__name__ = f"require_{'_or_'.join(roles)}"
    return dependency


AdminMember = Annotated[Member, Depends(require_role("admin"))]
OpsMember = Annotated[Member, Depends(require_role("admin", "ops"))]


# --- workspace scoping ----------------------------------------------------------------------------------

T = TypeVar("T")


def get_or_404(
    session: Session, model: type[T], uid: str, workspace_uid: str, *, what: str | None = None
) -> T:
    """The object `uid` of `model` if it belongs to this workspace and is not soft-deleted; else 404.

    Objects of other workspaces are 404 too: their existence is not revealed.
    """
    obj: Any = session.get(model, uid)
    if obj is None or obj.workspace_uid != workspace_uid or getattr(obj, "deleted_at", None) is not None:
        name = what or getattr(model, "__tablename__", model.__name__).rstrip("s")
        raise ApiError("NOT_FOUND", f"no {name} {uid} in this workspace", params={"uid": uid})
    result: T = obj
    return result
