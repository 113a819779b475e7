"""Voyager messaging routes: conversations and their messages (cursor paging), sending, read-back by token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from linkedin.sandbox import ids, render, responses
from linkedin.sandbox.context import Sandbox
from linkedin.sandbox.model import Account, Message
from linkedin.sandbox.responses import json_response, refuse
from linkedin.sandbox.routes.paging import after_cursor, decode_cursor, encode_cursor, json_body, offset
from linkedin.sandbox.social import ThreadView
from linkedin.sandbox.writes import Writes

MAX_PAGE = 100


def router(sb: Sandbox, writes: Writes) -> APIRouter:
    api = APIRouter(tags=["voyager: messaging"])

    def conversation_urn(account: Account, thread_id: str) -> str:
        return f"urn:li:msg_conversation:({account.profile.urn},{thread_id})"

    def message_json(account: Account, thread_id: str, message: Message) -> dict[str, Any]:
        return {
            "messageId": message.message_id,
            "entityUrn": f"urn:li:msg_message:({account.profile.urn},{message.message_id})",
            "conversationId": thread_id,
            "sender": render.mini_profile(sb.world.profiles[message.sender_id]),
            "body": {"text": message.text},
            "deliveredAt": message.at,
        }

    def thread_json(account: Account, view: ThreadView) -> dict[str, Any]:
        return {
            "conversationId": view.thread_id,
            "entityUrn": conversation_urn(account, view.thread_id),
            "conversationUrl": f"{ids.THREAD_URL_PREFIX}{view.thread_id}/",
            "participants": [render.mini_profile(sb.world.profiles[view.member_id])],
            "lastActivityAt": view.last_message_at,
            "read": not view.unread,
            "unreadCount": 1 if view.unread else 0,
        }

    @api.get("/voyager/api/voyagerMessagingDashMessengerConversations")
    async def conversations(request: Request) -> Response:
        """`?q=search&count=&nextCursor=&read=false`: newest activity first; `read=false`: unread only."""
        caller = await sb.gate.enter(request)
        _, count = offset(request, 20, MAX_PAGE)
        views = sb.social.threads(caller.account)
        if request.query_params.get("read") == "false":
            views = [v for v in views if v.unread]
        rest = after_cursor(
            views,
            lambda v: (-v.last_message_at, v.thread_id),
            decode_cursor(request.query_params.get("nextCursor")),
        )
        chunk = rest[:count]
        more = len(rest) > count
        next_cursor = encode_cursor(chunk[-1].last_message_at, chunk[-1].thread_id) if more else None
        return json_response(
            {
                "elements": [thread_json(caller.account, v) for v in chunk],
                "metadata": {"nextCursor": next_cursor},
            }
        )

    @api.get("/voyager/api/voyagerMessagingDashMessengerMessages")
    async def messages(request: Request) -> Response:
        """`?q=conversation&conversationId=…&count=&nextCursor=` (newest first), or
        `?q=originToken&originToken=…` to read back a message sent with that token."""
        caller = await sb.gate.enter(request)
        account = caller.account
        if request.query_params.get("q") == "originToken":
            return json_response(
                {"elements": _by_token(account, request.query_params.get("originToken", ""))}
            )
        thread_id = request.query_params.get("conversationId", "")
        view = sb.social.thread(account, thread_id)
        if view is None:
            raise refuse(404, responses.THREAD_NOT_FOUND, "No such conversation")
        _, count = offset(request, 20, MAX_PAGE)
        newest_first = sorted(view.messages, key=lambda m: (-m.at, m.message_id))
        rest = after_cursor(
            newest_first,
            lambda m: (-m.at, m.message_id),
            decode_cursor(request.query_params.get("nextCursor")),
        )
        chunk = rest[:count]
        more = len(rest) > count
        next_cursor = encode_cursor(chunk[-1].at, chunk[-1].message_id) if more else None
        return json_response(
            {
                "elements": [message_json(account, thread_id, m) for m in chunk],
                "metadata": {"nextCursor": next_cursor},
            }
        )

    def _by_token(account: Account, token: str) -> list[dict[str, Any]]:
        record = sb.store.tokens.get((account.id, token)) if token else None
        if record is None or record.kind not in ("message", "inmail"):
            return []
        result = record.result
        message = Message(result["messageId"], account.profile.member_id, "", result["deliveredAt"])
        for entry in sb.store.thread_messages.get((account.id, result["conversationId"]), []):
            if entry.message_id == result["messageId"]:
                message = Message(result["messageId"], account.profile.member_id, entry.text or "", entry.at)
        return [
            {
                **message_json(account, result["conversationId"], message),
                "originToken": token,
                "recipientUrn": result["recipientUrn"],
                "recipientMemberId": result["recipientMemberId"],
                "messageType": result.get("messageType", "MEMBER_TO_MEMBER"),
            }
        ]

    @api.post("/voyager/api/voyagerMessagingDashMessengerMessages")
    async def create_message(request: Request) -> Response:
        """`?action=createMessage` with `{"message": {"body": {"text"}, "originToken", "subject"?},
        "hostRecipientUrns": [profile URN], "messageType"?: "INMAIL"}`. A slug recipient → 422; a member
        who is not a 1st-degree connection → 403 (InMail excepted, which needs Premium or Sales Navigator)."""
        caller = await sb.gate.enter(request)
        if request.query_params.get("action") != "createMessage":
            raise refuse(400, responses.BAD_REQUEST, "action must be createMessage")
        body = await json_body(request)
        message = body.get("message") or {}
        recipients = body.get("hostRecipientUrns") or []
        if not isinstance(message, dict) or not isinstance(recipients, list) or len(recipients) != 1:
            raise refuse(422, responses.INVALID_RECIPIENT, "exactly one hostRecipientUrns entry is required")
        token = message.get("originToken")
        subject = message.get("subject")
        value = writes.message(
            caller.account,
            recipients[0],
            (message.get("body") or {}).get("text"),
            token if isinstance(token, str) and token else None,
            inmail=body.get("messageType") == "INMAIL",
            subject=subject if isinstance(subject, str) else None,
        )
        return await sb.gate.leave(caller, json_response({"value": value}, 201))

    return api
