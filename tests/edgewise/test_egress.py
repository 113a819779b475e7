"""The egress pool (edgewise/egress.py): configuration, time zone → country, and assignment over the database
under test (SQLite, or PostgreSQL with TEST_DATABASE_URL) — preference, life-long holding, the 30-day wait
after a release, and atomic assignment under concurrency. Proxy ids are unique per test: the pool's state
table is shared by the session's database."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from activities.deps import ActivityDeps
from activities.egress import proxy_url, without_egress
from db.engine import session_scope
from db.models import EgressProxy, Identity
from edgewise.config import Settings
from edgewise.egress import (
    REUSE_AFTER,
    EgressConfigError,
    NoEgressAvailable,
    assign_missing,
    ensure_egress,
    load_pool,
    parse_pool,
    release_egress,
    zone_country,
)
from edgewise.timeutil import utcnow
from edgewise.workspaces import CreatedWorkspace


def _pool_settings(settings: Settings, entries: list[dict[str, Any]], **extra: Any) -> Settings:
    return settings.model_copy(update={"egress_proxies": SecretStr(json.dumps(entries)), **extra})


def _entries(*countries: str | None) -> list[dict[str, Any]]:
    suffix = uuid.uuid4().hex[:8]
    return [
        {"id": f"p{i}-{suffix}", "url": f"http://user:pw{i}@127.0.0.1:{40000 + i}", "country": country}
        for i, country in enumerate(countries)
    ]


def _identity(engine: Engine, workspace_uid: str, timezone: str = "UTC") -> str:
    with session_scope(engine) as session:
        identity = Identity(workspace_uid=workspace_uid, name=f"id-{uuid.uuid4().hex[:6]}", timezone=timezone)
        session.add(identity)
    return identity.uid


def _held_by(engine: Engine, identity_uid: str) -> tuple[str | None, str | None]:
    with Session(engine) as session:
        identity = session.get(Identity, identity_uid)
        assert identity is not None
        return identity.egress_proxy_id, identity.egress_country


# --- configuration and countries --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "country"),
    [
        ("Europe/Paris", "FR"),
        ("Europe/Berlin", "DE"),
        ("America/Argentina/Buenos_Aires", "AR"),
        ("Asia/Calcutta", "IN"),  # a link of the IANA database, resolved to its zone
        ("Europe/Kiev", "UA"),
        ("UTC", None),
        ("Etc/GMT", None),
        (None, None),
    ],
)
def test_time_zone_country(zone: str | None, country: str | None) -> None:
    assert zone_country(zone) == country


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        '{"id": "a"}',
        '[{"id": "a", "url": "socks5://u:s3cr3t@10.0.0.1:1080"}]',
        '[{"id": "a", "url": "http://u:s3cr3t@10.0.0.1:99999"}]',
        '[{"id": "a", "url": "http://u:s3cr3t@10.0.0.1:3128", "country": "ZZ"}]',
        '[{"id": "a b", "url": "http://u:s3cr3t@10.0.0.1:3128"}]',
        '[{"id": "a", "url": "http://u:s3cr3t@10.0.0.1:3128", "password": "s3cr3t"}]',
        '[{"url": "http://u:s3cr3t@10.0.0.1:3128"}]',
    ],
)
def test_bad_pool_configuration_is_refused_without_quoting_the_url(raw: str) -> None:
    with pytest.raises(EgressConfigError) as caught:
        parse_pool(raw, "EGRESS_PROXIES")
    assert "s3cr3t" not in str(caught.value) and "EGRESS_PROXIES" in str(caught.value)


def test_pool_merges_file_and_variable_and_refuses_duplicates(tmp_path: Path, settings: Settings) -> None:
    listed = tmp_path / "proxies.json"
    listed.write_text(json.dumps([{"id": "file-1", "url": "http://10.0.0.1:3128", "country": "de"}]))
    both = settings.model_copy(
        update={
            "egress_proxies_file": str(listed),
            "egress_proxies": SecretStr(json.dumps([{"id": "env-1", "url": "http://10.0.0.2:3128"}])),
        }
    )
    pool = load_pool(both)
    assert sorted(pool) == ["env-1", "file-1"]
    assert (pool["file-1"].country, pool["env-1"].country) == ("DE", None)
    assert "10.0.0.1" not in repr(pool["file-1"])  # the URL (maybe with credentials) stays out of reprs

    listed.write_text(json.dumps([{"id": "env-1", "url": "http://10.0.0.3:3128"}]))  # re-read on change
    with pytest.raises(EgressConfigError, match="listed twice"):
        load_pool(both)
    same_url = [{"id": "a", "url": "http://10.0.0.9:1"}, {"id": "b", "url": "http://10.0.0.9:1"}]
    with pytest.raises(EgressConfigError, match="same url"):
        load_pool(settings.model_copy(update={"egress_proxies": SecretStr(json.dumps(same_url))}))
    missing = settings.model_copy(update={"egress_proxies_file": str(tmp_path / "nope.json")})
    with pytest.raises(EgressConfigError, match="cannot be read"):
        load_pool(missing)
    assert load_pool(settings) == {}


# --- assignment -----------------------------------------------------------------------------------------


def test_preferred_country_then_never_used_then_by_id(
    engine: Engine, settings: Settings, new_workspace: CreatedWorkspace
) -> None:
    entries = _entries("US", "DE", "FR", None)
    configured = _pool_settings(settings, entries)
    us, de, fr, nowhere = (e["id"] for e in entries)
    ws = new_workspace.workspace_uid

    paris = _identity(engine, ws, "Europe/Paris")
    assert ensure_egress(engine, configured, paris) is not None
    assert _held_by(engine, paris) == (fr, "FR")
    berlin = _identity(engine, ws, "Europe/Berlin")
    ensure_egress(engine, configured, berlin)
    assert _held_by(engine, berlin) == (de, "DE")
    # No proxy in India: the first free one by id.
    kolkata = _identity(engine, ws, "Asia/Calcutta")
    ensure_egress(engine, configured, kolkata)
    assert _held_by(engine, kolkata) == (us, "US")
    # Another Paris identity: France's proxy is taken, so it gets what is left.
    second_paris = _identity(engine, ws, "Europe/Paris")
    ensure_egress(engine, configured, second_paris)
    assert _held_by(engine, second_paris) == (nowhere, None)
    assert ensure_egress(engine, configured, _identity(engine, ws, "Europe/Paris")) is None  # all taken

    # Kept for life: asking again, or after a time zone change, returns the same proxy.
    with session_scope(engine) as session:
        identity = session.get(Identity, paris)
        assert identity is not None
        identity.timezone = "America/New_York"
        session.add(identity)
    proxy = ensure_egress(engine, configured, paris)
    assert proxy is not None and proxy.id == fr and _held_by(engine, paris) == (fr, "FR")


def test_a_released_proxy_waits_30_days_and_prefers_never_used_ones(
    engine: Engine, settings: Settings, new_workspace: CreatedWorkspace
) -> None:
    entries = _entries("DE")
    configured = _pool_settings(settings, entries)
    [de] = [e["id"] for e in entries]
    ws = new_workspace.workspace_uid
    first = _identity(engine, ws, "Europe/Berlin")
    ensure_egress(engine, configured, first)

    with session_scope(engine) as session:
        identity = session.get(Identity, first)
        assert identity is not None
        release_egress(session, identity)
    assert _held_by(engine, first) == (None, None)
    later = _identity(engine, ws, "Europe/Berlin")
    assert ensure_egress(engine, configured, later) is None  # freed, but not for another identity yet

    with session_scope(engine) as session:
        row = session.get(EgressProxy, de)
        assert row is not None and row.released_at is not None
        row.released_at = utcnow() - REUSE_AFTER + timedelta(minutes=1)
        session.add(row)
    assert ensure_egress(engine, configured, later) is None  # a minute short of 30 days
    with session_scope(engine) as session:
        row = session.get(EgressProxy, de)
        assert row is not None
        row.released_at = utcnow() - REUSE_AFTER - timedelta(minutes=1)
        session.add(row)
    proxy = ensure_egress(engine, configured, later)
    assert proxy is not None and proxy.id == de and _held_by(engine, later) == (de, "DE")

    # With a free proxy never used before, a long-released one is the second choice.
    more = _entries("DE", "DE")
    fresh, reused = more[0]["id"], more[1]["id"]
    pool_settings = _pool_settings(settings, more)
    holder = _identity(engine, ws)
    ensure_egress(engine, pool_settings, holder)
    with session_scope(engine) as session:
        session.get(EgressProxy, fresh)  # make sure both rows exist
        rows = session.exec(select(EgressProxy).where(col(EgressProxy.proxy_id).in_([fresh, reused]))).all()
        for row in rows:
            row.identity_uid = None
            row.released_at = utcnow() - timedelta(days=90) if row.proxy_id == fresh else None
            session.add(row)
        identity = session.get(Identity, holder)
        assert identity is not None
        identity.egress_proxy_id = identity.egress_country = None
        session.add(identity)
    newcomer = _identity(engine, ws, "Europe/Berlin")
    ensure_egress(engine, pool_settings, newcomer)
    assert _held_by(engine, newcomer) == (reused, "DE")


def test_concurrent_assignment_never_shares_a_proxy(
    engine: Engine, settings: Settings, new_workspace: CreatedWorkspace
) -> None:
    entries = _entries("FR", "FR", "DE")
    configured = _pool_settings(settings, entries)
    identities = [_identity(engine, new_workspace.workspace_uid, "Europe/Paris") for _ in range(8)]
    # Every identity asked twice at once, from 8 threads: each proxy ends up with exactly one identity.
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda uid: ensure_egress(engine, configured, uid), identities * 2))
    by_identity: dict[str, set[str]] = {}
    for uid, proxy in zip(identities * 2, results, strict=True):
        if proxy is not None:
            by_identity.setdefault(uid, set()).add(proxy.id)
    assert all(len(ids) == 1 for ids in by_identity.values())  # asked twice, got the same both times
    assert len(by_identity) == 3
    held = [next(iter(ids)) for ids in by_identity.values()]
    assert sorted(held) == sorted(e["id"] for e in entries)
    with Session(engine) as session:
        rows = session.exec(
            select(EgressProxy).where(col(EgressProxy.proxy_id).in_([e["id"] for e in entries]))
        ).all()
        assert sorted(r.identity_uid for r in rows if r.identity_uid) == sorted(by_identity)
    for uid, ids in by_identity.items():
        assert _held_by(engine, uid)[0] == next(iter(ids))


def test_an_identity_whose_proxy_left_the_configuration_gets_another(
    engine: Engine, settings: Settings, new_workspace: CreatedWorkspace
) -> None:
    entries = _entries("DE", "DE")
    first, second = entries[0]["id"], entries[1]["id"]
    identity = _identity(engine, new_workspace.workspace_uid, "Europe/Berlin")
    ensure_egress(engine, _pool_settings(settings, entries), identity)
    assert _held_by(engine, identity) == (first, "DE")
    proxy = ensure_egress(engine, _pool_settings(settings, entries[1:]), identity)
    assert proxy is not None and proxy.id == second and _held_by(engine, identity) == (second, "DE")


def test_assign_missing_covers_identities_created_before_the_pool(
    tmp_path: Path, settings: Settings, keyring: Any
) -> None:
    """On its own database: start-up assignment gives every live identity one (oldest first) while any is
    free, and leaves deleted identities alone."""
    from db.engine import make_engine
    from db.migrate import upgrade
    from edgewise.workspaces import create_workspace
    from tests.support.database import fresh_database

    with fresh_database(tmp_path) as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            ws = create_workspace(engine, keyring, "w", "a@example.test").workspace_uid
            uids = [_identity(engine, ws, "Europe/Paris") for _ in range(3)]
            with session_scope(engine) as session:
                gone = Identity(workspace_uid=ws, name="gone", deleted_at=utcnow())
                session.add(gone)
            entries = _entries("FR", None)
            assert assign_missing(engine, _pool_settings(settings, entries)) == 2
            assert [_held_by(engine, uid)[0] for uid in uids] == [entries[0]["id"], entries[1]["id"], None]
            assert _held_by(engine, gone.uid) == (None, None)
            assert assign_missing(engine, _pool_settings(settings, entries)) == 0
            with pytest.raises(EgressConfigError):
                assign_missing(engine, settings.model_copy(update={"egress_proxies": SecretStr("[1]")}))
        finally:
            engine.dispose()


# --- the activities' side: the proxy a LinkedIn client uses ---------------------------------------------


def _deps(settings: Settings, engine: Engine) -> ActivityDeps:
    def no_adapter(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("not used")

    return ActivityDeps(settings=settings, engine=engine, keyring=None, client=None,  # type: ignore[arg-type]
                        adapter_factory=no_adapter)


async def test_proxy_url_for_activities(
    engine: Engine, settings: Settings, new_workspace: CreatedWorkspace
) -> None:
    entries = _entries("FR")
    ws = new_workspace.workspace_uid
    holder, other = _identity(engine, ws, "Europe/Paris"), _identity(engine, ws, "Europe/Paris")

    optional = _deps(_pool_settings(settings, entries), engine)
    assert await proxy_url(optional, holder) == entries[0]["url"]  # assigned on first use
    assert await proxy_url(optional, holder) == entries[0]["url"]
    assert await proxy_url(optional, other) is None  # none free, egress optional: direct
    assert await without_egress(optional, [holder, other]) == set()

    required = _deps(_pool_settings(settings, entries, egress_required=True), engine)
    assert await proxy_url(required, holder) == entries[0]["url"]
    with pytest.raises(NoEgressAvailable) as caught:
        await proxy_url(required, other)
    assert caught.value.label == "NO_EGRESS_AVAILABLE"
    assert await without_egress(required, [holder, other]) == {other}

    # No pool at all: direct when optional, refused when required.
    assert await proxy_url(_deps(settings, engine), other) is None
    with pytest.raises(NoEgressAvailable):
        await proxy_url(_deps(settings.model_copy(update={"egress_required": True}), engine), other)
