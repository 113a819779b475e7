"""The per-workspace API rate limit holds across API replicas (API.md §1): two `python -m api` processes on
one PostgreSQL database share the workspace's token bucket, so a burst sent to both at once gets exactly
the bucket's size through, and the rest 429 RATE_LIMITED — wherever it landed.

Temporal is not needed for these routes: the APIs serve without it (their /readyz would say so)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.cluster.stack import running_stack
from tests.support.servers import free_port

pytestmark = pytest.mark.cluster

BURST = 12


@pytest.mark.timeout(300)
async def test_two_api_processes_on_one_postgresql_share_the_workspace_bucket(tmp_path: Path) -> None:
    limits = {
        "RATE_LIMIT_BURST": str(BURST),
        "RATE_LIMIT_PER_SECOND": "0.01",  # nothing refills noticeably during the test
        "EDGEWISE_SAFETY_PROFILE": "standard",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",  # nothing listens there
    }
    with running_stack(tmp_path, apis=2, workers=0, temporal=False, extra_env=limits) as stack:
        key = stack.create_workspace("rate-limited")
        async with (
            httpx.AsyncClient(base_url=stack.api_url(0), headers={"X-API-Key": key}, timeout=60) as a,
            httpx.AsyncClient(base_url=stack.api_url(1), headers={"X-API-Key": key}, timeout=60) as b,
        ):
            # Two thirds of the bucket through replica A; one by one, so each answer says what is left.
            first = [await a.get("/v1/workspace") for _ in range(2 * BURST // 3)]
            # Then a burst at both at once: only what A left is there for anyone, B included.
            burst = await asyncio.gather(*((a, b)[i % 2].get("/v1/workspace") for i in range(2 * BURST)))
    assert [r.status_code for r in first] == [200] * len(first)
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in first]
    assert remaining == list(range(BURST - 1, BURST // 3 - 1, -1))
    statuses = sorted(r.status_code for r in burst)
    # Unshared buckets would let BURST through B alone; shared, the burst gets what A left: BURST // 3.
    assert statuses.count(200) == BURST // 3, [r.status_code for r in burst]
    assert statuses.count(429) == 2 * BURST - BURST // 3
    refused = next(r for r in burst if r.status_code == 429)
    assert refused.json()["error_label"] == "RATE_LIMITED" and "Retry-After" in refused.headers
