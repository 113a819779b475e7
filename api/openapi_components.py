"""Schemas of routes that parse their bodies by hand (the run routes check the action slug before the body,
so an unknown slug is 404 whatever the body). Registered here, merged into /openapi.json's components."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

REF = "#/components/schemas/{model}"
_MODELS: list[type[BaseModel]] = []


def register(*models: type[BaseModel]) -> None:
    _MODELS.extend(m for m in models if m not in _MODELS)


def ref(model: type[BaseModel]) -> dict[str, str]:
    register(model)
    return {"$ref": REF.format(model=model.__name__)}


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route whose JSON body is `model`."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref(model)}}}}


def components() -> dict[str, Any]:
    if not _MODELS:
        return {}
    _, top = models_json_schema([(m, "validation") for m in _MODELS], ref_template=REF)
    return dict(top.get("$defs", {}))
