"""`edgewise.temporal.serving`, behind /readyz: one call caught by a connection's max-age close (CANCELLED
"operation was canceled") or a reconnect (UNAVAILABLE) is tried again instead of reporting Temporal down;
any other failure is reported at once. The stand-in below plays only the health service's answers; the same
function against the real dev server is tests/test_skeleton_smoke.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from edgewise.temporal import serving


class _HealthAnswers:
    def __init__(self, *answers: bool | RPCError):
        self.answers = list(answers)
        self.calls: list[timedelta | None] = []

    async def check_health(self, *, timeout: timedelta | None = None) -> bool:
        self.calls.append(timeout)
        answer = self.answers.pop(0)
        if isinstance(answer, RPCError):
            raise answer
        return answer


def _client(service: _HealthAnswers) -> Client:
    class _Client:
        service_client = service

    return cast(Client, _Client())


def _error(status: RPCStatusCode, message: str) -> RPCError:
    return RPCError(message, status, b"")


async def test_a_call_cut_by_a_connection_closing_is_tried_again() -> None:
    service = _HealthAnswers(_error(RPCStatusCode.CANCELLED, "operation was canceled"), True)
    assert await serving(_client(service), timeout=3) is True
    assert len(service.calls) == 2
    assert all(t is not None and t <= timedelta(seconds=3) for t in service.calls)


async def test_a_server_that_stays_unavailable_is_reported_after_three_tries() -> None:
    service = _HealthAnswers(*[_error(RPCStatusCode.UNAVAILABLE, "connection refused")] * 3)
    with pytest.raises(RPCError):
        await serving(_client(service), timeout=3)
    assert len(service.calls) == 3


@pytest.mark.parametrize("status", [RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNAUTHENTICATED])
async def test_other_failures_are_reported_at_once(status: Any) -> None:
    service = _HealthAnswers(_error(status, "no"), True)
    with pytest.raises(RPCError):
        await serving(_client(service), timeout=3)
    assert len(service.calls) == 1


async def test_not_serving_is_an_answer_not_a_failure() -> None:
    service = _HealthAnswers(False)
    assert await serving(_client(service), timeout=3) is False
    assert len(service.calls) == 1
