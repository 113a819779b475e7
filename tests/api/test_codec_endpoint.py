"""The codec endpoint the Temporal UI uses (api/routes/codec.py), over real HTTP: it decrypts what the
platform really wrote to Temporal, encrypts with the platform's keys, answers only an operator (bearer
token, or a direct loopback client where allowed), speaks CORS to the UI's origin only, and refuses every
malformed request with the contract's error shape."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from edgewise.codec import ENCODING, EncryptionCodec
from edgewise.config import Settings
from tests.api.helpers import assert_error
from tests.conftest import AccountPool
from tests.support.flows import create_identity, fresh_cookies
from tests.support.history import codec_for_tests
from tests.support.servers import free_port, serve_in_thread

TOKEN = "codec-token-" + os.urandom(8).hex()
UI_ORIGIN = "http://temporal-ui.example:8080"
REMOTE = {"X-Forwarded-For": "203.0.113.7"}  # what a proxy in front of the API adds: not a loopback client


@pytest.fixture(scope="module")
def codec_url(settings: Settings) -> Iterator[str]:
    """An API configured for the UI: a token, loopback allowed, the UI's origin (its own live-task queue, so
    its in-process live worker stays out of the other tests' way)."""
    configured = settings.model_copy(
        update={
            "codec_auth_token": SecretStr(TOKEN),
            "codec_allow_loopback": True,
            "codec_cors_origins": UI_ORIGIN + "/",
            "api_port": free_port(),
            "temporal_task_queue": f"{settings.temporal_task_queue}-codec",
        }
    )
    from api.app import create_app

    with serve_in_thread(create_app(configured)) as url:
        yield url


def as_json(*payloads: Payload) -> dict[str, Any]:
    return {"payloads": [json_format.MessageToDict(payload) for payload in payloads]}


def from_json(body: dict[str, Any]) -> list[Payload]:
    return [json_format.ParseDict(item, Payload()) for item in body["payloads"]]


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def post(url: str, body: Any, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(url, json=body, headers=headers or {}, **kwargs)


async def connect_history_start_input(
    client: httpx.AsyncClient, sandbox: httpx.AsyncClient, account_pool: AccountPool, temporal_client: Client
) -> tuple[Payload, dict[str, str]]:
    """Connect an account through the API; the raw start input of its connect workflow, and the cookies."""
    identity = await create_identity(client, "Codec Check")
    cookies = await fresh_cookies(sandbox, account_pool.take()["id"])
    url = f"/v1/identities/{identity['uid']}/integrations/linkedin"
    response = await client.post(url, json={"auth_data": {"cookies": cookies}})
    assert response.status_code == 201, response.text
    prefix = f"connect:{response.json()['uid']}:"
    for _ in range(100):  # visibility lags a little
        ids = [
            execution.id
            async for execution in temporal_client.list_workflows("WorkflowType = 'ConnectWorkflow'")
            if execution.id.startswith(prefix)
        ]
        if ids:
            history = await temporal_client.get_workflow_handle(ids[0]).fetch_history()
            started = history.events[0].workflow_execution_started_event_attributes
            return started.input.payloads[0], cookies
        await asyncio.sleep(0.1)
    raise AssertionError("the connect workflow never showed up")


@pytest.mark.usefixtures("worker")
async def test_decode_shows_what_the_platform_wrote_to_temporal(
    codec_url: str,
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    account_pool: AccountPool,
    temporal_client: Client,
) -> None:
    raw, cookies = await connect_history_start_input(client, sandbox, account_pool, temporal_client)
    # What Temporal stores is ciphertext: no field name, no uid readable.
    assert raw.metadata["encoding"] == ENCODING
    assert b"stash_uid" not in raw.data
    response = await post(f"{codec_url}/codec/decode", as_json(raw), {"X-Namespace": "default"})
    assert response.status_code == 200, response.text
    [decoded] = from_json(response.json())
    assert decoded.metadata["encoding"] == b"json/plain"
    started_with = json.loads(decoded.data)
    assert "stash_uid" in started_with  # the connect workflow gets the stash's uid …
    for secret in (cookies["li_at"], cookies["JSESSIONID"]):
        assert secret not in decoded.data.decode()  # … never the cookies


async def test_encode_uses_the_platform_keys(codec_url: str) -> None:
    response = await post(f"{codec_url}/codec/encode", as_json(plain('"hello"'), plain("[1, 2]")))
    assert response.status_code == 200, response.text
    sealed = from_json(response.json())
    assert all(payload.metadata["encoding"] == ENCODING for payload in sealed)
    assert b"hello" not in sealed[0].data
    # The worker's and the tests' client codec (same configured key) opens them: the UI may send signals.
    assert await codec_for_tests().decode(sealed) == [plain('"hello"'), plain("[1, 2]")]
    back = await post(f"{codec_url}/codec/decode", as_json(*sealed))
    assert from_json(back.json()) == [plain('"hello"'), plain("[1, 2]")]


async def test_payloads_it_did_not_seal_pass_through(codec_url: str) -> None:
    response = await post(f"{codec_url}/codec/decode", as_json(plain('"legacy"')))
    assert response.status_code == 200, response.text
    assert from_json(response.json()) == [plain('"legacy"')]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),  # a direct loopback client, loopback allowed
        (REMOTE, 401),  # through a proxy, no token
        ({**REMOTE, "Authorization": "Bearer wrong"}, 401),
        ({**REMOTE, "Authorization": f"Basic {TOKEN}"}, 401),
        ({**REMOTE, "Authorization": f"Bearer {TOKEN}"}, 200),
        ({"Forwarded": "for=203.0.113.7", "Authorization": f"bearer {TOKEN}"}, 200),
    ],
)
async def test_only_an_operator_may_call_it(codec_url: str, headers: dict[str, str], status: int) -> None:
    [sealed] = await codec_for_tests().encode([plain('"x"')])
    response = await post(f"{codec_url}/codec/decode", as_json(sealed), headers)
    if status == 200:
        assert response.status_code == 200, response.text
        assert from_json(response.json()) == [plain('"x"')]
    else:
        body = assert_error(response, 401, "UNAUTHORIZED")
        assert TOKEN not in json.dumps(body)


async def test_without_a_token_or_loopback_it_answers_nobody(api_url: str) -> None:
    """The default configuration (the session's API): closed, even to a loopback client."""
    [sealed] = await codec_for_tests().encode([plain('"x"')])
    for path in ("/codec/decode", "/codec/encode"):
        response = await post(f"{api_url}{path}", as_json(sealed), {"Authorization": "Bearer anything"})
        assert_error(response, 401, "UNAUTHORIZED")


async def test_cors_lets_the_ui_origin_in_and_nobody_else(codec_url: str) -> None:
    preflight_headers = {
        "Origin": UI_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    async with httpx.AsyncClient(timeout=30) as http:
        ok = await http.options(f"{codec_url}/codec/decode", headers=preflight_headers)
        assert ok.status_code == 204, ok.text
        assert ok.headers["access-control-allow-origin"] == UI_ORIGIN
        allowed = {h.strip().lower() for h in ok.headers["access-control-allow-headers"].split(",")}
        assert {"authorization", "content-type", "x-namespace"} <= allowed
        assert "POST" in ok.headers["access-control-allow-methods"]
        assert ok.headers["access-control-allow-credentials"] == "true"  # the UI's "include credentials"

        other = await http.options(
            f"{codec_url}/codec/decode", headers={**preflight_headers, "Origin": "http://evil.example"}
        )
        assert_error(other, 403, "FORBIDDEN")
        assert "access-control-allow-origin" not in other.headers
        unknown = await http.options(f"{codec_url}/codec/nope", headers=preflight_headers)
        assert_error(unknown, 404, "NOT_FOUND")

        [sealed] = await codec_for_tests().encode([plain('"x"')])
        answered = await http.post(
            f"{codec_url}/codec/decode", json=as_json(sealed), headers={"Origin": UI_ORIGIN}
        )
        assert answered.headers["access-control-allow-origin"] == UI_ORIGIN
        refused = await http.post(
            f"{codec_url}/codec/decode", json=as_json(sealed), headers={"Origin": UI_ORIGIN, **REMOTE}
        )
        assert_error(refused, 401, "UNAUTHORIZED")  # the UI can read why
        assert refused.headers["access-control-allow-origin"] == UI_ORIGIN


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b"", "body"),
        (b"{not json", "body"),
        (b"[]", "body"),
        (b'{"payloads": "x"}', "payloads"),
        (b"{}", "payloads"),
        (b'{"payloads": [], "extra": 1}', "extra"),
        (b'{"payloads": [42]}', "payloads[0]"),
        (b'{"payloads": [{"data": "%%%"}]}', "payloads[0]"),
        (b'{"payloads": [{"data": "a"}]}', "payloads[0]"),
        (b'{"payloads": [{"metadata": {"encoding": "b!"}, "data": ""}]}', "payloads[0]"),
        (b'{"payloads": [{"metadata": {"encoding": 5}}]}', "payloads[0]"),
        (b'{"payloads": [{"metadata": {}, "data": "", "color": "red"}]}', "payloads[0]"),
    ],
)
async def test_malformed_requests_are_400_naming_the_field(
    codec_url: str, content: bytes, field: str
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        for path in ("/codec/decode", "/codec/encode"):
            response = await http.post(
                f"{codec_url}{path}", content=content, headers={"Content-Type": "application/json"}
            )
            assert_error(response, 400, "BAD_INPUT", field)


async def test_a_payload_no_configured_key_opens_is_400(codec_url: str) -> None:
    [foreign] = await EncryptionCodec([os.urandom(32)]).encode([plain('"x"')])
    [ours] = await codec_for_tests().encode([plain('"y"')])
    response = await post(f"{codec_url}/codec/decode", as_json(ours, foreign))
    body = assert_error(response, 400, "BAD_INPUT", "payloads[1]")
    assert "not configured" in body["message"]


async def test_other_media_types_are_415(codec_url: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{codec_url}/codec/decode", content=b"payloads", headers={"Content-Type": "text/plain"}
        )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
