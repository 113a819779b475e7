"""/openapi.json is a valid OpenAPI document that describes every route, with resolvable references."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute
from openapi_spec_validator import validate

from api.app import create_app


def _all_routes(routes: list[Any]) -> list[APIRoute]:
    """APIRoutes, including those of included routers (this FastAPI nests them)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        nested = getattr(route, "routes", None) or getattr(
            getattr(route, "original_router", None), "routes", None
        )
        if nested:
            found.extend(_all_routes(list(nested)))
    return found


def test_openapi_is_valid_and_describes_every_route() -> None:
    app = create_app()
    spec = app.openapi()
    validate(spec)  # raises on any invalid part, unresolvable $ref included
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    routes = [route for route in _all_routes(app.routes) if route.include_in_schema]
    assert len(routes) > 40  # every router's routes, not only the top level's
    for route in routes:
        for method in (route.methods or set()) - {"HEAD"}:
            assert (route.path, method) in documented, (route.path, method)


def test_run_routes_document_their_bodies_and_answers() -> None:
    spec = create_app().openapi()
    async_op = spec["paths"]["/v1/actions/{slug}/run/async"]["post"]
    body = async_op["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/AsyncRunBody"}
    schema = spec["components"]["schemas"]["AsyncRunBody"]
    assert schema["required"] == ["inputs"] and schema["additionalProperties"] is False
    assert schema["properties"]["inputs"]["maxItems"] == 100_000
    live_op = spec["paths"]["/v1/actions/{slug}/run/live"]["post"]
    assert {"200", "202", "400", "404", "424", "429"} <= set(live_op["responses"])
    assert "422" not in live_op["responses"]
    run = spec["components"]["schemas"]["RunOut"]
    expected = {"uid", "status", "inputs_count", "output_count", "credits_used", "warnings"}
    assert expected <= set(run["properties"])
