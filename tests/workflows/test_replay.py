"""Replay of committed workflow histories (tests/workflows/histories/, recorded from real runs by
`python -m tests.workflows.record_histories`): today's workflow code must make exactly the decisions it
made when those histories were written, or a deployment would break the workflows still running. A change
that fails here needs versioning (README, "Upgrading workflows"), not a re-recording.

Replayed with the worker's own workflow registrations and data converter (pydantic, the payload codec),
both as committed (decoded payloads, which the codec passes through — as it does for workflows started
before encryption was switched on) and re-encrypted, as the worker meets them in Temporal.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from edgewise.codec import ENCODING
from edgewise.config import Settings
from tests.conftest import TEST_DATA_CONVERTER, TEST_KEY
from tests.support.history import encoded_history, history_text
from tests.workflows.record_histories import SECRET_MARKERS
from workflows.contracts import DeliveryInput

HISTORIES = Path(__file__).parent / "histories"
# What record_histories writes: every workflow type, and ActionRun's async (read, write) and live paths.
RECORDED = {
    "AccountWorkflow",
    "ConnectWorkflow",
    "ActionRun-async",
    "ActionRun-async-write",
    "ActionRun-live",
    "DeliveryWorkflow-callback",
    "ScheduleFire",
}
FILES = sorted(HISTORIES.glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def workflow_type(history: WorkflowHistory) -> str:
    return str(history.events[0].workflow_execution_started_event_attributes.workflow_type.name)


@pytest_asyncio.fixture(scope="module")
async def registered_workflows(tmp_path_factory: pytest.TempPathFactory) -> list[type]:
    """The workflow classes the worker and the API's live worker register (edgewise/wiring.py)."""
    from edgewise.wiring import components, live_components

    data_dir = tmp_path_factory.mktemp("replay")
    settings = Settings.model_validate(
        {"EDGEWISE_DATA_DIR": str(data_dir), "EDGEWISE_ENCRYPTION_KEY": TEST_KEY, "DATABASE_URL": ""}
    )
    # Registering builds activity objects around a client; nothing here talks to a server.
    client = await Client.connect("127.0.0.1:1", lazy=True, data_converter=TEST_DATA_CONVERTER)
    main, _ = components(client, settings)
    live, _ = live_components(client, settings)
    return list(dict.fromkeys(main + live))


def definition_name(cls: type) -> str:
    return str(workflow._Definition.must_from_class(cls).name)


async def test_every_registered_workflow_type_has_a_committed_history(
    registered_workflows: list[type],
) -> None:
    assert RECORDED <= {path.stem for path in FILES}, "run `python -m tests.workflows.record_histories`"
    recorded_types = {workflow_type(load(path)) for path in FILES}
    missing = {definition_name(cls) for cls in registered_workflows} - recorded_types
    assert not missing, f"no committed history replays {missing}: add a scenario to record_histories"


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
async def test_committed_history_replays(path: Path, registered_workflows: list[type]) -> None:
    history = load(path)
    replayer = Replayer(workflows=registered_workflows, data_converter=TEST_DATA_CONVERTER)
    await replayer.replay_workflow(history)  # raises on any non-determinism
    sealed = await encoded_history(history)
    started = sealed.events[0].workflow_execution_started_event_attributes
    assert started.input.payloads[0].metadata["encoding"] == ENCODING
    await replayer.replay_workflow(sealed)


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_committed_history_holds_no_secret(path: Path) -> None:
    history = load(path)
    # Decoded as committed (else this check would read ciphertext and prove nothing) …
    text = history_text(history)
    assert ENCODING.decode() not in text
    assert json.loads(text)["events"]
    # … and free of anything shaped like an API key, a webhook secret or a LinkedIn cookie.
    assert [marker for marker in SECRET_MARKERS if marker in text] == []


@workflow.defn(name="DeliveryWorkflow", sandboxed=False)
class DeliveryWorkflowThatWaitsFirst:
    """DeliveryWorkflow as a careless edit might leave it: a timer before the first attempt."""

    @workflow.run
    async def run(self, input: DeliveryInput) -> str:
        await workflow.sleep(timedelta(seconds=1))
        return "SUCCEEDED"


async def test_an_incompatible_change_fails_the_replay() -> None:
    history = load(HISTORIES / "DeliveryWorkflow-callback.json")
    replayer = Replayer(workflows=[DeliveryWorkflowThatWaitsFirst], data_converter=TEST_DATA_CONVERTER)
    with pytest.raises(workflow.NondeterminismError):
        await replayer.replay_workflow(history)
