"""Liveness, readiness and metrics; the API when Temporal is not reachable."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from api import app as app_module
from api.deps import TemporalClientDep
from edgewise.config import Settings
from tests.api.helpers import assert_error, client_for
from tests.support.servers import free_port, serve_in_thread


async def test_healthz(api_url: str) -> None:
    async with client_for(api_url, None) as anonymous:
        response = await anonymous.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_when_everything_is_up(api_url: str) -> None:
    async with client_for(api_url, None) as anonymous:
        response = await anonymous.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "database": "ok", "temporal": "ok"}


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient, api_url: str) -> None:
    await client.get("/v1/identities/some-uid-that-does-not-exist")
    await client.get("/v1/workspace")
    async with client_for(api_url, None) as anonymous:
        response = await anonymous.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'edgewise_http_requests_total{method="GET",route="/v1/identities/{uid}",status="404"}' in text
    assert 'edgewise_http_requests_total{method="GET",route="/v1/workspace",status="200"}' in text
    assert "edgewise_http_request_duration_seconds_bucket" in text
    assert "some-uid-that-does-not-exist" not in text  # templates, never raw paths


@pytest.fixture(scope="module")
def no_temporal_url(settings: Settings) -> Iterator[str]:
    """The API with Temporal unreachable (nothing listens on the address)."""
    from api.app import create_app

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(app_module, "TEMPORAL_STARTUP_WAIT", 0.2)
    app: FastAPI = create_app(settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"}))

    @app.get("/needs-temporal")
    def needs_temporal(client: TemporalClientDep) -> dict[str, str]:
        return {"namespace": client.namespace}

    try:
        with serve_in_thread(app) as url:
            yield url
    finally:
        monkeypatch.undo()


async def test_api_serves_without_temporal_and_readyz_says_why(no_temporal_url: str) -> None:
    async with client_for(no_temporal_url, None) as anonymous:
        assert (await anonymous.get("/healthz")).status_code == 200
        body = assert_error(await anonymous.get("/readyz"), 503, "SERVICE_UNAVAILABLE")
        assert body["params"]["database"] == "ok"
        assert body["params"]["temporal"].startswith("unreachable")
        assert_error(await anonymous.get("/needs-temporal"), 503, "SERVICE_UNAVAILABLE")
