"""The live path's in-process hand-off (activities/live_handoff.py): the API answers with what the page
activity committed, without waiting for the workflow to close — and falls back to the workflow's result."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from activities import live_handoff
from api.routes.actions import _first_result
from tests.conftest import AccountPool
from tests.support.flows import connected_identity
from workflows.contracts import LiveRunResult


@pytest.mark.usefixtures("worker")
async def test_a_live_page_answers_exactly_what_the_run_recorded(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool
) -> None:
    identity, _ = await connected_identity(client, sandbox, account_pool.take())
    body = {
        "input": {
            "linkedin_people_search_url": "https://www.linkedin.com/search/results/people/?keywords=sales"
        },
        "identity_ids": [identity["uid"]],
    }
    first = await client.post("/v1/actions/linkedin-search-people/run/live", json=body)
    assert first.status_code == 200, first.text
    run_uid = first.headers["X-Run-Uid"]
    recorded = await client.get(f"/v1/runs/{run_uid}/outputs", params={"limit": 100})
    assert recorded.status_code == 200, recorded.text
    answered = first.json()
    assert len(answered) == 10
    assert answered == recorded.json()  # same rows, same order, same extracted_at, same run_input_uid
    # The cursor built from the hand-off continues where the recorded run says the next page starts.
    second = await client.post(first.headers["X-Pagination-Next"], json=body)
    assert second.status_code == 200, second.text
    assert not {r["linkedin_profile_id"] for r in answered} & {
        r["linkedin_profile_id"] for r in second.json()
    }


class _Handle:
    """A workflow handle as `_first_result` sees it: whether it started eagerly, and its result."""

    def __init__(self, *, eager: bool, result: LiveRunResult | None = None) -> None:
        setattr(self, "__temporal_eagerly_started", eager)
        self._result = result
        self.polled = 0

    async def result(self) -> LiveRunResult:
        self.polled += 1
        if self._result is None:
            await asyncio.sleep(3600)
        assert self._result is not None
        return self._result


async def test_an_eager_run_answers_from_the_hand_off_without_polling_temporal() -> None:
    handle = _Handle(eager=True)
    with live_handoff.expect("run-a") as handed_over:
        asyncio.get_running_loop().call_later(
            0.05, live_handoff.deliver, "run-a", LiveRunResult(status="SUCCEEDED")
        )
        got = await _first_result(handed_over, handle)
    assert got.result.status == "SUCCEEDED"
    assert handle.polled == 0
    assert not live_handoff.waiting("run-a")


async def test_a_run_served_elsewhere_answers_from_the_workflow_result() -> None:
    handle = _Handle(eager=False, result=LiveRunResult(status="FAILED", error={"error_label": "LK_ERROR"}))
    with live_handoff.expect("run-b") as handed_over:
        got = await _first_result(handed_over, handle)
    assert (got.result.status, got.page) == ("FAILED", None)
    assert handle.polled == 1


async def test_a_late_hand_off_opens_the_result_poll_and_either_answer_wins(monkeypatch: Any) -> None:
    monkeypatch.setattr("api.routes.actions._RESULT_POLL_AFTER_SECONDS", 0.05)
    handle = _Handle(eager=True)  # its workflow result never comes: the hand-off must still win
    with live_handoff.expect("run-c") as handed_over:
        asyncio.get_running_loop().call_later(
            0.2, live_handoff.deliver, "run-c", LiveRunResult(status="SUCCEEDED")
        )
        got = await _first_result(handed_over, handle)
    assert got.result.status == "SUCCEEDED"
    assert handle.polled == 1


def test_a_hand_off_nobody_waits_for_is_dropped() -> None:
    live_handoff.deliver("nobody", LiveRunResult(status="SUCCEEDED"))  # must not raise
    assert not live_handoff.waiting("nobody")
