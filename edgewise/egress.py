"""Sticky egress (API.md §3): every identity reaches LinkedIn through an egress proxy of its own.

LinkedIn ties an account to where it logs in from: an account that hops between addresses, or shares one
with dozens of others, is challenged and restricted. So the operator lists a pool of proxies, each with a
country, and each identity gets one for its whole life — never shared with another identity, preferring
the country of the identity's time zone. When an identity is deleted its proxy is freed, but not handed to
another identity for `REUSE_AFTER` (30 days): LinkedIn would see a new account appear on an address a
deleted one just used.

Configuration (edgewise/config.py), merged: `EGRESS_PROXIES_FILE` (a path) and `EGRESS_PROXIES` (inline),
each a JSON list `[{"id": "de-1", "url": "http://user:pass@10.0.0.5:3128", "country": "DE"}]`. The pool is
configuration; its state (who holds which proxy, when one was freed) is the `egress_proxies` table, shared by
every API replica and worker. Proxy URLs may carry credentials: they are secrets, never logged, returned or
passed through Temporal — only the proxy id and its country are shown (the identity's `egress`).

With `EGRESS_REQUIRED=true` an identity without a proxy cannot connect or run (424 `NO_EGRESS_AVAILABLE`)
and its traffic is refused rather than sent from the host's own address; with `false` it goes direct.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from db.engine import session_scope
from db.models import EgressProxy, Identity
from edgewise.config import Settings
from edgewise.timeutil import utcnow
from linkedin.protocol import LinkedInError

log = logging.getLogger("edgewise.egress")

# A freed proxy is not handed to another identity before this has passed.
REUSE_AFTER = timedelta(days=30)

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class EgressConfigError(ValueError):
    """The pool's configuration cannot be used. The message names entries by index or id, never a URL."""


class NoEgressAvailable(LinkedInError):
    """Egress is required and the identity holds no proxy: its traffic is refused, not sent directly."""

    label = "NO_EGRESS_AVAILABLE"


@dataclass(frozen=True)
class Proxy:
    id: str
    url: str = field(repr=False)  # may carry credentials
    country: str | None = None


# --- configuration ----------------------------------------------------------------------------------------


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=128)
    url: str = Field(min_length=1, max_length=2048)
    country: str | None = Field(default=None, min_length=2, max_length=2)


@lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes (tzdata's iso3166.tab): a typo in a proxy's country is refused at start."""
    return frozenset(
        line.split("\t", 1)[0] for line in _tzdata_lines("iso3166.tab") if line and not line.startswith("#")
    )


def _check_url(url: str, where: str) -> None:
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port raises on a malformed port
    except ValueError:
        raise EgressConfigError(f"{where}: url is not a valid URL") from None
    # httpx speaks to HTTP proxies over http or https (CONNECT for https targets); socks needs an extra.
    if parts.scheme not in ("http", "https") or not host:
        raise EgressConfigError(f"{where}: url must be an http:// or https:// proxy URL with a host")


def parse_pool(raw: str, source: str) -> list[Proxy]:
    """The proxies listed in `raw` (JSON). EgressConfigError names what is wrong, never a URL."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise EgressConfigError(f"{source} is not valid JSON") from None
    if not isinstance(data, list):
        raise EgressConfigError(f"{source} must be a JSON list of proxies")
    proxies: list[Proxy] = []
    for index, item in enumerate(data):
        where = f"{source}[{index}]"
        try:
            entry = _Entry.model_validate(item)
        except ValidationError as exc:
            # loc and msg only: pydantic's own str() would quote the input, i.e. the URL and its password.
            detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors())
            raise EgressConfigError(f"{where}: {detail}") from None
        if not _ID_RE.match(entry.id):
            raise EgressConfigError(f"{where}: id must be letters, digits, '.', '_', ':' or '-'")
        _check_url(entry.url, f"{where} ({entry.id})")
        country = entry.country.upper() if entry.country else None
        if country is not None and country not in _countries():
            raise EgressConfigError(f"{where} ({entry.id}): country {country!r} is not an ISO 3166 code")
        proxies.append(Proxy(entry.id, entry.url, country))
    return proxies


@lru_cache(maxsize=8)
def _parsed(inline: str, file_path: str, file_stamp: int) -> dict[str, Proxy]:
    proxies: list[Proxy] = []
    if file_path:
        try:
            text = Path(file_path).read_text(encoding="utf-8")
        except OSError as exc:
            raise EgressConfigError(f"EGRESS_PROXIES_FILE cannot be read ({exc.strerror})") from None
        proxies += parse_pool(text, "EGRESS_PROXIES_FILE")
    if inline.strip():
        proxies += parse_pool(inline, "EGRESS_PROXIES")
    pool: dict[str, Proxy] = {}
    for proxy in proxies:
        if proxy.id in pool:
            raise EgressConfigError(f"egress proxy id {proxy.id!r} is listed twice")
        pool[proxy.id] = proxy
    urls = [p.url for p in pool.values()]
    if len(set(urls)) != len(urls):
        raise EgressConfigError("two egress proxies have the same url: each identity must have its own")
    return pool


def load_pool(settings: Settings) -> dict[str, Proxy]:
    """The configured proxies by id (empty when none is configured). Re-read when the file changes; parsed
    once otherwise (this is on every LinkedIn call's path)."""
    path = settings.egress_proxies_file.strip()
    stamp = 0
    if path:
        try:
            stamp = os.stat(path).st_mtime_ns
        except OSError:
            stamp = -1  # _parsed reports it
    return _parsed(settings.egress_proxies.get_secret_value(), path, stamp)


# --- time zone → country ----------------------------------------------------------------------------------


def _tzdata_lines(name: str) -> list[str]:
    """A table shipped with the IANA database (the `tzdata` package, a dependency; else the system's)."""
    try:
        text = resources.files("tzdata").joinpath("zoneinfo", name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        system = Path("/usr/share/zoneinfo") / name
        text = system.read_text(encoding="utf-8") if system.exists() else ""
    return text.splitlines()


@lru_cache(maxsize=1)
def _zone_countries() -> dict[str, str]:
    """Zone → country from zone.tab (one country per zone), plus the database's links (`Europe/Kiev`,
    `Asia/Calcutta`, `US/Eastern`) resolved to their target zone's country."""
    countries: dict[str, str] = {}
    for line in _tzdata_lines("zone.tab"):
        if line and not line.startswith("#"):
            code, _coordinates, zone, *_ = line.split("\t")
            countries.setdefault(zone, code)
    for line in _tzdata_lines("tzdata.zi"):
        if line.startswith("L "):
            _, target, link = line.split()
            if link not in countries and target in countries:
                countries[link] = countries[target]
    return countries


def zone_country(timezone: str | None) -> str | None:
    """The country of an IANA time zone (`Europe/Paris` → `FR`); None for `UTC` and zones of no country."""
    if not timezone:
        return None
    return _zone_countries().get(timezone)


# --- assignment (the database side) ----------------------------------------------------------------------


def _ensure_rows(session: Session, pool: dict[str, Proxy]) -> None:
    """A state row per configured proxy. Inserted if missing, never overwritten (another process may be
    inserting the same rows: ON CONFLICT DO NOTHING on both databases)."""
    known = select(EgressProxy.proxy_id).where(col(EgressProxy.proxy_id).in_(pool))
    existing = set(session.exec(known).all())
    missing = [{"proxy_id": pid} for pid in pool if pid not in existing]
    if not missing:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(EgressProxy).values(missing).on_conflict_do_nothing(index_elements=["proxy_id"]))


def _free(now: datetime) -> Any:
    """Rows no identity holds, and that were never freed or were freed `REUSE_AFTER` ago."""
    return (
        col(EgressProxy.identity_uid).is_(None),
        or_(col(EgressProxy.released_at).is_(None), col(EgressProxy.released_at) <= now - REUSE_AFTER),
    )


def _holds(session: Session, identity: Identity, pool: dict[str, Proxy]) -> Proxy | None:
    if identity.egress_proxy_id is None or identity.egress_proxy_id not in pool:
        return None
    row = session.get(EgressProxy, identity.egress_proxy_id)
    if row is None or row.identity_uid != identity.uid:
        return None
    return pool[identity.egress_proxy_id]


def _drop(session: Session, identity: Identity, now: datetime) -> None:
    """Forget the identity's proxy (gone from the pool's configuration, or the identity is deleted)."""
    session.execute(
        update(EgressProxy)
        .where(col(EgressProxy.identity_uid) == identity.uid)
        .values(identity_uid=None, released_at=now)
    )
    identity.egress_proxy_id = None
    identity.egress_country = None
    session.add(identity)


def assign_egress(
    session: Session, identity: Identity, pool: dict[str, Proxy], now: datetime | None = None
) -> Proxy | None:
    """The identity's proxy: the one it holds, else a free one of the pool (its time zone's country first,
    then proxies never used before, then by id), recorded on the identity. None when none is free.

    Runs in the caller's transaction (the caller commits). Atomic under concurrency: the identity row is
    locked first (one assignment per identity at a time), and a proxy is taken by a conditional UPDATE that
    only one transaction can win; the loser moves on to the next candidate.
    """
    if not pool:
        return None
    now = now or utcnow()
    locked = session.exec(
        select(Identity).where(Identity.uid == identity.uid).with_for_update().execution_options(
            populate_existing=True
        )
    ).one_or_none()
    identity = locked or identity
    held = _holds(session, identity, pool)
    if held is not None:
        return held
    if identity.egress_proxy_id is not None:
        # Its proxy left the operator's list: it gets another one (an address change, logged by id).
        log.warning("identity %s: egress proxy %r is not configured any more", identity.uid,
                    identity.egress_proxy_id)
        _drop(session, identity, now)
    _ensure_rows(session, pool)
    rows = session.exec(
        select(EgressProxy).where(col(EgressProxy.proxy_id).in_(pool), *_free(now))
    ).all()
    preferred = zone_country(identity.timezone)
    candidates = sorted(
        rows,
        key=lambda r: (pool[r.proxy_id].country != preferred or preferred is None, r.released_at is not None,
                       r.proxy_id),
    )
    for row in candidates:
        taken = session.execute(
            update(EgressProxy)
            .where(col(EgressProxy.proxy_id) == row.proxy_id, *_free(now))
            .values(identity_uid=identity.uid, assigned_at=now, released_at=None)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            proxy = pool[row.proxy_id]
            identity.egress_proxy_id = proxy.id
            identity.egress_country = proxy.country
            session.add(identity)
            session.flush()
            return proxy
    return None


def release_egress(session: Session, identity: Identity, now: datetime | None = None) -> None:
    """The identity is deleted: free its proxy (no other identity gets it for 30 days). Caller commits."""
    _drop(session, identity, now or utcnow())


def ensure_egress(engine: Engine, settings: Settings, identity_uid: str) -> Proxy | None:
    """The identity's proxy, assigning one now if it has none and one is free (its own transaction)."""
    pool = load_pool(settings)
    if not pool:
        return None
    with session_scope(engine) as session:
        identity = session.get(Identity, identity_uid)
        if identity is None or identity.deleted_at is not None:
            return None
        held = _holds(session, identity, pool)
        if held is not None:
            return held
        return assign_egress(session, identity, pool)


def has_free_proxy(engine: Engine, pool: dict[str, Proxy]) -> bool:
    """Whether some proxy of the pool could be handed out now (a configured proxy without a row is free)."""
    if not pool:
        return False
    with Session(engine) as session:
        rows = session.exec(select(EgressProxy).where(col(EgressProxy.proxy_id).in_(pool))).all()
    cutoff = utcnow() - REUSE_AFTER
    free = [r for r in rows if r.identity_uid is None and (r.released_at is None or r.released_at <= cutoff)]
    return bool(free) or len(rows) < len(pool)


def assign_missing(engine: Engine, settings: Settings) -> int:
    """Give every live identity without a (configured) proxy one, oldest first, while proxies are free.
    Run on the API's start: identities created before the pool grew, or before egress was configured, get
    theirs. Returns how many were assigned."""
    pool = load_pool(settings)
    if not pool:
        return 0
    with session_scope(engine) as session:
        lacking = session.exec(
            select(Identity.uid)
            .where(
                col(Identity.deleted_at).is_(None),
                or_(col(Identity.egress_proxy_id).is_(None), col(Identity.egress_proxy_id).not_in(pool)),
            )
            .order_by(col(Identity.created_at), col(Identity.uid))
        ).all()
    assigned = 0
    for uid in lacking:
        if ensure_egress(engine, settings, uid) is not None:
            assigned += 1
        elif not has_free_proxy(engine, pool):
            break  # nothing left: the others would not get one either
    if assigned:
        log.info("egress: %d identities got a proxy", assigned)
    return assigned
