"""The payload codec endpoint for the Temporal UI (Temporal's "remote codec" protocol): `POST /codec/decode`
and `POST /codec/encode` take `{"payloads": [<Payload as protobuf JSON>]}` and answer the same shape, so an
operator's browser shows decrypted workflow inputs and results while Temporal's database holds ciphertext.

The UI's page calls it from the operator's browser (hence CORS for the UI's origin, `CODEC_CORS_ORIGINS`),
with the namespace in `X-Namespace` (informational: edgewise has one set of payload keys). Who may call it
— it decrypts every tenant's payloads, so no workspace API key will do:

- `Authorization: Bearer <CODEC_AUTH_TOKEN>`, from anywhere, when the token is configured (typically added
  by a reverse proxy that only the operators reach; the UI's own "pass access token" sends its OIDC token,
  which edgewise does not validate);
- with `CODEC_ALLOW_LOOPBACK=true` (what `make dev` sets), a client on this machine connecting directly
  (a loopback peer and no `Forwarded`/`X-Forwarded-For`, which a proxy would add — a local proxy that adds
  neither must not be combined with this setting);
- nobody otherwise (401).

Bodies are parsed here (auth first, then the media type, then strict JSON, then each payload), so every
refusal is the contract's error shape naming the field, never a 500.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from typing import Any

from fastapi import APIRouter, Request
from google.protobuf import json_format
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response
from temporalio.api.common.v1 import Payload

from api.errors import error_responses
from api.middleware import check_json_content_type, load_json_body
from api.openapi_components import json_body, ref
from edgewise.codec import EncryptionCodec, PayloadDecryptionError
from edgewise.config import Settings
from edgewise.errors import ApiError

router = APIRouter(tags=["operations"])

_ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"
_PREFLIGHT_MAX_AGE = "600"


class CodecPayloads(BaseModel):
    """Temporal payloads in protobuf JSON (`metadata` values and `data` base64)."""

    payloads: list[dict[str, Any]] = Field(
        examples=[[{"metadata": {"encoding": "YmluYXJ5L2VuY3J5cHRlZA=="}, "data": "…"}]]
    )


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _codec(request: Request) -> EncryptionCodec:
    """Built once per app from the same settings as its Temporal client (so the same keys)."""
    codec: EncryptionCodec | None = getattr(request.app.state, "payload_codec", None)
    if codec is None:
        codec = EncryptionCodec.from_settings(_settings(request))
        request.app.state.payload_codec = codec
    return codec


def _cors_headers(request: Request) -> dict[str, str]:
    origin = request.headers.get("origin", "").rstrip("/")
    if not origin or origin not in _settings(request).codec_origins:
        return {}
    # Credentials allowed: with the UI's "include credentials" option an SSO proxy in front of the codec
    # can authenticate the operator's browser by its cookie (and add the bearer token itself).
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }


def _is_direct_loopback(request: Request) -> bool:
    if request.headers.get("forwarded") or request.headers.get("x-forwarded-for"):
        return False
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _authorize(request: Request) -> None:
    settings = _settings(request)
    token = settings.codec_auth_token.get_secret_value()
    scheme, _, supplied = request.headers.get("authorization", "").partition(" ")
    presented = supplied.strip().encode() if scheme.lower() == "bearer" else b""
    if token and hmac.compare_digest(presented, token.encode()):
        return
    if settings.codec_allow_loopback and _is_direct_loopback(request):
        return
    message = (
        "the codec endpoint needs `Authorization: Bearer <CODEC_AUTH_TOKEN>`"
        if token
        else "the codec endpoint is not enabled for this client (set CODEC_AUTH_TOKEN)"
    )
    raise ApiError("UNAUTHORIZED", message, headers=_cors_headers(request))


def _field_error(field: str, message: str, request: Request) -> ApiError:
    return ApiError(
        "BAD_INPUT",
        f"{field}: {message}",
        params={"validation_errors": [{"field": field, "message": message}]},
        headers=_cors_headers(request),
    )


# protobuf's JSON parser decodes base64 leniently (it drops characters outside the alphabet); the codec
# wants garbage refused, not decoded into something else. Both alphabets, padding optional, as protobuf.
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")


def _base64_fields_are_strict(item: dict[str, Any]) -> bool:
    metadata = item.get("metadata")
    values = [item.get("data")] + (list(metadata.values()) if isinstance(metadata, dict) else [])
    return all(_BASE64.fullmatch(value) for value in values if isinstance(value, str))


async def _read_payloads(request: Request) -> list[Payload]:
    check_json_content_type(request)
    raw = await request.body()
    if not raw.strip(b" \t\r\n"):
        raise _field_error("body", "required: {\"payloads\": [...]}", request)
    data = load_json_body(raw)
    if not isinstance(data, dict):
        raise _field_error("body", "must be an object {\"payloads\": [...]}", request)
    unknown = sorted(set(data) - {"payloads"})
    if unknown:
        raise _field_error(unknown[0], "unknown field", request)
    items = data.get("payloads")
    if not isinstance(items, list):
        raise _field_error("payloads", "required: a list of payloads", request)
    payloads: list[Payload] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _field_error(f"payloads[{index}]", "must be an object {metadata, data}", request)
        if not _base64_fields_are_strict(item):
            raise _field_error(f"payloads[{index}]", "data and metadata values must be base64", request)
        try:
            payloads.append(json_format.ParseDict(item, Payload()))
        except (json_format.ParseError, TypeError, ValueError) as exc:
            problem = f"not a Temporal payload ({exc})"[:300]
            raise _field_error(f"payloads[{index}]", problem, request) from None
    return payloads


def _answer(payloads: list[Payload], request: Request) -> JSONResponse:
    body = {"payloads": [json_format.MessageToDict(payload) for payload in payloads]}
    return JSONResponse(body, headers=_cors_headers(request))


_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The payloads, same order",
        "content": {"application/json": {"schema": ref(CodecPayloads)}},
    },
    **error_responses(400, 401, 413, 415),
}


@router.post(
    "/codec/decode",
    summary="Decrypt Temporal payloads (for the Temporal UI's codec setting)",
    openapi_extra=json_body(CodecPayloads),
    responses=_ANSWERS,
)
async def decode(request: Request) -> Response:
    _authorize(request)
    payloads = await _read_payloads(request)
    codec = _codec(request)
    decoded: list[Payload] = []
    for index, payload in enumerate(payloads):
        try:
            decoded.append(codec.decrypt(payload))
        except PayloadDecryptionError as exc:
            raise _field_error(f"payloads[{index}]", str(exc), request) from None
    return _answer(decoded, request)


@router.post(
    "/codec/encode",
    summary="Encrypt Temporal payloads (the Temporal UI encodes what an operator sends, e.g. a signal)",
    openapi_extra=json_body(CodecPayloads),
    responses=_ANSWERS,
)
async def encode(request: Request) -> Response:
    _authorize(request)
    payloads = await _read_payloads(request)
    return _answer(await _codec(request).encode(payloads), request)


@router.options("/codec/{operation}", include_in_schema=False)
async def preflight(operation: str, request: Request) -> Response:
    """CORS preflight of the UI's page (it sends JSON with `X-Namespace`, and possibly `Authorization`)."""
    if operation not in ("decode", "encode"):
        raise ApiError("NOT_FOUND", f"no codec operation {operation!r} (decode, encode)")
    headers = _cors_headers(request)
    if not headers:
        raise ApiError("FORBIDDEN", "this origin may not call the codec endpoint (CODEC_CORS_ORIGINS)")
    headers.update(
        {
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
            "Access-Control-Max-Age": _PREFLIGHT_MAX_AGE,
        }
    )
    return Response(status_code=204, headers=headers)
