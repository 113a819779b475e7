"""How a schedule route reports Temporal's failures: unreachable → 503 with Retry-After (a retry may work);
refusing what edgewise built (INVALID_ARGUMENT) → 500 INTERNAL_ERROR without the advice to retry (it would
fail the same way: the "comment is too long" refusal of a long cron was a 503 telling the client to retry)."""

from __future__ import annotations

import pytest
from temporalio.service import RPCError, RPCStatusCode

from api.routes.schedules import _temporal_answers
from edgewise.errors import ApiError


def _refusal(status: RPCStatusCode) -> ApiError:
    with pytest.raises(ApiError) as raised, _temporal_answers():
        raise RPCError("refused", status, b"")
    return raised.value


@pytest.mark.parametrize("status", [RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED])
def test_temporal_not_answering_is_503_with_retry_after(status: RPCStatusCode) -> None:
    error = _refusal(status)
    assert (error.label, error.status_code, error.headers.get("Retry-After")) == (
        "SERVICE_UNAVAILABLE",
        503,
        "5",
    )


def test_temporal_refusing_what_edgewise_built_is_500_without_retry_advice() -> None:
    error = _refusal(RPCStatusCode.INVALID_ARGUMENT)
    assert (error.label, error.status_code) == ("INTERNAL_ERROR", 500)
    assert "Retry-After" not in error.headers and "retry" not in error.message
