"""Hardening of the API foundation against what a black-box tester sent (API.md §1): strict JSON bodies,
the error shape of every 400 about a body, Content-Encoding, 405 with a complete `Allow`, HEAD, routing
before the 415/413 checks, strict bodies on routes that take none, no secret in any log line, NUL characters
in queries, RFC 5321 email lengths, and an OpenAPI document (and /docs) that is complete and works offline.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from api.app import create_app
from api.middleware import MAX_BODY_BYTES, MAX_JSON_DEPTH
from edgewise.config import Settings
from tests.api.helpers import add_member, assert_error, client_for, total
from tests.support.servers import free_port

JSON = {"Content-Type": "application/json"}


def body_error(response: httpx.Response, status: int = 400, label: str = "BAD_INPUT") -> dict[str, Any]:
    """A 400 about the body: the contract's shape, with `params.validation_errors` naming `body`."""
    body = assert_error(response, status, label, field="body")
    assert body["params"]["validation_errors"][0]["message"]
    return body


async def identity_uid(client: httpx.AsyncClient) -> str:
    response = await client.post("/v1/identities", json={"name": f"Ida {uuid.uuid4().hex[:6]}"})
    assert response.status_code == 201, response.text
    return str(response.json()["uid"])


# --- 1. NaN, Infinity, -Infinity (and numbers JSON cannot carry back) ----------------------------------


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999", "9" * 5000])
async def test_non_finite_numbers_are_400_on_every_kind_of_route(
    client: httpx.AsyncClient, token: str
) -> None:
    me = (await client.get("/v1/members")).json()[0]["uid"]
    uid = await identity_uid(client)
    attempts = [
        ("POST", "/v1/identities", f'{{"name": "Alice", "timezone": {token}}}'),
        ("PUT", f"/v1/identities/{uid}", f'{{"working_hours": {{"days": [{token}], "start": "08:00"}}}}'),
        ("PUT", "/v1/workspace/limits", f'{{"limits": {{"LK_MESSAGES_SENT": {token}}}}}'),
        ("PUT", f"/v1/identities/{uid}/limits", f'{{"limits": {{"LK_PROFILE_VISITS": {token}}}}}'),
        ("POST", "/v1/members", f'{{"email": "a@example.test", "role": "user", "x": [{token}]}}'),
        ("POST", f"/v1/members/{me}/rotate-key", f'{{"x": {token}}}'),
        ("PUT", "/v1/workspace/webhook", f'{{"url": {token}}}'),
    ]
    for method, path, text in attempts:
        response = await client.request(method, path, content=text.encode(), headers=JSON)
        body_error(response)
    assert await total(client, "/v1/identities") == 1
    assert (await client.get("/v1/workspace/limits")).json()["limits"] == {}


async def test_the_tokens_inside_strings_are_fine(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/identities", content=b'{"name": "NaN Infinity -Infinity 1e400"}', headers=JSON
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "NaN Infinity -Infinity 1e400"


# --- 2. every 400 about the body names `body`; Content-Encoding --------------------------------------------


async def test_invalid_utf8_body_names_body(client: httpx.AsyncClient) -> None:
    body_error(await client.post("/v1/identities", content=b'{"name":"caf\xe9"}', headers=JSON))
    body_error(await client.post("/v1/members", content=b'{"email":"\xff@x.test","role":"user"}'))
    assert await total(client, "/v1/identities") == 0


async def test_lone_surrogates_are_400_not_500(client: httpx.AsyncClient) -> None:
    # Valid JSON, but no UTF-8 can carry it back out (or into PostgreSQL).
    body_error(await client.post("/v1/identities", content=b'{"name": "Al\\ud800ice"}', headers=JSON))
    assert await total(client, "/v1/identities") == 0


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 900, 100_000])
async def test_deeply_nested_json_is_400(client: httpx.AsyncClient, depth: int) -> None:
    nested = b"[" * depth + b"]" * depth
    body_error(
        await client.post("/v1/identities", content=b'{"name": "Al", "x": ' + nested + b"}", headers=JSON)
    )
    body_error(
        await client.put(
            "/v1/workspace/limits",
            content=b'{"limits": {"LK_MESSAGES_SENT": ' + nested + b"}}",
            headers=JSON,
        )
    )
    me = (await client.get("/v1/members")).json()[0]["uid"]
    body_error(await client.post(f"/v1/members/{me}/rotate-key", content=nested, headers=JSON))


async def test_nesting_up_to_the_limit_is_parsed(client: httpx.AsyncClient) -> None:
    # Depth MAX_JSON_DEPTH is fine as JSON; the model then refuses the unknown field by name.
    nested = b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1)
    response = await client.post("/v1/identities", content=b'{"name": "Al", "x": ' + nested + b"}")
    assert_error(response, 400, "BAD_INPUT", field="x")


async def test_content_encoding_other_than_identity_is_415(client: httpx.AsyncClient) -> None:
    raw = json.dumps({"name": "Zipped"}).encode()
    for encoding, content in (("gzip", gzip.compress(raw)), ("br", raw), ("deflate, gzip", raw)):
        response = await client.post(
            "/v1/identities", content=content, headers={**JSON, "Content-Encoding": encoding}
        )
        assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert await total(client, "/v1/identities") == 0
    ok = await client.post("/v1/identities", content=raw, headers={**JSON, "Content-Encoding": "identity"})
    assert ok.status_code == 201, ok.text


# --- 3. 405 with a complete Allow; HEAD ---------------------------------------------------------------


def allow(response: httpx.Response) -> set[str]:
    return {m.strip() for m in response.headers["allow"].split(",")}


async def test_405_lists_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    uid = await identity_uid(client)
    cases = {
        "/v1/identities": {"GET", "HEAD", "POST"},
        f"/v1/identities/{uid}": {"GET", "HEAD", "PUT", "DELETE"},
        "/v1/members/x": {"GET", "HEAD", "PATCH", "DELETE"},
        "/v1/workspace/webhook": {"GET", "HEAD", "PUT", "DELETE"},
        "/v1/identities/x/integrations/linkedin": {"GET", "HEAD", "POST", "DELETE"},
        "/healthz": {"GET", "HEAD"},
    }
    for path, methods in cases.items():
        response = await client.request("PATCH" if "PATCH" not in methods else "POST", path, json={})
        assert_error(response, 405, "METHOD_NOT_ALLOWED")
        assert allow(response) == methods, (path, response.headers["allow"])
    response = await client.options("/v1/identities")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert allow(response) == {"GET", "HEAD", "POST"}


async def test_head_answers_like_get_without_a_body(client: httpx.AsyncClient, api_url: str) -> None:
    async with client_for(api_url, None) as anonymous:
        response = await anonymous.head("/healthz")
        assert response.status_code == 200
        assert response.content == b""
        unauthenticated = await anonymous.head("/v1/identities")
        assert unauthenticated.status_code == 401 and unauthenticated.content == b""
    await identity_uid(client)
    listed = await client.head("/v1/identities")
    assert listed.status_code == 200 and listed.content == b""
    assert listed.headers["X-Total-Count"] == "1"
    assert (await client.head("/v1/identities/nope")).status_code == 404
    me = (await client.get("/v1/members")).json()[0]["uid"]
    post_only = await client.head(f"/v1/members/{me}/rotate-key")
    assert post_only.status_code == 405 and allow(post_only) == {"POST"}


# --- 4. routing answers before the 415 and 413 checks ----------------------------------------------------


async def raw_request(api_url: str, head: str, body: bytes = b"") -> tuple[int, dict[str, Any]]:
    """Send a hand-made request (a Content-Length the body does not fill); the status and JSON body."""
    host, port = api_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout=20)  # Connection: close
    finally:
        writer.close()
    status_line, _, rest = data.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(payload)


async def test_unknown_routes_and_slugs_are_404_whatever_the_body(
    client: httpx.AsyncClient, api_url: str, new_workspace: Any
) -> None:
    text = {"Content-Type": "text/plain"}
    assert_error(await client.post("/v1/nothing-here", content=b"hello", headers=text), 404, "NOT_FOUND")
    for mode in ("live", "async", "schedule"):
        response = await client.post(f"/v1/actions/nope/run/{mode}", content=b"hello", headers=text)
        assert_error(response, 404, "NOT_FOUND")
        response = await client.post(
            f"/v1/actions/nope/run/{mode}", content=b"{}", headers={**JSON, "Content-Encoding": "gzip"}
        )
        assert_error(response, 404, "NOT_FOUND")
    # A wrong method is 405 before the body's type is looked at.
    assert_error(await client.patch("/v1/identities", content=b"x", headers=text), 405, "METHOD_NOT_ALLOWED")
    # Declared bodies over the limit: the route decides first.
    huge = MAX_BODY_BYTES + 1
    key = new_workspace.api_key
    for path in ("/v1/nothing-here", "/v1/actions/nope/run/async"):
        status, payload = await raw_request(
            api_url,
            f"POST {path} HTTP/1.1\nHost: t\nX-API-Key: {key}\nContent-Type: application/json\n"
            f"Content-Length: {huge}\nConnection: close\n",
            b"{",
        )
        assert (status, payload["error_label"]) == (404, "NOT_FOUND"), (path, payload)
    status, payload = await raw_request(
        api_url,
        f"POST /v1/identities HTTP/1.1\nHost: t\nX-API-Key: {key}\nContent-Type: application/json\n"
        f"Content-Length: {huge}\nConnection: close\n",
        b"{",
    )
    assert (status, payload["error_label"]) == (413, "PAYLOAD_TOO_LARGE")


# --- 5. routes that take no body accept nothing or {} ---------------------------------------------------


async def test_routes_without_a_body_refuse_one(client: httpx.AsyncClient) -> None:
    me = (await client.get("/v1/members")).json()[0]["uid"]
    rotate = f"/v1/members/{me}/rotate-key"
    body = assert_error(await client.post(rotate, json={"x": 1}), 400, "BAD_INPUT", field="x")
    assert body["params"]["validation_errors"] == [{"field": "x", "message": "unknown field"}]
    for bad in (b"[]", b"null", b"1", b'"x"', b"{"):
        body_error(await client.post(rotate, content=bad, headers=JSON))
    assert_error(
        await client.post("/v1/workspace/webhook/rotate-secret", json={"secret": "mine"}),
        400,
        "BAD_INPUT",
        "secret",
    )
    uid = await identity_uid(client)
    assert_error(
        await client.request("DELETE", f"/v1/identities/{uid}", json={"force": True}),
        400,
        "BAD_INPUT",
        "force",
    )
    assert (await client.get(f"/v1/identities/{uid}")).status_code == 200  # not deleted
    # The run routes of another module are covered as well (the body is checked before the run is looked up).
    for action in ("stop", "resume"):
        assert_error(await client.post(f"/v1/runs/nope/{action}", json={"x": 1}), 400, "BAD_INPUT", "x")
    assert_error(await client.post("/v1/deliveries/nope/replay", json={"x": 1}), 400, "BAD_INPUT", "x")
    # Nothing, whitespace or {} are fine (an empty body whatever its Content-Type says).
    key = (await client.post(rotate)).json()["api_key"]
    client.headers["X-API-Key"] = key
    key = (await client.post(rotate, json={})).json()["api_key"]
    client.headers["X-API-Key"] = key
    response = await client.post(rotate, content=b" \n", headers=JSON)
    assert response.status_code == 200, response.text
    client.headers["X-API-Key"] = response.json()["api_key"]
    response = await client.post(rotate, content=b"", headers={"Content-Type": "text/plain"})
    assert response.status_code == 200, response.text
    client.headers["X-API-Key"] = response.json()["api_key"]
    assert (await client.request("DELETE", f"/v1/identities/{uid}", json={})).status_code == 204


async def test_a_body_error_does_not_come_before_authentication(api_url: str) -> None:
    async with client_for(api_url, "wrong") as stranger:
        assert_error(await stranger.post("/v1/members/x/rotate-key", json={"x": 1}), 401, "UNAUTHORIZED")
        response = await stranger.post("/v1/identities", content=b'{"name": NaN}', headers=JSON)
        assert_error(response, 401, "UNAUTHORIZED")


# --- 6. no secret in any log line ------------------------------------------------------------------------


def test_python_m_api_turns_uvicorns_access_log_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    import api.__main__ as entry

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    entry.main()
    assert seen["access_log"] is False


async def test_requests_are_logged_without_their_query_string(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    secret = f"sk_{uuid.uuid4().hex}"
    await client.get(f"/v1/identities?api_key={secret}&query=x")
    await client.get(f"/v1/nothing?api_key={secret}")
    lines = [r for r in caplog.records if r.name == "edgewise.api.access"]
    assert any(getattr(r, "path", None) == "/v1/identities" for r in lines)
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert secret not in json.dumps(vars(record), default=str)


def test_no_secret_reaches_the_served_apis_output(settings: Settings, tmp_path: Path) -> None:
    """`python -m api` as deployed: a key in the query string appears nowhere in its output."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
        "EDGEWISE_DATA_DIR": str(tmp_path),
        "EDGEWISE_ENCRYPTION_KEY": settings.encryption_key,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",  # nothing there: the API serves anyway
        "API_PORT": str(port),
        "LOG_LEVEL": "INFO",
    }
    log_file = tmp_path / "api.log"
    secret = f"sk_{uuid.uuid4().hex}"
    with log_file.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "api"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert process.poll() is None, log_file.read_text()
                assert time.monotonic() < deadline, log_file.read_text()
                time.sleep(0.2)
            response = httpx.get(f"http://127.0.0.1:{port}/v1/identities?api_key={secret}", timeout=5)
            assert response.status_code == 401
            httpx.get(f"http://127.0.0.1:{port}/healthz?token={secret}", timeout=5)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    output = log_file.read_text()
    assert "/v1/identities" in output  # requests are logged…
    assert secret not in output  # …without their query strings


# --- 7. NUL characters in query parameters --------------------------------------------------------------


async def test_nul_in_any_query_parameter_is_400_naming_it(client: httpx.AsyncClient) -> None:
    await identity_uid(client)
    cases = [
        ("/v1/identities?query=%00", "query"),
        ("/v1/identities?query=a%00b&limit=5", "query"),
        ("/v1/members?sort=%00", "sort"),
        ("/v1/deliveries?run_uid=a%00", "run_uid"),
        ("/v1/deliveries?kind=event&status=%00", "status"),
        ("/v1/runs?action_name=%00", "action_name"),
        ("/v1/workspace/consumption?from=%00", "from"),
        ("/v1/identities?unknown=%00", "unknown"),
    ]
    for url, field in cases:
        assert_error(await client.get(url), 400, "BAD_INPUT", field=field)


async def test_nul_in_the_path_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/identities/%00"), 404, "NOT_FOUND")
    assert_error(await client.get("/v1/members/a%00b"), 404, "NOT_FOUND")


# --- 8. RFC 5321 email lengths ---------------------------------------------------------------------------


async def test_email_lengths_follow_rfc_5321(client: httpx.AsyncClient) -> None:
    too_long = [
        "a" * 65 + "@example.test",  # local part > 64
        "a" * 250 + "@example.test",
        "a@" + "b" * 64 + ".test",  # a domain label > 63
        "a" * 60 + "@" + ".".join(["b" * 60] * 4) + ".test",  # > 254 in all
    ]
    for email in too_long:
        response = await client.post("/v1/members", json={"email": email, "role": "user"})
        assert_error(response, 400, "BAD_INPUT", field="email")
    assert await total(client, "/v1/members") == 1
    longest_local = "a" * 64 + "@example.test"
    response = await client.post("/v1/members", json={"email": longest_local, "role": "user"})
    assert response.status_code == 201, response.text
    await add_member(client, "user", "b" * 64 + "@" + ".".join(["c" * 60] * 3) + ".test")


# --- 9. OpenAPI completeness; /docs offline ---------------------------------------------------------------


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_every_route_documents_its_error_answers() -> None:
    app = create_app()
    spec = app.openapi()
    documented = {(path, method.upper()) for path, method, _ in _operations(spec)}
    routes = [ctx for ctx in iter_route_contexts(app.routes) if isinstance(ctx.original_route, APIRoute)]
    assert len(routes) > 30
    for ctx in routes:
        if ctx.include_in_schema:
            for method in (ctx.methods or set()) - {"HEAD"}:
                assert (ctx.path_format, method) in documented, (ctx.path_format, method)
    for path, method, op in _operations(spec):
        codes = set(op["responses"])
        assert "500" in codes and "422" not in codes, (method, path)
        if not path.startswith("/v1"):
            continue
        assert {"400", "401", "429"} <= codes, (method, path, codes)
        if method != "get":
            assert {"403", "413", "415"} <= codes, (method, path, codes)
        if "{" in path:
            assert "404" in codes, (method, path, codes)
        for code in codes - {"200", "201", "202", "204"}:
            schema = op["responses"][code]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, code)
        names = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        success = next(op["responses"][c] for c in ("200", "201", "202", "204") if c in op["responses"])
        if "offset" in names:
            assert "X-Total-Count" in success.get("headers", {}), (method, path)
        if "cursor" in names:
            assert "X-Pagination-Next" in success.get("headers", {}), (method, path)
    paths = spec["paths"]
    assert {"401", "404", "429"} <= set(paths["/v1/actions/{slug}"]["get"]["responses"])
    assert "403" in paths["/v1/workspace/webhook"]["get"]["responses"]  # admin only
    assert "503" in paths["/v1/deliveries/{uid}/replay"]["post"]["responses"]  # needs Temporal
    assert "X-Total-Count" in paths["/v1/runs"]["get"]["responses"]["200"]["headers"]
    error_out = spec["components"]["schemas"]["ErrorOut"]
    assert set(error_out["required"]) == {
        "error_label",
        "error_scope",
        "error_ref",
        "message",
        "status_code",
        "params",
    }


async def test_docs_work_without_internet(api_url: str) -> None:
    async with client_for(api_url, None) as anonymous:
        for page in ("/docs", "/redoc"):
            response = await anonymous.get(page)
            assert response.status_code == 200
            html = response.text
            assert "cdn." not in html and "https://" not in html, html
            assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
            assert assets, html
            for asset in assets:
                fetched = await anonymous.get(asset)
                assert fetched.status_code == 200, asset
                assert len(fetched.content) > 1000 or asset.endswith(".png"), asset
        assert (await anonymous.get("/openapi.json")).status_code == 200
