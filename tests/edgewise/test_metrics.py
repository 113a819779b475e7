"""Prometheus metrics (edgewise/metrics.py): the API's `/metrics` shows edgewise's events — actions by slug
and outcome, LinkedIn latency, Smart Limits refusals, delivery outcomes — and the Temporal SDK's metrics,
driven by a real flow (the session's API, worker, Temporal dev server and sandbox). The worker's own
endpoint is tested on a real worker process in tests/test_worker.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from edgewise import metrics
from linkedin.protocol import NotConnected
from tests.api.helpers import assert_error
from tests.conftest import AccountPool
from tests.support.flows import connected_identity
from tests.support.webhook_receiver import Receiver, running_receiver

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples that carry these labels (0 when there is none yet)."""
    wanted = set(labels.items())
    return sum(value for (sample, got), value in samples.items() if sample == name and wanted <= got)


async def _metrics(api_url: str) -> Samples:
    async with httpx.AsyncClient(timeout=30) as anonymous:
        response = await anonymous.get(f"{api_url}/metrics")
    assert response.status_code == 200, response.text
    return _scrape(response.text)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.mark.usefixtures("worker")
async def test_api_metrics_count_actions_latency_refusals_deliveries_and_show_temporal_sdk_metrics(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    api_url: str,
    receiver: Receiver,
) -> None:
    account = account_pool.take()
    identity, _ = await connected_identity(client, sandbox, account)
    before = await _metrics(api_url)

    # A live search: one action step, several LinkedIn requests.
    search = {
        "input": {"linkedin_people_search_url": "https://www.linkedin.com/search/results/people/?keywords=cto"},
        "identity_ids": [identity["uid"]],
    }
    live = await client.post("/v1/actions/linkedin-search-people/run/live", json=search)
    assert live.status_code == 200, live.text

    # A Smart Limit that refuses a live message (the identity may send none today).
    overrides = await client.put(
        f"/v1/identities/{identity['uid']}/limits", json={"limits": {"LK_MESSAGES_SENT": 0}}
    )
    assert overrides.status_code == 200, overrides.text
    people = await sandbox.get("/_sandbox/people", params={"connected_to": account["id"], "limit": 1})
    friend = people.json()[0]
    refused = await client.post(
        "/v1/actions/linkedin-message-profile/run/live",
        json={
            "input": {"linkedin_profile_url": friend["linkedin_profile_url"]},
            "parameters": {"message": "hello"},
            "identity_ids": [identity["uid"]],
        },
    )
    assert assert_error(refused, 429, "LIMIT_REACHED")["params"]["limit"] == "LK_MESSAGES_SENT"

    # An async extraction with a final callback: one delivery that succeeds.
    url, path = receiver.url_for()
    extraction = await client.post(
        "/v1/actions/linkedin-extract-people/run/async",
        json={
            "inputs": [{"linkedin_profile_url": friend["linkedin_profile_url"]}],
            "identity_ids": [identity["uid"]],
            "callback": {"url": url, "on": "final"},
        },
    )
    assert extraction.status_code == 202, extraction.text
    await receiver.wait_for(path, 1, timeout=60)

    after: dict[str, Any] = {}

    async def counted() -> bool:
        after["samples"] = await _metrics(api_url)
        return _value(after["samples"], "edgewise_delivery_attempts_total", outcome="succeeded") > _value(
            before, "edgewise_delivery_attempts_total", outcome="succeeded"
        )

    await _until(counted)
    samples: Samples = after["samples"]

    def delta(name: str, **labels: str) -> float:
        return _value(samples, name, **labels) - _value(before, name, **labels)

    assert delta("edgewise_actions_total", action="linkedin-search-people", outcome="succeeded") == 1
    assert delta("edgewise_actions_total", action="linkedin-extract-people", outcome="succeeded") == 1
    assert delta("edgewise_actions_total", action="linkedin-message-profile") == 0  # refused before acting
    assert delta("edgewise_linkedin_request_duration_seconds_count", method="GET", status="200") >= 2
    assert delta("edgewise_limit_refusals_total", limit="LK_MESSAGES_SENT", kind="live") == 1
    assert delta("edgewise_delivery_attempts_total", outcome="succeeded") >= 1
    # The API's own HTTP metrics and the Temporal SDK's (its client and live worker) in the same scrape.
    assert _value(samples, "edgewise_http_requests_total", route="/v1/actions/{slug}/run/live") >= 2
    assert _value(samples, "temporal_request_total") > 0
    assert any(name.startswith("temporal_worker_task_slots_available") for name, _ in samples)


async def _until(probe: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await probe():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the delivery attempt was not counted in time")
        await asyncio.sleep(0.1)


async def test_observe_action_counts_each_step_under_its_outcome() -> None:
    def count(outcome: str) -> float:
        labels = {"action": "test-action", "outcome": outcome}
        return metrics.REGISTRY.get_sample_value("edgewise_actions_total", labels) or 0.0

    async def succeeds() -> str:
        return "page"

    async def refused() -> str:
        raise NotConnected("not a first-degree connection")

    before_ok, before_refused = count("succeeded"), count("NOT_CONNECTED")
    assert await metrics.observe_action("test-action", succeeds()) == "page"
    with pytest.raises(NotConnected):
        await metrics.observe_action("test-action", refused())
    assert count("succeeded") == before_ok + 1
    assert count("NOT_CONNECTED") == before_refused + 1


def test_the_metrics_server_answers_metrics_and_health_only() -> None:
    server = metrics.serve("127.0.0.1", 0)
    try:
        base = f"http://127.0.0.1:{server.port}"
        scraped = httpx.get(f"{base}/metrics", timeout=10)
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
        families = {family.name for family in text_string_to_metric_families(scraped.text)}
        assert {"edgewise_actions", "edgewise_delivery_attempts", "process_resident_memory_bytes"} <= families
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        assert httpx.get(f"{base}/v1/workspace", timeout=10).status_code == 404
    finally:
        server.close()
