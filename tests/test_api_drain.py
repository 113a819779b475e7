"""`python -m api` as a real process: SIGTERM drains it. A live call in flight at that moment is answered in
full (200, its results, its run SUCCEEDED), new connections are refused meanwhile, and the process exits 0
within API_SHUTDOWN_GRACE_SECONDS.

The API process shares the session's database, Temporal dev server, sandbox and in-process worker.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest

from edgewise.config import Settings
from edgewise.workspaces import CreatedWorkspace
from tests.conftest import TEST_KEY, AccountPool
from tests.support.flows import connected_identity, sandbox_latency
from tests.support.processes import Process, edgewise_env, python_process
from tests.support.servers import free_port

pytestmark = pytest.mark.usefixtures("worker")


def _api_process(settings: Settings, tmp_path: Path, port: int) -> Process:
    env = edgewise_env(
        settings,
        tmp_path / "data",
        TEST_KEY,
        API_HOST="127.0.0.1",
        API_PORT=str(port),
        API_SHUTDOWN_GRACE_SECONDS="30",
        LIVE_TIMEOUT_SECONDS="20",
    )
    return python_process("api", ["-m", "api"], env, tmp_path)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.timeout(240)
async def test_sigterm_drains_the_api_the_live_call_in_flight_is_answered_and_it_exits_0(
    settings: Settings,
    tmp_path: Path,
    new_workspace: CreatedWorkspace,
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = _api_process(settings, tmp_path, port).start()
    try:
        process.wait_until("the API's /healthz", lambda: _ready(url), timeout=120)
        async with httpx.AsyncClient(
            base_url=url, headers={"X-API-Key": new_workspace.api_key}, timeout=60
        ) as api:
            account = account_pool.take()
            identity, _ = await connected_identity(api, sandbox, account)
            target = (await sandbox.get("/_sandbox/people", params={"limit": 1, "offset": 41})).json()[0]
            # LinkedIn takes 3 s to answer: the SIGTERM arrives while the live call waits for it.
            async with sandbox_latency(sandbox, account["id"], 3000, scope="reads"):
                call = asyncio.create_task(
                    api.post(
                        "/v1/actions/linkedin-extract-people/run/live",
                        json={
                            "input": {"linkedin_profile_url": target["linkedin_profile_url"]},
                            "identity_ids": [identity["uid"]],
                        },
                    )
                )
                await asyncio.sleep(1.0)
                assert not call.done(), "the live call ended before the SIGTERM"
                process.signal(signal.SIGTERM)
                await asyncio.sleep(0.5)
                # Draining: the listening socket is closed, so a new connection is refused at once …
                with pytest.raises(httpx.ConnectError):
                    async with httpx.AsyncClient(timeout=5) as fresh:
                        await fresh.get(f"{url}/healthz")
                # … while the call in flight is still answered, in full.
                response = await call
            assert response.status_code == 200, response.text
            [row] = response.json()
            assert row["linkedin_profile_id"] == target["linkedin_profile_id"]
            run_uid = response.headers["X-Run-Uid"]
        exit_code = process.wait(timeout=60)
        assert exit_code == 0, process.tail()
        log = process.output()
        assert "Waiting for connections to close" in log, process.tail()
        assert "api stopped after draining" in log, process.tail()
    finally:
        process.stop()

    # The run the drained call started is recorded as finished (read through the session's own API).
    run = (await client.get(f"/v1/runs/{run_uid}")).json()
    assert (run["status"], run["output_count"]) == ("SUCCEEDED", 1), run
