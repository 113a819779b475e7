"""The writes an account can make — visit, invite, message, InMail, accept, withdraw — with LinkedIn's rules.

Each returns the `value` the route answers with, or raises a Refusal. A write token (`trackingId` /
`originToken`) de-duplicates: the same token returns the original result (`"replayed": true`) and adds
nothing. Every write is checked against the tolerances before it is stored; one that would break them
restricts the account and is refused.
"""

from __future__ import annotations

import secrets
from typing import Any

from linkedin.sandbox import ids, responses
from linkedin.sandbox.context import Sandbox
from linkedin.sandbox.model import Account, Person
from linkedin.sandbox.records import OutboxEntry, OutboxKind, SentInvitation, TokenRecord
from linkedin.sandbox.responses import refuse

NOTE_MAX = 300
MESSAGE_MAX = 8000


class Writes:
    def __init__(self, sb: Sandbox):
        self._sb = sb

    # --- shared checks --------------------------------------------------------------------------------

    def _replay(self, account: Account, token: str | None, kind: str) -> dict[str, Any] | None:
        if not token:
            return None
        record = self._sb.store.tokens.get((account.id, token))
        if record is None:
            return None
        if record.kind != kind:
            raise refuse(409, responses.TOKEN_REUSED, f"this token was used for a {record.kind}")
        return {**record.result, "replayed": True}

    def _remember(self, account: Account, token: str | None, kind: str, result: dict[str, Any]) -> None:
        if token:
            self._sb.store.put_token(TokenRecord(account.id, token, kind, result))

    def _target(self, account: Account, urn: object, *, field: str) -> Person:
        """The person a write is aimed at: must be given by profile URN (a slug → 422)."""
        if not isinstance(urn, str) or not urn.startswith(ids.PROFILE_URN_PREFIX):
            raise refuse(422, responses.INVALID_RECIPIENT, f"{field} must be a urn:li:fsd_profile URN")
        person = self._sb.world.find_profile(urn)
        if person is None:
            raise refuse(404, responses.PROFILE_NOT_FOUND, "This profile is not available")
        if person.member_id == account.profile.member_id:
            raise refuse(422, responses.INVALID_RECIPIENT, "an account cannot do this to itself")
        return person

    def _tolerate(self, account: Account, kind: OutboxKind) -> None:
        reason = self._sb.tolerances.violation(account, kind)
        if reason is not None:
            restriction = self._sb.store.restrict(account.id, reason, self._sb.clock.now_ms())
            raise refuse(
                403, responses.ACCOUNT_RESTRICTED, f"This account is restricted: {restriction.reason}"
            )

    # --- writes ---------------------------------------------------------------------------------------

    def visit(self, account: Account, urn: object) -> dict[str, Any]:
        person = self._target(account, urn, field="viewedProfileUrn")
        self._tolerate(account, "visit")
        now = self._sb.clock.now_ms()
        self._sb.store.add_outbox(OutboxEntry(0, account.id, "visit", person.member_id, person.urn, now))
        return {"profileUrn": person.urn, "memberId": person.member_id, "viewedAt": now}

    def invite(self, account: Account, urn: object, note: str | None, token: str | None) -> dict[str, Any]:
        replay = self._replay(account, token, "invitation")
        if replay is not None:
            return replay
        person = self._target(account, urn, field="inviteeProfileUrn")
        base = {"memberId": person.member_id, "profileUrn": person.urn}
        if self._sb.social.is_connected(account, person.member_id):
            return {
                **base,
                "state": "ALREADY_CONNECTED",
                "sent": False,
                "invitationUrn": None,
                "sentAt": None,
            }
        existing = self._sb.store.sent_by_target.get((account.id, person.member_id))
        if existing is not None and existing.state == "pending":
            return {
                **base,
                "state": "ALREADY_PENDING",
                "sent": False,
                "invitationUrn": existing.urn,
                "sentAt": existing.sent_at,
            }
        note = (note or "").strip() or None
        if note is not None and len(note) > NOTE_MAX:
            raise refuse(422, responses.BAD_REQUEST, f"customMessage must be at most {NOTE_MAX} characters")
        if note is not None and not self._sb.tolerances.note_allowed(account):
            raise refuse(
                403, responses.CUSTOM_INVITE_LIMIT, "You've reached the limit of personalized invitations"
            )
        self._tolerate(account, "invitation")
        now = self._sb.clock.now_ms()
        with self._sb.store.transaction():
            invitation = self._sb.store.add_sent_invitation(
                SentInvitation(0, account.id, person.member_id, note, token, secrets.token_urlsafe(9), now)
            )
            self._sb.store.add_outbox(
                OutboxEntry(
                    0, account.id, "invitation", person.member_id, person.urn, now, note=note, token=token
                )
            )
            result = {
                **base,
                "state": "PENDING",
                "sent": True,
                "invitationUrn": invitation.urn,
                "sentAt": now,
            }
            self._remember(account, token, "invitation", result)
        return result

    def message(
        self,
        account: Account,
        urn: object,
        text: object,
        token: str | None,
        *,
        inmail: bool = False,
        subject: str | None = None,
    ) -> dict[str, Any]:
        kind: OutboxKind = "inmail" if inmail else "message"
        replay = self._replay(account, token, kind)
        if replay is not None:
            return replay
        person = self._target(account, urn, field="hostRecipientUrns")
        if not isinstance(text, str) or not text.strip() or len(text) > MESSAGE_MAX:
            raise refuse(
                422, responses.BAD_REQUEST, f"the message body must have 1 to {MESSAGE_MAX} characters"
            )
        if inmail and not account.premium:
            raise refuse(403, responses.PREMIUM_REQUIRED, "InMail needs a Premium or Sales Navigator account")
        if not inmail and not self._sb.social.is_connected(account, person.member_id):
            raise refuse(403, responses.NOT_FIRST_DEGREE, "You can only message your 1st-degree connections")
        self._tolerate(account, kind)
        now = self._sb.clock.now_ms()
        thread = (
            ids.opaque("inmail-thread", account.id, person.member_id)
            if inmail
            else self._sb.social.thread_for(account, person.member_id)
        )
        message_id = ids.opaque("message", account.id, secrets.token_hex(8))
        with self._sb.store.transaction():
            self._sb.store.add_outbox(
                OutboxEntry(
                    0,
                    account.id,
                    kind,
                    person.member_id,
                    person.urn,
                    now,
                    text=text,
                    subject=subject,
                    thread_id=thread,
                    message_id=message_id,
                    token=token,
                )
            )
            self._sb.store.mark_read(account.id, thread)
            result = {
                "messageId": message_id,
                "conversationId": thread,
                "recipientUrn": person.urn,
                "recipientMemberId": person.member_id,
                "deliveredAt": now,
                "originToken": token,
                "messageType": "INMAIL" if inmail else "MEMBER_TO_MEMBER",
            }
            self._remember(account, token, kind, result)
        return result

    def accept(
        self, account: Account, invitation_id: int, secret: object, token: str | None
    ) -> dict[str, Any]:
        replay = self._replay(account, token, "accept")
        if replay is not None:
            return replay
        invitation = self._sb.world.invitations.get(invitation_id)
        if invitation is None or invitation.account_id != account.id:
            raise refuse(404, responses.INVITATION_NOT_FOUND, "No such received invitation")
        base = {"invitationUrn": invitation.urn, "memberId": invitation.from_member_id}
        done = self._sb.store.received_changes.get(invitation_id)
        if done is not None:
            return {**base, "accepted": True, "withdrawn": False, "at": done.at, "sent": False}
        if secret != invitation.secret:
            raise refuse(400, responses.INVALID_SHARED_SECRET, "invitationSharedSecret does not match")
        now = self._sb.clock.now_ms()
        with self._sb.store.transaction():
            self._sb.store.accept_received(invitation_id, account.id, now)
            self._sb.store.add_connection(account.id, invitation.from_member_id, now)
            result = {**base, "accepted": True, "withdrawn": False, "at": now, "sent": True}
            self._remember(account, token, "accept", result)
        return result

    def withdraw(self, account: Account, invitation_id: int, token: str | None) -> dict[str, Any]:
        replay = self._replay(account, token, "withdraw")
        if replay is not None:
            return replay
        invitation = self._sb.store.sent_invitations.get(invitation_id)
        if invitation is None or invitation.account_id != account.id:
            raise refuse(404, responses.INVITATION_NOT_FOUND, "No such sent invitation")
        base = {"invitationUrn": invitation.urn, "memberId": invitation.to_member_id}
        if invitation.state == "withdrawn":
            return {**base, "accepted": False, "withdrawn": True, "at": invitation.updated_at, "sent": False}
        if invitation.state == "accepted":
            raise refuse(409, responses.INVITATION_NOT_PENDING, "This invitation was already accepted")
        now = self._sb.clock.now_ms()
        with self._sb.store.transaction():
            self._sb.store.update_sent_invitation(invitation, "withdrawn", now)
            result = {**base, "accepted": False, "withdrawn": True, "at": now, "sent": True}
            self._remember(account, token, "withdraw", result)
        return result

    def accept_sent(self, invitation: SentInvitation) -> None:
        """The invitee accepts an invitation the account sent (control API: acting as the other side)."""
        if invitation.state != "pending":
            raise refuse(409, responses.INVITATION_NOT_PENDING, f"This invitation is {invitation.state}")
        now = self._sb.clock.now_ms()
        with self._sb.store.transaction():
            self._sb.store.update_sent_invitation(invitation, "accepted", now)
            self._sb.store.add_connection(invitation.account_id, invitation.to_member_id, now)
