"""The production topology without Docker, under failure (issue 6, point 2): PostgreSQL, one Temporal dev
server, the sandbox, 2 API processes and 2 worker processes on loopback (tests/cluster/stack.py).

2,000 writes — 1,600 messages from 20 identities and 400 invitations from 20 others, in async runs started
through both APIs — while one worker is SIGKILLed (and restarted) a fifth of the way through and the
Temporal server is restarted halfway. Afterwards every run has SUCCEEDED, every input has exactly one
output, and the sandbox's outbox holds each message and each invitation exactly once; no process logged a
secret.

The work is spread over several runs because the safety profile `test` keeps Smart Limits: one classic
account may send 100 messages and 25 invitations a day, and a message goes to the sender's own first-degree
connections (so a message run has one identity). A messaging identity sends 80, an inviting one ~20: the
headroom covers units a killed worker's permits still hold. Messages and invitations use different
accounts, so no two runs wait for one account's lease (their retries would only burn CPU). The sandbox's
own tolerances (LinkedIn's request rate) are off: they would only slow the test down, not change what it
proves.

Run by `make test-cluster` (and by CI after `make test`): a few minutes on the 2-core reference machine.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cluster.stack import Stack, running_stack

pytestmark = pytest.mark.cluster

MESSAGING_IDENTITIES = 20
MESSAGES_PER_IDENTITY = 80
INVITATION_RUNS = 2  # one through each API
INVITING_IDENTITIES_PER_RUN = 10
INVITATIONS_PER_RUN = 200  # 20 per identity, under the `test` profile's 25 a day
IDENTITIES = MESSAGING_IDENTITIES + INVITATION_RUNS * INVITING_IDENTITIES_PER_RUN
TOTAL = MESSAGING_IDENTITIES * MESSAGES_PER_IDENTITY + INVITATION_RUNS * INVITATIONS_PER_RUN
KILL_WORKER_AT = TOTAL // 5
RESTART_TEMPORAL_AT = TOTAL // 2
FINISH_TIMEOUT = 600.0
TERMINAL = {"SUCCEEDED", "PARTIAL_SUCCEEDED", "FAILED", "STOPPED"}


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} → {response.status_code}: {response.text[:1000]}"
    )
    return response.json()


async def _connect(
    api: httpx.AsyncClient, sandbox: httpx.AsyncClient, account: dict[str, Any]
) -> tuple[str, dict[str, str]]:
    """A new identity connected to `account` by fresh session cookies: (identity uid, the cookies)."""
    identity = _ok(await api.post("/v1/identities", json={"name": f"Cluster {account['id']}"}), 201)
    cookies = _ok(await sandbox.post(f"/_sandbox/accounts/{account['id']}/sessions"))
    integration = _ok(
        await api.post(
            f"/v1/identities/{identity['uid']}/integrations/linkedin",
            json={"auth_data": {"cookies": cookies}},
        ),
        201,
    )
    assert integration["status"] == "VALID", integration
    return str(identity["uid"]), cookies


async def _rows(api: httpx.AsyncClient, run_uid: str, kind: str) -> list[dict[str, Any]]:
    """Every input or output row of a finished run, following X-Pagination-Next until it is absent."""
    rows: list[dict[str, Any]] = []
    url: str | None = f"/v1/runs/{run_uid}/{kind}?limit=500"
    while url is not None:
        response = await api.get(url)
        rows.extend(_ok(response))
        url = response.headers.get("X-Pagination-Next")
    return rows


class Progress:
    """Polls every run's status through both APIs; `done` is the sum of inputs_done."""

    def __init__(self, apis: list[httpx.AsyncClient], run_uids: list[str]) -> None:
        self.apis, self.run_uids = apis, run_uids
        self.statuses: dict[str, dict[str, Any]] = {}
        self._turn = 0

    async def poll(self) -> int:
        for uid in self.run_uids:
            self._turn += 1
            api = self.apis[self._turn % len(self.apis)]
            try:
                self.statuses[uid] = _ok(await api.get(f"/v1/runs/{uid}/status"))
            except httpx.TransportError:
                continue  # one missed poll is harmless: the next one reads the run again
        return self.done

    @property
    def done(self) -> int:
        return sum(int(status["inputs_done"]) for status in self.statuses.values())

    @property
    def finished(self) -> bool:
        return len(self.statuses) == len(self.run_uids) and all(
            status["status"] in TERMINAL for status in self.statuses.values()
        )

    async def wait(self, what: str, reached: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not reached():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not reached in {timeout:.0f}s; {self.done}/{TOTAL} done")
            await asyncio.sleep(1.0)
            await self.poll()


async def _until_ready(api: httpx.AsyncClient, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if (await api.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{api.base_url} not ready {timeout:.0f}s after Temporal's restart")
        await asyncio.sleep(0.5)


def _kill_worker(stack: Stack, index: int) -> None:
    worker = stack.workers[index]
    os.killpg(worker.pid, signal.SIGKILL)
    assert worker.wait(timeout=30) == -signal.SIGKILL


@pytest.mark.timeout(900)
async def test_two_apis_two_workers_survive_a_worker_sigkill_and_a_temporal_restart_exactly_once(
    tmp_path: Path,
) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()
    with running_stack(tmp_path, apis=2, workers=2) as stack:
        timings["stack up"] = time.monotonic() - started
        key = stack.create_workspace("cluster")
        headers = {"X-API-Key": key}
        async with (
            httpx.AsyncClient(base_url=stack.api_url(0), headers=headers, timeout=120) as api_a,
            httpx.AsyncClient(base_url=stack.api_url(1), headers=headers, timeout=120) as api_b,
            httpx.AsyncClient(base_url=stack.sandbox_url, timeout=120) as sandbox,
        ):
            apis = [api_a, api_b]
            _ok(await sandbox.put("/_sandbox/tolerances", json={"enabled": False}))
            accounts = [
                a for a in _ok(await sandbox.get("/_sandbox/accounts"))
                if (a["level"], a["login"], a["status"]) == ("classic", "none", "active")
            ][:IDENTITIES]
            assert len(accounts) == IDENTITIES

            # 1. identities, connected through both APIs (the connect workflows run on the workers).
            t0 = time.monotonic()
            gate = asyncio.Semaphore(5)

            async def connect(index: int, account: dict[str, Any]) -> tuple[str, dict[str, str]]:
                async with gate:
                    return await _connect(apis[index % 2], sandbox, account)

            connected_identities = await asyncio.gather(*(connect(i, a) for i, a in enumerate(accounts)))
            identity_uids = [uid for uid, _ in connected_identities]
            cookie_values = [value for _, cookies in connected_identities for value in cookies.values()]
            timings["connect"] = time.monotonic() - t0

            # 2. targets: each messaging account's own connections; for the invitations, people no inviting
            # account is connected to (any identity of an invitation run may send any of them).
            messaging, inviting = accounts[:MESSAGING_IDENTITIES], accounts[MESSAGING_IDENTITIES:]
            friends: list[list[dict[str, Any]]] = []
            connected: set[str] = set()
            for position, account in enumerate(accounts):
                params = {"connected_to": account["id"], "limit": 1000}
                listed = _ok(await sandbox.get("/_sandbox/people", params=params))
                if position < MESSAGING_IDENTITIES:
                    friends.append(listed[:MESSAGES_PER_IDENTITY])
                    assert len(friends[-1]) == MESSAGES_PER_IDENTITY, account
                else:
                    connected |= {person["linkedin_profile_urn"] for person in listed}
            everyone = _ok(await sandbox.get("/_sandbox/people", params={"limit": 20000}))
            strangers = [p for p in everyone if p["linkedin_profile_urn"] not in connected]
            invitees = strangers[: INVITATION_RUNS * INVITATIONS_PER_RUN]

            # 3. the runs, through both APIs.
            message_runs: dict[str, int] = {}  # run uid → account index
            messengers, inviters = identity_uids[:MESSAGING_IDENTITIES], identity_uids[MESSAGING_IDENTITIES:]
            for index, (identity_uid, people) in enumerate(zip(messengers, friends, strict=True)):
                run = _ok(
                    await apis[index % 2].post(
                        "/v1/actions/linkedin-message-profile/run/async",
                        json={
                            "inputs": [{"linkedin_profile_url": p["linkedin_profile_url"]} for p in people],
                            "parameters": {"message": "Hello from the cluster test"},
                            "identity_ids": [identity_uid],
                            "label": f"cluster messages {index}",
                        },
                    ),
                    202,
                )
                message_runs[run["uid"]] = index
            invitation_runs: list[str] = []
            for index in range(INVITATION_RUNS):
                chunk = invitees[index * INVITATIONS_PER_RUN : (index + 1) * INVITATIONS_PER_RUN]
                per_run = INVITING_IDENTITIES_PER_RUN
                senders = inviters[index * per_run : (index + 1) * per_run]
                run = _ok(
                    await apis[index % 2].post(
                        "/v1/actions/linkedin-connect-profile/run/async",
                        json={
                            "inputs": [{"linkedin_profile_url": p["linkedin_profile_url"]} for p in chunk],
                            "identity_ids": senders,
                            "label": f"cluster invitations {index}",
                        },
                    ),
                    202,
                )
                invitation_runs.append(run["uid"])
            run_uids = [*message_runs, *invitation_runs]
            progress = Progress(apis, run_uids)
            t0 = time.monotonic()

            # 4. a worker dies mid-run (SIGKILL: no drain), and comes back.
            await progress.wait("the kill point", lambda: progress.done >= KILL_WORKER_AT, FINISH_TIMEOUT)
            assert not progress.finished, "the runs finished before the worker could be killed"
            killed_at = progress.done
            _kill_worker(stack, 0)
            timings["until kill"] = time.monotonic() - t0
            stack.start_worker(0).wait_for_output("worker started", timeout=120)

            # 5. the Temporal server restarts (same database file) while the runs go on.
            await progress.wait(
                "the restart point", lambda: progress.done >= RESTART_TEMPORAL_AT, FINISH_TIMEOUT
            )
            assert not progress.finished, "the runs finished before Temporal could be restarted"
            restarted_at = progress.done
            stack.restart_temporal()
            timings["until restart"] = time.monotonic() - t0
            for api in apis:  # both APIs reconnect to the restarted server by themselves
                await _until_ready(api)
            await progress.wait("every run to finish", lambda: progress.finished, FINISH_TIMEOUT)
            timings["runs"] = time.monotonic() - t0

            # 6. every run SUCCEEDED; every input has exactly one output.
            unsuccessful = {uid: s for uid, s in progress.statuses.items() if s["status"] != "SUCCEEDED"}
            if unsuccessful:
                errors: Counter[str] = Counter()
                for uid in unsuccessful:
                    rows = await _rows(api_a, uid, "inputs")
                    errors.update(str(row["error"]) for row in rows if row["status"] != "SUCCEEDED")
                listed = list(unsuccessful.values())
                raise AssertionError(f"runs not SUCCEEDED: {listed}; their failed inputs: {dict(errors)}")
            total_outputs = 0
            for position, uid in enumerate(run_uids):
                api = apis[position % 2]
                inputs = await _rows(api, uid, "inputs")
                outputs = await _rows(api, uid, "outputs")
                assert {row["status"] for row in inputs} == {"SUCCEEDED"}, uid
                per_input = Counter(row["run_input_uid"] for row in outputs)
                assert set(per_input) == {row["uid"] for row in inputs}, f"run {uid}: inputs without output"
                assert set(per_input.values()) == {1}, f"run {uid}: an input has several outputs"
                total_outputs += len(outputs)
            assert total_outputs == TOTAL

            # 7. the sandbox's outbox: each message and each invitation exactly once.
            for index, account in enumerate(messaging):
                outbox = _ok(await sandbox.get(f"/_sandbox/accounts/{account['id']}/outbox"))
                recipients = Counter(m["to_urn"] for m in outbox["messages"])
                assert set(recipients.values()) == {1}, f"account {account['id']}: a duplicate message"
                assert set(recipients) == {p["linkedin_profile_urn"] for p in friends[index]}, account["id"]
                assert outbox["invitations"] == [], f"account {account['id']} invited someone"
            invited: Counter[str] = Counter()
            for account in inviting:
                outbox = _ok(await sandbox.get(f"/_sandbox/accounts/{account['id']}/outbox"))
                assert outbox["messages"] == [], f"account {account['id']} sent a message"
                invitations = Counter(i["to_urn"] for i in outbox["invitations"])
                assert set(invitations.values()) == {1}, f"account {account['id']}: a duplicate invitation"
                invited.update(invitations)
            assert set(invited.values()) == {1}, "someone was invited by two identities"
            assert set(invited) == {p["linkedin_profile_urn"] for p in invitees}

            # 8. both APIs served the runs; the restarted worker and the other one export their metrics.
            for index in range(2):
                scraped = (await apis[index].get("/metrics")).text
                assert 'route="/v1/actions/{slug}/run/async",status="202"' in scraped
            async with httpx.AsyncClient(timeout=30) as http:
                for port in stack.worker_metrics_ports:
                    scraped = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                    assert "edgewise_actions_total{" in scraped and "temporal_" in scraped

        # 9. nobody died on the way but the worker we killed, and no log line holds a secret.
        for process in [*stack.apis, *stack.workers]:
            assert process.alive(), f"{process.name} died:\n{process.tail()}"
        logs = stack.edgewise_logs()
        assert logs.count("worker started") == 3, "expected 2 workers and 1 restarted worker to start"
        assert "INTERNAL_ERROR" not in logs, "an API answered 500"
        for secret in (key, stack.encryption_key, *(v.strip('"') for v in cookie_values if len(v) > 8)):
            assert secret not in logs, "a secret appears in the logs of an API or worker process"
    print(f"\ncluster test: {TOTAL} inputs; worker killed at {killed_at}, Temporal restarted at "
          f"{restarted_at}; timings {({k: round(v, 1) for k, v in timings.items()})}")
