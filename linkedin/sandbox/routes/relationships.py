"""Voyager relationship routes: connections, invitations (send, list, accept, withdraw)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from linkedin.sandbox import render, responses
from linkedin.sandbox.context import Sandbox
from linkedin.sandbox.responses import json_response, refuse
from linkedin.sandbox.routes.paging import json_body, offset, paging
from linkedin.sandbox.writes import Writes

_INVITATION_ID_RE = re.compile(r"^(?:urn:li:(?:fsd_|fs_rel)?[iI]nvitation:)?(\d{1,19})$")


def invitation_id(text: str) -> int:
    match = _INVITATION_ID_RE.match(text)
    if not match:
        raise refuse(404, responses.INVITATION_NOT_FOUND, "No such invitation")
    return int(match.group(1))


def router(sb: Sandbox, writes: Writes) -> APIRouter:
    api = APIRouter(tags=["voyager: relationships"])

    def profile(member_id: int) -> dict[str, Any]:
        return render.mini_profile(sb.world.profiles[member_id])

    @api.get("/voyager/api/relationships/dash/connections")
    async def connections(request: Request) -> Response:
        """`?q=search&sortType=RECENTLY_ADDED&start=&count=` (count ≤ 100), most recent first."""
        caller = await sb.gate.enter(request)
        start, count = offset(request, 40, 100)
        everyone = sb.social.connections(caller.account)
        elements = [
            {
                "connectedMember": sb.world.profiles[m].urn,
                "createdAt": at,
                "connectedMemberResolutionResult": profile(m),
            }
            for m, at in everyone[start : start + count]
        ]
        return json_response({"elements": elements, "paging": paging(start, count, len(everyone))})

    @api.post("/voyager/api/voyagerRelationshipsDashMemberRelationships")
    async def invite(request: Request) -> Response:
        """`?action=verifyQuotaAndCreateV2` with `{"invitee": {"inviteeUnion": {"memberProfile": urn}},
        "customMessage"?, "trackingId"?}` → `{"value": {state: PENDING|ALREADY_PENDING|ALREADY_CONNECTED,
        …}}`."""
        caller = await sb.gate.enter(request)
        body = await json_body(request)
        invitee = ((body.get("invitee") or {}).get("inviteeUnion") or {}).get("memberProfile")
        note = body.get("customMessage")
        value = writes.invite(
            caller.account, invitee, note if isinstance(note, str) else None, _token(body.get("trackingId"))
        )
        return await sb.gate.leave(caller, json_response({"value": value}))

    @api.get("/voyager/api/relationships/invitationViews")
    async def received(request: Request) -> Response:
        """`?q=receivedInvitation&start=&count=` (count ≤ 100): pending invitations, newest first."""
        caller = await sb.gate.enter(request)
        start, count = offset(request, 100, 100)
        pending = sb.social.received_pending(caller.account)
        elements = [
            {
                "invitation": {
                    "entityUrn": inv.urn,
                    "invitationId": inv.id,
                    "sharedSecret": inv.secret,
                    "sentTime": inv.sent_at,
                    "message": inv.message,
                    "fromMember": profile(inv.from_member_id),
                }
            }
            for inv in pending[start : start + count]
        ]
        return json_response({"elements": elements, "paging": paging(start, count, len(pending))})

    @api.get("/voyager/api/relationships/sentInvitationViewsV2")
    async def sent(request: Request) -> Response:
        """`?q=invitationType&invitationType=CONNECTION&start=&count=`: pending invitations it sent."""
        caller = await sb.gate.enter(request)
        start, count = offset(request, 100, 100)
        pending = sb.social.sent_pending(caller.account)
        elements = [
            {
                "invitation": {
                    "entityUrn": inv.urn,
                    "invitationId": inv.id,
                    "sharedSecret": inv.secret,
                    "sentTime": inv.sent_at,
                    "message": inv.note,
                    "toMember": profile(inv.to_member_id),
                }
            }
            for inv in pending[start : start + count]
        ]
        return json_response({"elements": elements, "paging": paging(start, count, len(pending))})

    @api.post("/voyager/api/relationships/invitations/{ref}")
    async def act_on_invitation(ref: str, request: Request) -> Response:
        """`?action=accept` `{"invitationSharedSecret", "trackingId"?}`, or `?action=withdraw`
        `{"trackingId"?}`."""
        caller = await sb.gate.enter(request)
        body = await json_body(request)
        action = request.query_params.get("action")
        token = _token(body.get("trackingId"))
        if action == "accept":
            value = writes.accept(
                caller.account, invitation_id(ref), body.get("invitationSharedSecret"), token
            )
        elif action == "withdraw":
            value = writes.withdraw(caller.account, invitation_id(ref), token)
        else:
            raise refuse(400, responses.BAD_REQUEST, "action must be accept or withdraw")
        return await sb.gate.leave(caller, json_response({"value": value}))

    return api


def _token(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
