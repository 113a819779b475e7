"""The README's full flow, end to end, over HTTP only, against the real processes that `make dev` starts.

The dev runner (`python -m edgewise.dev`, what `make dev` runs) is started as a subprocess on free ports and a
temporary data dir, with `ALLOW_PRIVATE_TARGETS=true` and `EDGEWISE_SAFETY_PROFILE=test`; then, as a
newcomer following the README would:

1. create an identity, log a sandbox account in (`/_sandbox/accounts/{id}/sessions`), connect it → 201 VALID;
2. run a live people search for `engineer` and page it with `X-Pagination-Next` (3 pages, distinct people);
3. extract 200 profiles asynchronously with a callback (`on: "all"`) to a receiver on loopback: every output
   arrives in posts of at most 100 rows, then a final `data: []` post; every post is signed per Standard
   Webhooks with the workspace secret; `/v1/runs/{uid}/outputs` pages all 200;
4. message 30 first-degree connections asynchronously, with sandbox latency on writes, SIGKILL the worker in
   the middle (the runner then stops everything, as the README says it does when a child dies), start the
   runner again on the same data dir, and check that the run SUCCEEDS with exactly one message per recipient
   in the sandbox's outbox;
5. stop the runner with SIGINT: exit code 0, every child gone.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.devrunner import (
    Ports,
    Runner,
    assert_all_gone,
    kill_runner,
    start_runner,
)

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 150.0
STOP_TIMEOUT = 60.0
HTTP_TIMEOUT = 30.0
TERMINAL = {"SUCCEEDED", "PARTIAL_SUCCEEDED", "FAILED"}
# Variables of the developer's or CI's shell that would point the runner elsewhere than its own children.
_SCRUBBED = (
    "DATABASE_URL",
    "TEMPORAL_ADDRESS",
    "LINKEDIN_BASE_URL",
    "EDGEWISE_ENCRYPTION_KEY",
    "PUBLIC_BASE_URL",
    "EDGEWISE_SAFETY_PROFILE",
    "ALLOW_PRIVATE_TARGETS",
    "EDGEWISE_DATA_DIR",
)
SEARCH_URL = "https://www.linkedin.com/search/results/people/?keywords=engineer"
EXTRACT_COUNT = 200
MESSAGE_COUNT = 30
MESSAGE_TEXT = "Hello from the edgewise full-flow test"
# A SIGKILLed worker's batch activity is retried once Temporal misses its heartbeat (run_batch's heartbeat
# timeout is 120 s), then the remaining messages go out.
RESUME_TIMEOUT = 200.0


# --------------------------------------------------------------------------------------------- the runner


def _start_runner(data_dir: Path, ports: Ports) -> Runner:
    return start_runner(data_dir, ports, {"ALLOW_PRIVATE_TARGETS": "true", "EDGEWISE_SAFETY_PROFILE": "test"})


# ------------------------------------------------------------------------------------- the callback receiver


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


class CallbackReceiver:
    """A tiny HTTP server on loopback that records every POST (headers and raw body) and answers 200."""

    def __init__(self) -> None:
        self.posts: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver.posts.append(Received(headers, body, time.monotonic()))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/edgewise-callback"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.posts)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --------------------------------------------------------------------------------------------- helpers


def _wait_for(what: str, timeout: float, probe: Callable[[], Any], interval: float = 0.25) -> Any:
    """Poll `probe` until it returns something truthy; fail with `what` and its last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last seen: {last!r}")
        time.sleep(interval)


def _expect(response: httpx.Response, status: int, what: str) -> Any:
    assert response.status_code == status, (
        f"{what}: expected HTTP {status}, got {response.status_code} "
        f"({response.request.method} {response.request.url}): {response.text[:2000]}"
    )
    return response.json() if response.content else None


def _run_status(api: httpx.Client, run_uid: str) -> dict[str, Any]:
    return _expect(api.get(f"/v1/runs/{run_uid}/status"), 200, f"status of run {run_uid}")  # type: ignore[no-any-return]


def _wait_terminal(api: httpx.Client, run_uid: str, timeout: float) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        status = _run_status(api, run_uid)
        return status if status["status"] in TERMINAL else None

    try:
        return _wait_for(f"run {run_uid} to finish", timeout, probe, 0.5)  # type: ignore[no-any-return]
    except AssertionError as exc:
        run = api.get(f"/v1/runs/{run_uid}").text
        raise AssertionError(f"{exc}\nthe run: {run[:2000]}") from None


def _outputs(api: httpx.Client, run_uid: str, limit: int = 70) -> list[dict[str, Any]]:
    """Every output row of a finished run, following `X-Pagination-Next` until it is absent."""
    rows: list[dict[str, Any]] = []
    url: str | None = f"/v1/runs/{run_uid}/outputs?limit={limit}"
    pages = 0
    while url is not None:
        pages += 1
        assert pages <= 50, f"/outputs of run {run_uid} still paging after 50 pages ({len(rows)} rows)"
        response = api.get(url)
        page = _expect(response, 200, f"outputs page {pages} of run {run_uid}")
        assert isinstance(page, list), page
        assert len(page) <= limit, f"outputs page {pages} has {len(page)} rows, more than limit={limit}"
        rows.extend(page)
        url = response.headers.get("X-Pagination-Next")
    return rows


def _profile_key(row: dict[str, Any]) -> str:
    return str(row.get("linkedin_profile_id") or row["linkedin_profile_url"])


# --------------------------------------------------------------------------------------------- the test


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver()
    yield server
    server.close()


@pytest.mark.timeout(480)
def test_full_flow_identity_connect_search_extract_with_callback_and_messages_survive_a_worker_kill(
    tmp_path: Path, receiver: CallbackReceiver
) -> None:
    data_dir, ports = tmp_path / "data", Ports.free()
    api_url, sandbox_url = f"http://127.0.0.1:{ports.api}", f"http://127.0.0.1:{ports.sandbox}"
    timings: dict[str, float] = {}
    started = time.monotonic()

    runner = _start_runner(data_dir, ports)
    timings["start"] = time.monotonic() - started
    try:
        key = runner.printed_key()
        assert (data_dir / "dev-api-key").read_text().strip() == key, "printed key differs from dev-api-key"
        api = httpx.Client(base_url=api_url, headers={"X-API-Key": key}, timeout=HTTP_TIMEOUT)
        sandbox = httpx.Client(base_url=sandbox_url, timeout=HTTP_TIMEOUT)

        # 1. identity, sandbox cookies, connect -------------------------------------------------------
        t0 = time.monotonic()
        created = api.post("/v1/identities", json={"name": "Full Flow Identity"})
        identity = _expect(created, 201, "create identity")
        identity_uid = identity["uid"]
        accounts = _expect(sandbox.get("/_sandbox/accounts"), 200, "list sandbox accounts")
        account = next(
            (a for a in accounts if (a["login"], a["level"], a["status"]) == ("none", "classic", "active")),
            None,
        )
        assert account is not None, f"no active classic sandbox account with login 'none' in {accounts[:5]}…"
        account_id = account["id"]
        cookies = _expect(sandbox.post(f"/_sandbox/accounts/{account_id}/sessions"), 200, "sandbox login")
        assert cookies.get("li_at") and str(cookies.get("JSESSIONID", "")).startswith("ajax:"), cookies
        integration = _expect(
            api.post(
                f"/v1/identities/{identity_uid}/integrations/linkedin",
                json={"auth_data": {"cookies": cookies}},
            ),
            201,
            "connect the identity's LinkedIn with sandbox cookies",
        )
        assert integration["status"] == "VALID", f"integration after connect: {integration}"
        assert integration["level"] == "classic", f"integration after connect: {integration}"
        got = _expect(api.get(f"/v1/identities/{identity_uid}/integrations/linkedin"), 200, "get integration")
        assert got["status"] == "VALID" and got["uid"] == integration["uid"], got
        timings["1 connect"] = time.monotonic() - t0

        # 2. live search, 3 pages through X-Pagination-Next ---------------------------------------------
        t0 = time.monotonic()
        body = {"input": {"linkedin_people_search_url": SEARCH_URL}, "identity_ids": [identity_uid]}
        route = "/v1/actions/linkedin-search-people/run/live"
        url = route
        seen: list[str] = []
        run_uids: set[str] = set()
        for page_number in (1, 2, 3):
            response = api.post(url, json=body)
            page = _expect(response, 200, f"live search page {page_number}")
            assert isinstance(page, list) and page, f"live search page {page_number} is empty: {page!r}"
            assert len(page) == 10, f"live search page {page_number} has {len(page)} results (10 per page)"
            for row in page:
                assert row.get("linkedin_profile_id") and row.get("linkedin_profile_url"), row
            seen.extend(_profile_key(row) for row in page)
            run_uids.add(response.headers.get("X-Run-Uid", ""))
            next_url = response.headers.get("X-Pagination-Next")
            assert next_url, (
                f"live search page {page_number}: no X-Pagination-Next (a search for 'engineer' has more "
                f"than 50 people); headers: {dict(response.headers)}"
            )
            assert next_url.startswith(f"{api_url}{route}?"), f"X-Pagination-Next: another route: {next_url}"
            assert "cursor=" in next_url, f"X-Pagination-Next has no cursor: {next_url}"
            url = next_url
        duplicates = [k for k, n in Counter(seen).items() if n > 1]
        assert not duplicates, f"the 3 live search pages repeat people: {duplicates}"
        assert len(run_uids - {""}) == 3, f"each live page should be its own run (X-Run-Uid): {run_uids}"
        timings["2 live search"] = time.monotonic() - t0

        # 3. async extraction of 200 profiles with a callback on every batch ------------------------------
        t0 = time.monotonic()
        _expect(sandbox.put("/_sandbox/tolerances", json={"enabled": False}), 200, "switch tolerances off")
        secret = _expect(api.get("/v1/workspace/webhook"), 200, "workspace webhook")["secret"]
        assert secret.startswith("whsec_"), f"workspace secret is not whsec_…: {secret[:10]}…"
        listed = sandbox.get("/_sandbox/people", params={"limit": EXTRACT_COUNT})
        people = _expect(listed, 200, "sandbox people")
        assert len(people) == EXTRACT_COUNT, f"GET /_sandbox/people?limit={EXTRACT_COUNT} gave {len(people)}"
        wanted = {p["linkedin_profile_id"] for p in people}
        extract = _expect(
            api.post(
                "/v1/actions/linkedin-extract-people/run/async",
                json={
                    "inputs": [{"linkedin_profile_url": p["linkedin_profile_url"]} for p in people],
                    "identity_ids": [identity_uid],
                    "callback": {"url": receiver.url, "on": "all"},
                    "label": "full-flow extraction",
                },
            ),
            202,
            "start the async extraction",
        )
        extract_uid = extract["uid"]
        assert extract["inputs_count"] == EXTRACT_COUNT, extract
        final = _wait_terminal(api, extract_uid, 90)
        assert final["status"] == "SUCCEEDED", f"extraction run ended {final}"
        assert final["output_count"] == EXTRACT_COUNT, f"extraction run: {final}"

        def callback_bodies() -> list[tuple[Received, dict[str, Any]]]:
            return [(post, json.loads(post.body)) for post in receiver.snapshot()]

        def final_post_arrived() -> bool:
            return any(b["data"] == [] and b["run"]["status"] in TERMINAL for _, b in callback_bodies())

        _wait_for("the final callback post (data: [])", 30, final_post_arrived)
        hook = Webhook(secret)
        posts = callback_bodies()
        by_webhook_id: dict[str, dict[str, Any]] = {}
        for post, parsed in posts:
            try:
                hook.verify(post.body, post.headers)
            except WebhookVerificationError as exc:
                raise AssertionError(
                    f"callback post does not verify with the workspace secret ({exc}): headers "
                    f"{ {k: v for k, v in post.headers.items() if k.startswith('webhook-')} }"
                ) from None
            fields = {"callback_uid", "sequence", "run", "batch_uid", "data", "error"}
            assert set(parsed) >= fields, f"callback body fields: {sorted(parsed)}"
            assert parsed["run"]["uid"] == extract_uid, parsed["run"]
            assert len(parsed["data"]) <= 100, f"a callback post carries {len(parsed['data'])} rows (≤ 100)"
            webhook_id = post.headers["webhook-id"]
            if webhook_id in by_webhook_id:  # a retried attempt of one delivery: same body
                assert by_webhook_id[webhook_id] == parsed, f"two attempts of {webhook_id} differ"
            assert webhook_id == parsed["callback_uid"], f"webhook-id {webhook_id} ≠ callback_uid of {parsed}"
            by_webhook_id[webhook_id] = parsed
        deliveries = sorted(by_webhook_id.values(), key=lambda b: b["sequence"])
        rows = [row for b in deliveries for row in b["data"]]
        delivered = Counter(row["linkedin_profile_id"] for row in rows)
        assert set(delivered) == wanted, (
            f"callback rows: {len(delivered)} distinct profiles, missing {len(wanted - set(delivered))}, "
            f"unexpected {len(set(delivered) - wanted)}"
        )
        twice_delivered = [k for k, n in delivered.items() if n > 1]
        assert not twice_delivered, f"profiles delivered in two callback posts: {twice_delivered}"
        assert deliveries[-1]["data"] == [], f"the last post (by sequence) is not data []: {deliveries[-1]}"
        assert deliveries[-1]["run"]["status"] == "SUCCEEDED", deliveries[-1]["run"]
        assert sum(1 for b in deliveries if b["data"] == []) == 1, (
            f"expected one final post with data: [], got sequences "
            f"{[b['sequence'] for b in deliveries if b['data'] == []]}"
        )
        sequences = [b["sequence"] for b in deliveries]
        assert len(set(sequences)) == len(sequences), f"callback sequences repeat: {sequences}"
        for row in rows:
            assert row["run_input_uid"] and row["identity_uid"] == identity_uid, row

        def deliveries_succeeded() -> list[dict[str, Any]] | None:
            listed = _expect(
                api.get("/v1/deliveries", params={"run_uid": extract_uid, "limit": 100}),
                200,
                "deliveries of the extraction run",
            )
            return listed if listed and all(d["status"] == "SUCCEEDED" for d in listed) else None

        recorded = _wait_for("the extraction's callback deliveries to be SUCCEEDED", 30, deliveries_succeeded)
        assert {d["webhook_id"] for d in recorded} == set(by_webhook_id), (
            f"/v1/deliveries lists {sorted(d['webhook_id'] for d in recorded)}, "
            f"the receiver got {sorted(by_webhook_id)}"
        )
        assert all(d["kind"] == "callback" and d["url"] == receiver.url for d in recorded), recorded

        outputs = _outputs(api, extract_uid)
        assert len(outputs) == EXTRACT_COUNT, f"/outputs paged {len(outputs)} rows, expected {EXTRACT_COUNT}"
        assert {o["linkedin_profile_id"] for o in outputs} == wanted, "/outputs rows are not the 200 profiles"
        _expect(sandbox.put("/_sandbox/tolerances", json={"enabled": True}), 200, "switch tolerances back on")
        timings["3 extraction + callbacks"] = time.monotonic() - t0

        # 4. messages, exactly once across a worker SIGKILL ------------------------------------------------
        t0 = time.monotonic()
        friends = _expect(
            sandbox.get("/_sandbox/people", params={"connected_to": account_id, "limit": MESSAGE_COUNT}),
            200,
            "first-degree connections of the sandbox account",
        )
        assert len(friends) == MESSAGE_COUNT, f"account {account_id} has {len(friends)} connections listed"
        recipients = {f["linkedin_profile_urn"] for f in friends}
        before = _expect(sandbox.get(f"/_sandbox/accounts/{account_id}/outbox"), 200, "outbox")
        assert before["messages"] == [], f"the account already sent messages: {before['messages'][:3]}"
        _expect(
            sandbox.put(
                "/_sandbox/faults",
                json={"account_id": account_id, "latency_ms": 300, "error_rate": 0, "scope": "writes"},
            ),
            200,
            "inject write latency",
        )
        campaign = _expect(
            api.post(
                "/v1/actions/linkedin-message-profile/run/async",
                json={
                    "inputs": [{"linkedin_profile_url": f["linkedin_profile_url"]} for f in friends],
                    "parameters": {"message": MESSAGE_TEXT},
                    "identity_ids": [identity_uid],
                    "label": "full-flow campaign",
                },
            ),
            202,
            "start the message campaign",
        )
        campaign_uid = campaign["uid"]

        progress: dict[str, Any] = {}

        def some_sent() -> bool:
            status = _run_status(api, campaign_uid)
            sent = len(sandbox.get(f"/_sandbox/accounts/{account_id}/outbox").json()["messages"])
            progress.update(status=status, outbox=sent)
            assert status["status"] not in TERMINAL, (
                f"the campaign finished before the worker could be killed (too fast for a crash): {progress}"
            )
            return status["output_count"] >= 3 or sent >= 3

        _wait_for("the campaign's first messages", 60, some_sent, 0.1)
        worker_pid = runner.child_pids()["worker"]
        os.killpg(worker_pid, signal.SIGKILL)
        killed_at = progress.copy()
        timings["4a until kill"] = time.monotonic() - t0
        # The runner supervises its children: a dead worker makes it stop the rest and exit 1 (README).
        try:
            code = runner.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the runner ignored its worker's death:\n{runner.output()}") from None
        assert code == 1, f"runner exit code after its worker died: {code}\n{runner.output()}"
        assert re.search(r"worker exited unexpectedly", runner.output(200)), runner.output()
        assert_all_gone(runner, ports)
        api.close()
        sandbox.close()

        t1 = time.monotonic()
        runner = _start_runner(data_dir, ports)
        timings["4b restart"] = time.monotonic() - t1
        assert "reusing the key" in runner.output(300), runner.output()
        assert runner.printed_key() == key, "a restart on the same data dir printed another key"
        api = httpx.Client(base_url=api_url, headers={"X-API-Key": key}, timeout=HTTP_TIMEOUT)
        sandbox = httpx.Client(base_url=sandbox_url, timeout=HTTP_TIMEOUT)

        t1 = time.monotonic()
        done = _wait_terminal(api, campaign_uid, RESUME_TIMEOUT)
        timings["4c finish after restart"] = time.monotonic() - t1
        assert done["status"] == "SUCCEEDED", f"campaign ended {done} (killed at {killed_at})"
        assert done["inputs_done"] == MESSAGE_COUNT and done["output_count"] == MESSAGE_COUNT, done
        outbox = _expect(sandbox.get(f"/_sandbox/accounts/{account_id}/outbox"), 200, "outbox afterwards")
        sent_to = Counter(m["to_urn"] for m in outbox["messages"])
        twice = {urn: n for urn, n in sent_to.items() if n > 1}
        missing = recipients - set(sent_to)
        strangers = set(sent_to) - recipients
        assert not twice and not missing and not strangers, (
            f"outbox after the worker kill (killed at {killed_at}): {len(outbox['messages'])} messages; "
            f"duplicates {twice}; missing {sorted(missing)}; not recipients {sorted(strangers)}"
        )
        assert all(m["text"] == MESSAGE_TEXT for m in outbox["messages"]), outbox["messages"][:3]
        messaged = _outputs(api, campaign_uid)
        assert len(messaged) == MESSAGE_COUNT, f"/outputs of the campaign has {len(messaged)} rows"
        assert len({m["linkedin_message_id"] for m in messaged}) == MESSAGE_COUNT, "duplicate message ids"
        timings["4 campaign"] = time.monotonic() - t0

        api.close()
        sandbox.close()
    except BaseException:
        print(f"\n----- runner output (last 150 lines) -----\n{runner.output(150)}")
        kill_runner(runner)
        raise

    # 5. Ctrl-C: everything stops, exit 0 ---------------------------------------------------------------
    t0 = time.monotonic()
    runner.proc.send_signal(signal.SIGINT)
    try:
        code = runner.proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        kill_runner(runner)
        raise AssertionError(
            f"`edgewise dev` did not stop within {STOP_TIMEOUT:.0f}s of SIGINT:\n{runner.output()}"
        ) from None
    assert code == 0, f"`edgewise dev` exit code after SIGINT: {code}\n{runner.output()}"
    assert_all_gone(runner, ports)
    assert "all stopped" in runner.output(), runner.output()
    timings["5 stop"] = time.monotonic() - t0
    timings["total"] = time.monotonic() - started
    print("\nfull flow timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    print(f"worker killed at: {killed_at}")
