"""Voyager routes about members and companies: who am I, profile views, company pages, profile visits."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from linkedin.sandbox import render, responses
from linkedin.sandbox.context import Sandbox
from linkedin.sandbox.responses import Refusal, json_response, raw_json, refuse
from linkedin.sandbox.routes.paging import json_body
from linkedin.sandbox.writes import Writes

PROFILE_VIEW_PREFIX = "/voyager/api/identity/profiles/"
PROFILE_VIEW_SUFFIX = "/profileView"


async def profile_view_response(sb: Sandbox, request: Request, ref: str) -> Response:
    """A full profile by public identifier (any case/normal form), profile URN or its token."""
    await sb.gate.enter(request)
    person = sb.world.find_profile(ref)
    if person is None:
        raise refuse(404, responses.PROFILE_NOT_FOUND, "This profile is not available")
    return raw_json(sb.views.get(person))


class ProfileViewFastPath:
    """ASGI middleware serving GET …/identity/profiles/{ref}/profileView without FastAPI's routing and
    parameter machinery. Profile extraction is what the benchmark pushes through the sandbox at ~1,000
    requests/s on 2 cores; this cuts the app's own time per request by about two thirds (same checks, same
    bytes as the routed handler below, which stays for the OpenAPI schema)."""

    def __init__(self, app: ASGIApp, sb: Sandbox):
        self._app = app
        self._sb = sb

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and path.startswith(PROFILE_VIEW_PREFIX)
            and path.endswith(PROFILE_VIEW_SUFFIX)
        ):
            ref = path[len(PROFILE_VIEW_PREFIX) : -len(PROFILE_VIEW_SUFFIX)]
            if ref and "/" not in ref:
                try:
                    response = await profile_view_response(self._sb, Request(scope, receive), ref)
                except Refusal as refusal:
                    response = refusal.response
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


def router(sb: Sandbox, writes: Writes) -> APIRouter:
    api = APIRouter(tags=["voyager: identity"])

    @api.get("/voyager/api/me")
    async def me(request: Request) -> Response:
        """The session's own member, with its subscription (LinkedIn's `premiumSubscriber`)."""
        caller = await sb.gate.enter(request)
        account = caller.account
        return json_response(
            {
                "plainId": account.profile.member_id,
                "miniProfile": render.mini_profile(account.profile),
                "premiumSubscriber": account.premium,
                "salesNavigator": account.sales_navigator,
            }
        )

    @api.get(PROFILE_VIEW_PREFIX + "{ref}" + PROFILE_VIEW_SUFFIX)
    async def profile_view(ref: str, request: Request) -> Response:
        """A full profile by public identifier (any case/normal form), profile URN or its token."""
        return await profile_view_response(sb, request, ref)

    @api.get("/voyager/api/organization/companies")
    async def companies(request: Request) -> Response:
        """`?q=universalName&universalName={slug}` → `{"elements": [company]}`."""
        await sb.gate.enter(request)
        slug = request.query_params.get("universalName", "")
        company = sb.world.company_by_slug.get(slug.lower())
        if company is None and slug.isdigit():
            company = sb.world.company_by_id.get(int(slug))
        if company is None:
            raise refuse(404, responses.COMPANY_NOT_FOUND, "This company page is not available")
        return json_response({"elements": [render.company(company)]})

    @api.post("/voyager/api/voyagerIdentityDashProfileViews")
    async def record_view(request: Request) -> Response:
        """A profile visit (it shows in the member's "who viewed your profile"): `{"viewedProfileUrn"}`."""
        caller = await sb.gate.enter(request)
        body = await json_body(request)
        value = writes.visit(caller.account, body.get("viewedProfileUrn"))
        return await sb.gate.leave(caller, json_response({"value": value}, 201))

    return api
