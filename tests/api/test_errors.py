"""Every non-2xx answer has the contract's error shape; FastAPI's own shapes never leak (API.md §1)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio

from api.errors import MAX_VALIDATION_ERRORS, format_loc, validation_error_body
from api.middleware import MAX_BODY_BYTES
from edgewise.config import Settings
from tests.api.helpers import assert_error, client_for, total
from tests.support.servers import serve_in_thread


async def test_unknown_route_is_404_in_contract_shape(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/nothing-here"), 404, "NOT_FOUND")
    assert_error(await client.post("/v1/nothing-here", json={}), 404, "NOT_FOUND")
    # No redirect for a trailing slash either: a 3xx has no error body.
    assert_error(await client.get("/v1/identities/"), 404, "NOT_FOUND")


async def test_unknown_route_without_key_is_404(api_url: str) -> None:
    async with client_for(api_url, None) as anonymous:
        assert_error(await anonymous.get("/v2/anything"), 404, "NOT_FOUND")


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    assert_error(await client.delete("/v1/workspace"), 405, "METHOD_NOT_ALLOWED")
    assert_error(await client.patch("/v1/identities", json={}), 405, "METHOD_NOT_ALLOWED")
    assert_error(await client.post("/healthz"), 405, "METHOD_NOT_ALLOWED")


async def test_malformed_json_is_400_and_stores_nothing(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/identities", content=b'{"name": "Alice"', headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "BAD_INPUT", field="body")
    assert await total(client, "/v1/identities") == 0


async def test_body_that_is_not_an_object_is_400(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/v1/identities", json=["Alice"]), 400, "BAD_INPUT")
    assert_error(await client.post("/v1/identities", json="Alice"), 400, "BAD_INPUT")
    assert_error(await client.post("/v1/identities", json=None), 400, "BAD_INPUT")


async def test_missing_body_is_400(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/v1/identities"), 400, "BAD_INPUT")


async def test_unknown_body_field_is_400_naming_it(client: httpx.AsyncClient) -> None:
    body = assert_error(
        await client.post("/v1/identities", json={"name": "Alice", "nickname": "Al"}),
        400,
        "BAD_INPUT",
        "nickname",
    )
    assert "nickname" in body["message"]
    assert await total(client, "/v1/identities") == 0


async def test_non_json_content_type_is_415(client: httpx.AsyncClient) -> None:
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ):
        response = await client.post(
            "/v1/identities", content=b"name=Alice", headers={"Content-Type": content_type}
        )
        assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert await total(client, "/v1/identities") == 0


async def test_json_variants_and_missing_content_type_are_accepted(client: httpx.AsyncClient) -> None:
    ok = await client.post(
        "/v1/identities",
        content=b'{"name": "Alice"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert ok.status_code == 201, ok.text
    # No Content-Type at all: read as JSON.
    request = client.build_request("POST", "/v1/identities", content=b'{"name": "Carol"}')
    assert "Content-Type" not in request.headers
    assert (await client.send(request)).status_code == 201


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    too_big = b'{"name": "' + b"a" * (MAX_BODY_BYTES + 10) + b'"}'
    assert_error(
        await client.post("/v1/identities", content=too_big, headers={"Content-Type": "application/json"}),
        413,
        "PAYLOAD_TOO_LARGE",
    )


async def test_chunked_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    chunk = b"a" * (1024 * 1024)

    async def stream() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(MAX_BODY_BYTES // len(chunk) + 2):
            yield chunk
        yield b'"}'

    response = await client.post(
        "/v1/identities", content=stream(), headers={"Content-Type": "application/json"}
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert await total(client, "/v1/identities") == 0


async def test_invalid_query_is_400_never_422(client: httpx.AsyncClient) -> None:
    for query in ("limit=0", "limit=101", "limit=abc", "offset=-1", "sort=name"):
        response = await client.get(f"/v1/identities?{query}")
        assert_error(response, 400, "BAD_INPUT", field=query.split("=")[0])


async def test_error_ref_is_unique_and_logged(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edgewise.api")
    first = assert_error(await client.get("/v1/identities/nope"), 404, "NOT_FOUND")
    second = assert_error(await client.get("/v1/identities/nope"), 404, "NOT_FOUND")
    assert first["error_ref"] != second["error_ref"]
    refs = {getattr(r, "error_ref", None) for r in caplog.records}
    assert {first["error_ref"], second["error_ref"]} <= refs


def test_validation_fields_use_the_contract_path_style() -> None:
    assert format_loc(("body", "inputs", 17, "linkedin_profile_url")) == "inputs[17].linkedin_profile_url"
    assert format_loc(("body", "name")) == "name"
    assert format_loc(("query", "limit")) == "limit"
    assert format_loc(("body",)) == "body"
    assert (
        format_loc(("body", "parameters", "function-after[check(), str]", "message")) == "parameters.message"
    )


def test_errors_only_inside_parameters_are_bad_parameters() -> None:
    label, _, params = validation_error_body(
        [{"loc": ("body", "parameters", "message"), "msg": "too long", "type": "string_too_long"}]
    )
    assert label == "BAD_PARAMETERS"
    assert params["validation_errors"] == [{"field": "parameters.message", "message": "too long"}]
    label, _, _ = validation_error_body(
        [
            {"loc": ("body", "parameters", "message"), "msg": "too long", "type": "x"},
            {"loc": ("body", "input"), "msg": "field required", "type": "missing"},
        ]
    )
    assert label == "BAD_INPUT"


def test_validation_errors_are_capped_at_100() -> None:
    errors = [
        {"loc": ("body", "inputs", i, "linkedin_profile_url"), "msg": "bad", "type": "x"} for i in range(250)
    ]
    label, message, params = validation_error_body(errors)
    assert label == "BAD_INPUT"
    assert len(params["validation_errors"]) == MAX_VALIDATION_ERRORS
    assert params["validation_errors"][17]["field"] == "inputs[17].linkedin_profile_url"
    assert "250" in message


# --- an unexpected exception becomes a 500 in the contract's shape ---------------------------------------


@pytest.fixture(scope="module")
def boom_url(settings: Settings) -> Iterator[str]:
    from api.app import create_app

    app = create_app(settings.model_copy(update={"api_port": 1}))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret-ish detail that must not reach the client")

    with serve_in_thread(app) as url:
        yield url


@pytest_asyncio.fixture
async def boom_client(boom_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=boom_url) as http:
        yield http


async def test_unexpected_exception_is_500_with_logged_ref(
    boom_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edgewise.api")
    body = assert_error(await boom_client.get("/boom"), 500, "INTERNAL_ERROR")
    assert body["error_scope"] == "internal"
    assert "secret-ish" not in body["message"]
    logged = [r for r in caplog.records if getattr(r, "error_ref", None) == body["error_ref"]]
    assert logged and logged[0].exc_info is not None


# --- OpenAPI -------------------------------------------------------------------------------------------


async def test_openapi_describes_routes_without_422(api_url: str) -> None:
    async with client_for(api_url, None) as anonymous:
        response = await anonymous.get("/openapi.json")
        assert response.status_code == 200
        schema = response.json()
        assert (await anonymous.get("/docs")).status_code == 200
    paths = schema["paths"]
    for path in (
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/workspace",
        "/v1/workspace/webhook",
        "/v1/workspace/webhook/rotate-secret",
        "/v1/workspace/consumption",
        "/v1/members",
        "/v1/members/{uid}",
        "/v1/members/{uid}/rotate-key",
        "/v1/identities",
        "/v1/identities/{uid}",
    ):
        assert path in paths, path
    for path, item in paths.items():
        for method, operation in item.items():
            assert "422" not in operation["responses"], (method, path)
    assert "HTTPValidationError" not in schema.get("components", {}).get("schemas", {})
    post_identities = paths["/v1/identities"]["post"]
    assert {"201", "400", "401", "403"} <= set(post_identities["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in post_identities.get("parameters", []))
    assert "X-Total-Count" in paths["/v1/identities"]["get"]["responses"]["200"]["headers"]
    assert schema["components"]["securitySchemes"]


async def test_nul_characters_are_400_not_500(client: httpx.AsyncClient) -> None:
    assert_error(
        await client.post("/v1/identities", json={"name": "Ali\u0000ce"}), 400, "BAD_INPUT", field="name"
    )
    assert_error(
        await client.post("/v1/members", json={"email": "a\u0000@example.test", "role": "user"}),
        400,
        "BAD_INPUT",
    )
    # The same on every database: a NUL in a query parameter is a 400 naming it; in the path, no such object.
    assert_error(await client.get("/v1/identities", params={"query": "a\u0000b"}), 400, "BAD_INPUT", "query")
    assert_error(await client.get("/v1/identities/%00"), 404, "NOT_FOUND")
    assert await total(client, "/v1/identities") == 0


async def test_huge_numbers_are_400(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/identities?limit=99999999999999999999999"), 400, "BAD_INPUT", "limit")
    assert_error(await client.get("/v1/identities?offset=99999999999999999999999"), 400, "BAD_INPUT")


async def test_invalid_utf8_body_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/identities", content=b'{"name": "\xff\xfe"}', headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "BAD_INPUT", field="body")
