"""Every non-2xx answer in the contract's shape (API.md §1):

    {"error_label", "error_scope", "error_ref", "message", "status_code", "params"}

Routes and dependencies raise `edgewise.errors.ApiError`; the handlers here render it, and translate what
FastAPI/Starlette would otherwise answer in their own shapes (422 validation errors, 404/405 routing errors,
unexpected exceptions). Each error gets a fresh `error_ref`, written to the server's log line for it so an
operator can find the request a client reports.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from edgewise.errors import ERROR_LABELS, ApiError, ErrorScope

log = logging.getLogger("edgewise.api")

MAX_VALIDATION_ERRORS = 100

# Starlette's own HTTP errors (routing, body parsing) → the contract's labels.
_STATUS_LABELS = {
    400: "BAD_INPUT",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    503: "SERVICE_UNAVAILABLE",
}

# Set on the (copied) scope of a HEAD request that api.middleware.HeadMiddleware has answered as GET.
HEAD_SCOPE_KEY = "edgewise.head"

# Loc prefixes FastAPI puts in front of the real field path.
_LOC_SOURCES = {"body", "query", "path", "header", "cookie"}


class ErrorOut(BaseModel):
    """The error body of every non-2xx response."""

    error_label: str = Field(examples=["BAD_INPUT"])
    error_scope: ErrorScope = Field(examples=["input"])
    error_ref: str = Field(description="Unique per error; quoted in the server's log line for it.")
    message: str
    status_code: int = Field(examples=[400])
    params: dict[str, Any] = Field(
        description="Details (`{}` when there are none), e.g. `validation_errors: [{field, message}]` (at "
        "most 100) for 400s.",
    )


_DESCRIPTIONS = {
    400: "BAD_INPUT / BAD_PARAMETERS: body, query or `parameters` invalid (`params.validation_errors`)",
    401: "UNAUTHORIZED: no or unknown `X-API-Key`",
    403: "FORBIDDEN: the member's role may not do this",
    404: "NOT_FOUND: no such route, or no such object in this workspace",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT: the object's state does not allow it",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE: send `Content-Type: application/json`",
    424: "The identity's integration or LinkedIn refused or failed",
    429: "LIMIT_REACHED (Smart Limits) or RATE_LIMITED",
    500: "INTERNAL_ERROR (quote `error_ref`)",
    503: "SERVICE_UNAVAILABLE: a dependency (database, Temporal) is not reachable",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the given error statuses, all with the `ErrorOut` body."""
    return {code: {"model": ErrorOut, "description": _DESCRIPTIONS.get(code, "Error")} for code in codes}


def new_error_ref() -> str:
    return uuid.uuid4().hex


def error_payload(
    label: str,
    message: str,
    *,
    params: dict[str, Any] | None = None,
    status_code: int | None = None,
    scope: ErrorScope | str | None = None,
    error_ref: str | None = None,
) -> dict[str, Any]:
    default_status, default_scope = ERROR_LABELS.get(label, (500, ErrorScope.internal))
    return {
        "error_label": label,
        "error_scope": str(scope or default_scope),
        "error_ref": error_ref or new_error_ref(),
        "message": message,
        "status_code": status_code or default_status,
        "params": params or {},
    }


def _log_error(payload: dict[str, Any], method: str, path: str, *, exc_info: bool = False) -> None:
    # The path only (never the query string or headers: they may carry cursors or keys).
    status = payload["status_code"]
    level = logging.INFO if status < 500 else logging.WARNING if status == 503 else logging.ERROR
    log.log(
        level,
        "request failed: %s %s → %s %s",
        method,
        path,
        payload["status_code"],
        payload["error_label"],
        extra={
            "error_ref": payload["error_ref"],
            "error_label": payload["error_label"],
            "status_code": payload["status_code"],
            "method": method,
            "path": path,
        },
        exc_info=exc_info,
    )


def error_response(
    label: str,
    message: str,
    *,
    method: str,
    path: str,
    params: dict[str, Any] | None = None,
    status_code: int | None = None,
    scope: ErrorScope | str | None = None,
    headers: dict[str, str] | None = None,
    exc_info: bool = False,
) -> JSONResponse:
    """Build (and log, with its error_ref) one error response."""
    payload = error_payload(label, message, params=params, status_code=status_code, scope=scope)
    _log_error(payload, method, path, exc_info=exc_info)
    return JSONResponse(payload, status_code=payload["status_code"], headers=headers)


def api_error_response(exc: ApiError, method: str, path: str) -> JSONResponse:
    return error_response(
        exc.label,
        exc.message,
        method=method,
        path=path,
        params=exc.params,
        status_code=exc.status_code,
        scope=exc.scope,
        headers=exc.headers or None,
    )


# --- validation errors --------------------------------------------------------------------------------


def format_loc(loc: Sequence[Any]) -> str:
    """`("body", "inputs", 17, "linkedin_profile_url")` → `inputs[17].linkedin_profile_url`."""
    parts = list(loc)
    if parts and parts[0] in _LOC_SOURCES:
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            # pydantic names union members / validator wrappers in loc (`function-after[...]`): not fields.
            if "[" in text or text.startswith("function-"):
                continue
            out += f".{text}" if out else text
    return out or "body"


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "field required"
    msg = str(error.get("msg", "invalid"))
    # Our own validators raise ValueError; pydantic prefixes their text.
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def validation_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    """pydantic/FastAPI errors → the contract's `[{field, message}]`, de-duplicated, in order."""
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, str]] = []
    for error in errors:
        item = (format_loc(error.get("loc", ())), _message(error))
        if item not in seen:
            seen.add(item)
            out.append({"field": item[0], "message": item[1]})
    return out


def validation_error_body(errors: Sequence[Any]) -> tuple[str, str, dict[str, Any]]:
    """(label, message, params) for a list of pydantic errors.

    Errors all inside the `parameters` object are BAD_PARAMETERS; anything else is BAD_INPUT.
    """
    items = validation_errors(errors)
    label = "BAD_INPUT"
    if items and all(
        i["field"] == "parameters" or i["field"].startswith(("parameters.", "parameters[")) for i in items
    ):
        label = "BAD_PARAMETERS"
    shown = items[:MAX_VALIDATION_ERRORS]
    if len(items) == 1:
        message = f"{items[0]['field']}: {items[0]['message']}"
    else:
        more = f" (first {MAX_VALIDATION_ERRORS} listed)" if len(items) > MAX_VALIDATION_ERRORS else ""
        message = f"{len(items)} validation errors{more}; first: {items[0]['field']}: {items[0]['message']}"
    return label, message, {"validation_errors": shown}


# --- handlers -----------------------------------------------------------------------------------------


async def _api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return api_error_response(exc, _request_method(request), request.url.path)


async def _validation_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        # FastAPI parses the body before dependencies run, so auth has not been checked yet: a client
        # without a valid key learns it is unauthenticated (401/403), not that its JSON was bad.
        refusal = await run_in_threadpool(_auth_refusal, request)
        if refusal is not None:
            return api_error_response(refusal, _request_method(request), request.url.path)
        detail = next(
            (e.get("ctx", {}).get("error") for e in errors if e.get("type") == "json_invalid"), None
        )
        message = f"malformed JSON body: {detail}" if detail else "malformed JSON body"
        return error_response(
            "BAD_INPUT",
            message,
            method=_request_method(request),
            path=request.url.path,
            params={"validation_errors": [{"field": "body", "message": message}]},
        )
    label, message, params = validation_error_body(errors)
    method = _request_method(request)
    return error_response(label, message, method=method, path=request.url.path, params=params)


def _auth_refusal(request: Request) -> ApiError | None:
    from api.deps import check_request_auth

    return check_request_auth(request)


def _request_method(request: Request) -> str:
    return "HEAD" if request.scope.get(HEAD_SCOPE_KEY) else request.method


def _body_parse_problem(exc: BaseException) -> str:
    cause = exc.__cause__
    if isinstance(cause, RecursionError):
        return "JSON nested too deeply"
    if isinstance(cause, UnicodeDecodeError):
        return "not valid UTF-8"
    return "the body cannot be parsed as JSON"


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    method = _request_method(request)
    label = _STATUS_LABELS.get(exc.status_code)
    headers = dict(exc.headers) if exc.headers else {}
    params: dict[str, Any] | None = None
    if exc.status_code == 404:
        message = f"no route {method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {method} is not allowed on {request.url.path}"
        from api.middleware import allow_header, match_route

        allowed = match_route(request.app, request.scope).allowed
        if allowed:  # every method of the path, not only those of the first route matching it
            headers["Allow"] = allow_header(allowed)
    elif exc.status_code == 400:
        # Starlette/FastAPI answer 400 only when the body cannot be read or parsed.
        problem = _body_parse_problem(exc)
        message = f"body: {problem}"
        params = {"validation_errors": [{"field": "body", "message": problem}]}
    else:
        message = str(exc.detail) if exc.detail else "request refused"
    if label is None:
        label = "BAD_INPUT" if 400 <= exc.status_code < 500 else "INTERNAL_ERROR"
    return error_response(
        label,
        message,
        method=method,
        path=request.url.path,
        params=params,
        status_code=exc.status_code,
        headers=headers or None,
    )


async def _data_error_handler(request: Request, exc: Exception) -> Response:
    # The database refused a value the client sent (NUL character, number out of range): a 400, not a
    # 500. Logged with its traceback in case the value was ours.
    log.warning("database refused a value: %s", type(getattr(exc, "orig", exc)).__name__, exc_info=exc)
    message = "a value cannot be stored (invalid characters or out of range)"
    field = "body" if request.method in ("POST", "PUT", "PATCH", "DELETE") else "query"
    return error_response(
        "BAD_INPUT",
        f"{field}: {message}",
        method=request.method,
        path=request.url.path,
        params={"validation_errors": [{"field": field, "message": message}]},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error_handler)
    app.add_exception_handler(DataError, _data_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)


def unexpected_error_response(method: str, path: str) -> JSONResponse:
    """500 for an exception nothing else handled; logged with its traceback and error_ref."""
    return error_response(
        "INTERNAL_ERROR",
        "internal error; quote error_ref when reporting it",
        method=method,
        path=path,
        exc_info=True,
    )


# --- OpenAPI: every route's error answers ---------------------------------------------------------------

_ERROR_SCHEMA = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
_RATE_LIMITED = "RATE_LIMITED: the workspace's API rate limit; `Retry-After` says when to retry"
_HEADERS = {
    "X-Total-Count": {"description": "Total number of matching objects", "schema": {"type": "integer"}},
    "X-Pagination-Next": {
        "description": "URL of the next page (same route, an opaque `cursor`); absent when there is none",
        "schema": {"type": "string", "format": "uri"},
    },
}


def _error_codes(path: str, method: str, dependencies: frozenset[str]) -> list[int]:
    """What a route can answer besides its success, from the rules every route follows (API.md §1)."""
    if not path.startswith("/v1"):
        return []
    # Any /v1 route: a bad query (or a NUL in one) 400, no key 401, the rate limit 429.
    codes = [400, 401, 429]
    if method != "get":  # `user` members are read-only; a body may be too large or not JSON
        codes += [403, 413, 415]
    elif any(name.startswith("require_") for name in dependencies):  # admin/ops only
        codes.append(403)
    if "{" in path:  # no such object (or action) in this workspace
        codes.append(404)
    if "get_temporal_client" in dependencies:
        codes.append(503)
    return codes


def document_error_answers(schema: dict[str, Any], app: FastAPI) -> None:
    """Complete /openapi.json: every operation lists the error answers it really has (ErrorOut bodies),
    list routes (an `offset` parameter) their `X-Total-Count` header, cursor-paged routes (a `cursor`
    parameter) their `X-Pagination-Next` header. What a route documents itself is kept."""
    from api.middleware import route_index

    dependencies: dict[tuple[str, str], frozenset[str]] = {}
    for info in route_index(app):
        path = info.context.path_format
        for method in info.context.methods or ():
            dependencies[(str(path), method.lower())] = info.dependencies
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code in _error_codes(path, method, dependencies.get((path, method), frozenset())):
                description = _RATE_LIMITED if code == 429 else _DESCRIPTIONS[code]
                responses.setdefault(str(code), {"description": description, "content": _ERROR_SCHEMA})
            query = {p.get("name") for p in operation.get("parameters", []) if p.get("in") == "query"}
            success = next((responses[c] for c in ("200", "201", "202", "204") if c in responses), None)
            if success is None:
                continue
            for parameter, header in (("offset", "X-Total-Count"), ("cursor", "X-Pagination-Next")):
                if parameter in query:
                    success.setdefault("headers", {}).setdefault(header, _HEADERS[header])
