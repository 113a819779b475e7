"""The one way activities reach LinkedIn: through the identity's egress proxy (edgewise/egress.py).

Every place that talks to LinkedIn — the cookie check of a connect, a login and its checkpoint, action
runs (live and async), health checks — builds its client here, from an identity uid: the proxy URL is
resolved in the worker from its configuration and the database, so it never crosses Temporal. With
`EGRESS_REQUIRED=true` an identity without a proxy raises `NoEgressAvailable` (label NO_EGRESS_AVAILABLE)
instead of reaching LinkedIn from the host's own address.
"""

from __future__ import annotations

import asyncio

from activities.deps import ActivityDeps
from edgewise.egress import NoEgressAvailable, ensure_egress, load_pool
from linkedin.auth import LinkedInLogin, linkedin_login
from linkedin.protocol import CookieSink, LinkedInAdapter, SessionCookies

# identity uid → proxy id. An identity keeps its proxy for life (it is freed only when the identity is
# deleted, and then nothing runs as it any more), so once known it is not looked up again: the live path
# pays no database round trip for egress. Only holdings are cached, never "has none".
_held: dict[str, str] = {}


async def proxy_url(deps: ActivityDeps, identity_uid: str) -> str | None:
    """The URL of the identity's proxy (assigned now if it has none and one is free), or None to go direct
    (no pool, or none free while egress is optional). Raises NoEgressAvailable when egress is required."""
    pool = load_pool(deps.settings)
    cached = _held.get(identity_uid)
    if cached is not None and cached in pool:
        return pool[cached].url
    proxy = await asyncio.to_thread(ensure_egress, deps.engine, deps.settings, identity_uid) if pool else None
    if proxy is not None:
        _held[identity_uid] = proxy.id
        return proxy.url
    if deps.settings.egress_required:
        raise NoEgressAvailable("egress is required and this identity has no egress proxy")
    return None


async def linkedin_adapter(
    deps: ActivityDeps, identity_uid: str, cookies: SessionCookies, on_rotate: CookieSink
) -> LinkedInAdapter:
    """An adapter for this session that talks to LinkedIn through the identity's proxy."""
    return deps.adapter_factory(cookies, on_rotate, await proxy_url(deps, identity_uid))


async def session_adapter(deps: ActivityDeps, identity_uid: str, integration_uid: str) -> LinkedInAdapter:
    """The integration's stored session (rotations persisted, CSRF refreshed once, expiry and restriction
    recorded: activities/session_adapter.py), through the identity's proxy."""
    from activities.session_adapter import open_session_adapter

    return await open_session_adapter(deps, integration_uid, await proxy_url(deps, identity_uid))


async def login_client(deps: ActivityDeps, identity_uid: str, user_agent: str | None = None) -> LinkedInLogin:
    """A username/password login (and its checkpoint) through the identity's proxy."""
    return linkedin_login(deps.settings, proxy_url=await proxy_url(deps, identity_uid), user_agent=user_agent)


NO_EGRESS_ERROR = {
    "error_label": "NO_EGRESS_AVAILABLE",
    "message": "egress is required and the identity has no egress proxy",
    "params": {},
}


async def without_egress(deps: ActivityDeps, identity_uids: list[str]) -> set[str]:
    """The identities among these that cannot reach LinkedIn because egress is required and they hold no
    proxy (each is offered a free one first). Empty when egress is optional."""
    if not deps.settings.egress_required:
        return set()
    lacking: set[str] = set()
    for uid in identity_uids:
        try:
            await proxy_url(deps, uid)
        except NoEgressAvailable:
            lacking.add(uid)
    return lacking
