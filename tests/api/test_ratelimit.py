"""Per-workspace API rate limits (API.md §1): token buckets in the database, shared by API replicas.

Each test serves its own API (small bursts and rates through a copy of the session's settings) and uses
brand-new workspaces, so its buckets start full and nothing else touches them.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from starlette.datastructures import State
from starlette.responses import PlainTextResponse

from api.app import create_app
from api.ratelimit import Bucket, RateLimitMiddleware, RateLimitUnavailable, bucket_for, take_token
from db.engine import make_engine
from edgewise.config import Settings
from edgewise.crypto import Keyring, hash_api_key
from edgewise.workspaces import CreatedWorkspace, create_workspace
from tests.api.helpers import assert_error, client_for
from tests.support.servers import serve_in_thread

SLOW = 0.05  # tokens per second: nothing refills noticeably during a test


def _limited(settings: Settings, **limits: Any) -> Iterator[str]:
    with serve_in_thread(create_app(settings.model_copy(update=limits))) as url:
        yield url


@pytest.fixture(scope="module")
def tight_api(settings: Settings) -> Iterator[str]:
    yield from _limited(
        settings,
        rate_limit_per_second=SLOW,
        rate_limit_burst=3,
        rate_limit_live_per_second=SLOW,
        rate_limit_live_burst=2,
    )


@pytest.fixture(scope="module")
def refilling_api(settings: Settings) -> Iterator[str]:
    yield from _limited(settings, rate_limit_per_second=2.0, rate_limit_burst=2)


@pytest.fixture(scope="module")
def replica_a(settings: Settings) -> Iterator[str]:
    yield from _limited(settings, rate_limit_per_second=0.01, rate_limit_burst=10)


@pytest.fixture(scope="module")
def replica_b(settings: Settings) -> Iterator[str]:
    yield from _limited(settings, rate_limit_per_second=0.01, rate_limit_burst=10)


@pytest.fixture(scope="module")
def unlimited_api(settings: Settings) -> Iterator[str]:
    # 0 in either setting disables a bucket.
    yield from _limited(settings, rate_limit_burst=0, rate_limit_live_per_second=0)


def _workspace(engine: Engine, keyring: Keyring) -> CreatedWorkspace:
    return create_workspace(engine, keyring, f"rl-{uuid.uuid4().hex[:6]}", "admin@example.test")


def _remaining(response: httpx.Response) -> int:
    return int(response.headers["X-RateLimit-Remaining"])


# --- behaviour over HTTP --------------------------------------------------------------------------------


async def test_beyond_the_burst_is_429_rate_limited_with_headers(
    tight_api: str, engine: Engine, keyring: Keyring
) -> None:
    ws = _workspace(engine, keyring)
    async with client_for(tight_api, ws.api_key) as http:
        for expected_left in (2, 1, 0):
            ok = await http.get("/v1/workspace")
            assert ok.status_code == 200, ok.text
            assert ok.headers["X-RateLimit-Limit"] == "3"
            assert _remaining(ok) == expected_left
        refused = await http.get("/v1/workspace")
    body = assert_error(refused, 429, "RATE_LIMITED")
    assert body["error_scope"] == "request"
    assert refused.headers["X-RateLimit-Limit"] == "3"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 1 / SLOW
    assert body["params"]["bucket"] == "other"
    assert body["params"]["limit"] == 3
    assert 0 < body["params"]["retry_after_seconds"] <= retry_after


async def test_live_runs_have_a_bucket_of_their_own(tight_api: str, engine: Engine, keyring: Keyring) -> None:
    ws = _workspace(engine, keyring)
    async with client_for(tight_api, ws.api_key) as http:
        live = "/v1/actions/no-such-action/run/live"
        for _ in range(2):
            counted = await http.post(live, json={})
            assert counted.status_code != 429, counted.text
            assert counted.headers["X-RateLimit-Limit"] == "2"
        refused = await http.post(live, json={})
        body = assert_error(refused, 429, "RATE_LIMITED")
        assert body["params"]["bucket"] == "live"
        # The other bucket is untouched by live runs, and the async mode counts there.
        other = await http.post("/v1/actions/no-such-action/run/async", json={})
        assert other.status_code != 429 and other.headers["X-RateLimit-Limit"] == "3"
        assert _remaining(other) == 2


async def test_workspaces_are_limited_independently(tight_api: str, engine: Engine, keyring: Keyring) -> None:
    first, second = _workspace(engine, keyring), _workspace(engine, keyring)
    async with client_for(tight_api, first.api_key) as one, client_for(tight_api, second.api_key) as two:
        for _ in range(3):
            assert (await one.get("/v1/workspace")).status_code == 200
        assert_error(await one.get("/v1/workspace"), 429, "RATE_LIMITED")
        fresh = await two.get("/v1/workspace")
        assert fresh.status_code == 200 and _remaining(fresh) == 2


async def test_members_of_one_workspace_share_its_buckets(
    tight_api: str, engine: Engine, keyring: Keyring
) -> None:
    ws = _workspace(engine, keyring)
    async with client_for(tight_api, ws.api_key) as admin:
        created = await admin.post("/v1/members", json={"email": "u@example.test", "role": "user"})
        assert created.status_code == 201, created.text
        async with client_for(tight_api, created.json()["api_key"]) as user:
            assert _remaining(await user.get("/v1/members")) == 1
            assert _remaining(await admin.get("/v1/workspace")) == 0
            assert_error(await user.get("/v1/workspace"), 429, "RATE_LIMITED")


async def test_unauthenticated_and_public_requests_are_not_counted(
    tight_api: str, engine: Engine, keyring: Keyring
) -> None:
    ws = _workspace(engine, keyring)
    async with client_for(tight_api, None) as anonymous, client_for(tight_api, "ew_unknown") as stranger:
        for _ in range(5):
            for response in (await anonymous.get("/v1/workspace"), await stranger.get("/v1/workspace")):
                assert_error(response, 401, "UNAUTHORIZED")
                assert "X-RateLimit-Limit" not in response.headers
    async with client_for(tight_api, ws.api_key) as http:
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs") * 2:
            response = await http.get(path)
            assert response.status_code != 429 and "X-RateLimit-Limit" not in response.headers, path
        first = await http.get("/v1/workspace")
        assert first.status_code == 200 and _remaining(first) == 2  # the bucket was full


async def test_tokens_refill_over_time(refilling_api: str, engine: Engine, keyring: Keyring) -> None:
    ws = _workspace(engine, keyring)
    async with client_for(refilling_api, ws.api_key) as http:
        # 2 tokens/s: the third request within half a second finds less than one.
        assert (await http.get("/v1/workspace")).status_code == 200
        assert (await http.get("/v1/workspace")).status_code == 200
        refused = await http.get("/v1/workspace")
        body = assert_error(refused, 429, "RATE_LIMITED")
        wait = body["params"]["retry_after_seconds"]
        assert 0 < wait <= 0.5 and refused.headers["Retry-After"] == "1"
        await asyncio.sleep(wait + 0.1)
        assert (await http.get("/v1/workspace")).status_code == 200
        await asyncio.sleep(1.2)  # refills up to the burst, not beyond
        assert _remaining(await http.get("/v1/workspace")) == 1


async def test_two_api_instances_share_one_bucket(
    replica_a: str, replica_b: str, engine: Engine, keyring: Keyring
) -> None:
    ws = _workspace(engine, keyring)
    async with client_for(replica_a, ws.api_key) as a, client_for(replica_b, ws.api_key) as b:
        seen = []
        for index in range(10):
            response = await (a if index % 2 else b).get("/v1/workspace")
            assert response.status_code == 200, response.text
            seen.append(_remaining(response))
        assert seen == list(range(9, -1, -1))
        assert_error(await a.get("/v1/workspace"), 429, "RATE_LIMITED")
        assert_error(await b.get("/v1/workspace"), 429, "RATE_LIMITED")


async def test_a_concurrent_burst_lets_exactly_the_burst_through(
    replica_a: str, replica_b: str, engine: Engine, keyring: Keyring
) -> None:
    ws = _workspace(engine, keyring)
    limits = httpx.Limits(max_connections=40)
    async with (
        httpx.AsyncClient(
            base_url=replica_a, headers={"X-API-Key": ws.api_key}, limits=limits, timeout=60
        ) as a,
        httpx.AsyncClient(
            base_url=replica_b, headers={"X-API-Key": ws.api_key}, limits=limits, timeout=60
        ) as b,
    ):
        responses = await asyncio.gather(*((a, b)[i % 2].get("/v1/workspace") for i in range(40)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 10, statuses
    assert statuses.count(429) == 30, statuses
    assert sorted(_remaining(r) for r in responses if r.status_code == 200) == list(range(10))


async def test_zero_disables_a_bucket(unlimited_api: str, engine: Engine, keyring: Keyring) -> None:
    ws = _workspace(engine, keyring)
    async with client_for(unlimited_api, ws.api_key) as http:
        for _ in range(30):
            response = await http.get("/v1/workspace")
            assert response.status_code == 200, response.text
            assert "X-RateLimit-Limit" not in response.headers
        for _ in range(5):
            live = await http.post("/v1/actions/no-such-action/run/live", json={})
            assert live.status_code != 429 and "X-RateLimit-Limit" not in live.headers


# One process taking tokens: imports little, says "ready", waits for "go" on stdin, prints how many it got.
_TAKER = """
import sys
from api.ratelimit import Bucket, take_token
from db.engine import make_engine
engine = make_engine(sys.argv[1])
bucket = Bucket("other", 0.001, 20)
print("ready", flush=True)
sys.stdin.readline()
print(sum(bool((d := take_token(engine, sys.argv[2], bucket)) and d.allowed) for _ in range(15)))
"""


def test_processes_taking_tokens_at_once_get_exactly_the_burst(
    database_url: str, engine: Engine, keyring: Keyring
) -> None:
    key_hash = hash_api_key(_workspace(engine, keyring).api_key)
    takers = [
        subprocess.Popen(
            [sys.executable, "-c", _TAKER, database_url, key_hash],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        for _ in range(4)
    ]
    try:
        for taker in takers:
            assert taker.stdout is not None and taker.stdout.readline().strip() == "ready"
        for taker in takers:
            assert taker.stdin is not None
            taker.stdin.write("go\n")
            taker.stdin.flush()
        granted = [int(taker.communicate(timeout=120)[0]) for taker in takers]
    finally:
        for taker in takers:
            taker.kill()
    assert sum(granted) == 20, granted  # 60 attempts from 4 processes at once, a burst of 20


async def test_requests_pass_uncounted_when_the_database_cannot_answer(tmp_path: Path) -> None:
    for path in (tmp_path / "missing" / "edgewise.db", tmp_path / "unmigrated.db"):
        broken = make_engine(f"sqlite:///{path}")
        with pytest.raises(RateLimitUnavailable):
            take_token(broken, "x" * 64, Bucket("other", 1.0, 1))
        # The middleware lets the request through (and logs it): the route meets the same database.
        state = State()
        state.settings, state.engine = Settings.model_validate({"RATE_LIMIT_BURST": 1}), broken
        limited = RateLimitMiddleware(PlainTextResponse("reached the route"), state)
        transport = httpx.ASGITransport(app=limited)
        async with httpx.AsyncClient(transport=transport, base_url="http://edgewise.test") as http:
            for _ in range(3):
                response = await http.get("/v1/workspace", headers={"X-API-Key": "ew_any"})
                assert response.text == "reached the route" and "X-RateLimit-Limit" not in response.headers
        broken.dispose()


# --- configuration, classification and documentation -----------------------------------------------------


def test_defaults_follow_the_contract_and_are_configurable() -> None:
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    assert (defaults["rate_limit_live_per_second"], defaults["rate_limit_live_burst"]) == (20, 100)
    assert (defaults["rate_limit_per_second"], defaults["rate_limit_burst"]) == (60, 200)
    custom = Settings.model_validate(
        {
            "RATE_LIMIT_LIVE_PER_SECOND": "5",
            "RATE_LIMIT_LIVE_BURST": "7",
            "RATE_LIMIT_PER_SECOND": "0.5",
            "RATE_LIMIT_BURST": "0",
        }
    )
    live = bucket_for(custom, "POST", "/v1/actions/x/run/live")
    assert live is not None and (live.per_second, live.burst) == (5, 7)
    assert bucket_for(custom, "GET", "/v1/workspace") is None  # burst 0: disabled
    with pytest.raises(ValidationError):
        Settings.model_validate({"RATE_LIMIT_BURST": "-1"})


def test_requests_are_sorted_into_buckets() -> None:
    settings = Settings.model_validate(
        {
            "RATE_LIMIT_LIVE_PER_SECOND": 20,
            "RATE_LIMIT_LIVE_BURST": 100,
            "RATE_LIMIT_PER_SECOND": 60,
            "RATE_LIMIT_BURST": 200,
        }
    )
    live = bucket_for(settings, "POST", "/v1/actions/linkedin-extract-people/run/live")
    assert live is not None and (live.name, live.per_second, live.burst) == ("live", 20, 100)
    for method, path in [
        ("POST", "/v1/actions/linkedin-extract-people/run/async"),
        ("GET", "/v1/actions/linkedin-extract-people/run/live"),
        ("POST", "/v1/actions/a/run/live/extra"),
        ("GET", "/v1/runs"),
        ("GET", "/v1/nowhere"),
    ]:
        other = bucket_for(settings, method, path)
        assert other is not None and (other.name, other.burst) == ("other", 200), path
    for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/v1x", "/"):
        assert bucket_for(settings, "GET", path) is None, path


def test_openapi_documents_the_rate_limit() -> None:
    spec = create_app().openapi()
    workspace = spec["paths"]["/v1/workspace"]["get"]["responses"]
    assert "RATE_LIMITED" in workspace["429"]["description"]
    assert {"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining"} <= set(workspace["429"]["headers"])
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining"} <= set(workspace["200"]["headers"])
    live = spec["paths"]["/v1/actions/{slug}/run/live"]["post"]["responses"]["429"]["description"]
    assert "LIMIT_REACHED" in live and "RATE_LIMITED" in live
    assert "429" not in spec["paths"]["/healthz"]["get"]["responses"]
