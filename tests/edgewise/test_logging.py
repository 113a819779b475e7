"""JSON logs (edgewise/logging.py): lines written inside Temporal activities and workflows say which
workflow (and which edgewise run) they belong to; error answers carry their `error_ref`; and a whole flow —
connecting LinkedIn cookies, members and their keys, runs, a callback with a secret header, a wrong key —
leaves no secret in any log line, neither in what is written nor in what the code asked to log."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from edgewise.logging import REDACTED, JsonFormatter, mask_secrets
from tests.api.helpers import add_member, assert_error
from tests.conftest import TEST_KEY, AccountPool
from tests.support.flows import create_identity, fresh_cookies
from tests.support.webhook_receiver import Receiver, running_receiver


class _Capture(logging.Handler):
    """Every record at DEBUG and above, kept with its JSON line."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[_Capture]:
    root = logging.getLogger()
    handler, level = _Capture(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


# --- Temporal context ---------------------------------------------------------------------------------------


@activity.defn(name="logging_probe")
async def logging_probe(note: str) -> None:
    logging.getLogger("edgewise.test").info("in the activity: %s", note)
    # Work handed to a thread (as activities do with the database) logs with the same context.
    await asyncio.to_thread(logging.getLogger("edgewise.test").info, "in a thread of the activity")


@workflow.defn(name="LoggingProbe")
class LoggingProbe:
    @workflow.run
    async def run(self, note: str) -> None:
        workflow.logger.info("in the workflow")
        await workflow.execute_activity(
            logging_probe, note, start_to_close_timeout=timedelta(seconds=30)
        )


async def test_lines_logged_in_workflows_and_activities_carry_workflow_and_run_ids(
    temporal_client: Client, captured: _Capture
) -> None:
    queue, run_uid = f"logging-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[LoggingProbe],
        activities=[logging_probe],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        await temporal_client.execute_workflow(
            LoggingProbe.run, "hello", id=f"run:{run_uid}", task_queue=queue
        )
    lines = [json.loads(line) for line in captured.lines]
    in_activity = [line for line in lines if line["logger"] == "edgewise.test"]
    assert len(in_activity) == 2, lines
    for line in in_activity:
        assert line["workflow_id"] == f"run:{run_uid}" and line["run_uid"] == run_uid, line
        assert line["activity_type"] == "logging_probe" and line["attempt"] == 1, line
        assert line["workflow_type"] == "LoggingProbe" and line["workflow_run_id"], line
    in_workflow = [line for line in lines if line["msg"].startswith("in the workflow")]
    assert in_workflow and in_workflow[0]["workflow_id"] == f"run:{run_uid}", lines
    assert in_workflow[0]["run_uid"] == run_uid and "temporal_workflow" not in in_workflow[0]


def test_lines_outside_temporal_have_no_temporal_fields(captured: _Capture) -> None:
    logging.getLogger("edgewise.test").warning("plain")
    line = json.loads(captured.lines[-1])
    assert line["msg"] == "plain" and "workflow_id" not in line and "run_uid" not in line


# --- secrets ------------------------------------------------------------------------------------------------


def test_secret_shaped_values_are_masked_whatever_logged_them(captured: _Capture) -> None:
    log = logging.getLogger("edgewise.test")
    log.info("key %s", "ew_" + "A" * 43)
    log.info("session %s", {"li_at": "AQEDAR-secret-cookie", "JSESSIONID": '"ajax:1234567890"'})
    log.info("a field", extra={"password": "hunter2-hunter2", "cookies": {"li_at": "x"}, "path": "/v1/runs"})
    text = "\n".join(captured.lines[-3:])
    for secret in ("A" * 43, "AQEDAR-secret-cookie", "1234567890", "hunter2-hunter2"):
        assert secret not in text
    last = json.loads(captured.lines[-1])
    assert last["password"] == REDACTED and last["cookies"] == REDACTED and last["path"] == "/v1/runs"
    assert mask_secrets("whsec_c2VjcmV0LXNlY3JldA== and new_key=1") == f"whsec_{REDACTED} and new_key=1"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.mark.usefixtures("worker")
async def test_a_whole_flow_logs_no_secret_and_error_answers_log_their_error_ref(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    api_url: str,
    receiver: Receiver,
    captured: _Capture,
) -> None:
    admin_key = str(client.headers["X-API-Key"])
    account = account_pool.take()
    cookies = await fresh_cookies(sandbox, account["id"])
    identity = await create_identity(client, "Log Scan")
    connected = await client.post(
        f"/v1/identities/{identity['uid']}/integrations/linkedin", json={"auth_data": {"cookies": cookies}}
    )
    assert connected.status_code == 201, connected.text
    member = await add_member(client, "user")
    webhook_secret = (await client.get("/v1/workspace/webhook")).json()["secret"]
    header_secret = f"Bearer callback-{uuid.uuid4().hex}"
    people = await sandbox.get("/_sandbox/people", params={"connected_to": account["id"], "limit": 2})
    friends = people.json()
    live = await client.post(
        "/v1/actions/linkedin-extract-people/run/live",
        json={"input": {"linkedin_profile_url": friends[0]["linkedin_profile_url"]},
              "identity_ids": [identity["uid"]]},
    )
    assert live.status_code == 200, live.text
    url, path = receiver.url_for()
    run = await client.post(
        "/v1/actions/linkedin-message-profile/run/async",
        json={
            "inputs": [{"linkedin_profile_url": friends[1]["linkedin_profile_url"]}],
            "parameters": {"message": "Hello from the log scan"},
            "identity_ids": [identity["uid"]],
            "callback": {"url": url, "headers": {"Authorization": header_secret}, "on": "final"},
        },
    )
    assert run.status_code == 202, run.text
    await receiver.wait_for(path, 1, timeout=60)
    # A key that does not exist, sent as a header and as a query parameter.
    wrong_key = "ew_" + uuid.uuid4().hex + uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as anonymous:
        refused = await anonymous.get(f"/v1/workspace?api_key={wrong_key}", headers={"X-API-Key": wrong_key})
    error_ref = assert_error(refused, 401, "UNAUTHORIZED")["error_ref"]

    secrets = {
        "li_at cookie": cookies["li_at"],
        "JSESSIONID cookie": cookies["JSESSIONID"].strip('"'),
        "admin API key": admin_key,
        "member API key": member["api_key"],
        "wrong API key": wrong_key,
        "webhook secret": webhook_secret.removeprefix("whsec_"),
        "callback header": header_secret,
        "encryption key": TEST_KEY,
    }
    written = "\n".join(captured.lines)
    # What the code asked to log, before the formatter's masking: the net must not be what saves us.
    asked = "\n".join(
        f"{record.getMessage()} {json.dumps(vars(record), default=str)}" for record in captured.records
    )
    for name, value in secrets.items():
        assert value not in written, f"the {name} appears in a log line"
        assert value not in asked, f"the {name} was passed to a logger (masked only by the formatter)"
    assert any(json.loads(line).get("error_ref") == error_ref for line in captured.lines)
    assert len(captured.lines) > 20, "the flow logged almost nothing: is the capture working?"
