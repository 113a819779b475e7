"""The sandbox's control API (API.md §9): lets tests and demos act as LinkedIn and as the people on the
other side. Not part of LinkedIn; no session or CSRF needed."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Body, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from linkedin.sandbox.clock import ms_to_iso
from linkedin.sandbox.context import Sandbox
from linkedin.sandbox.logins import Logins
from linkedin.sandbox.model import Account, Person
from linkedin.sandbox.records import Fault, OutboxEntry
from linkedin.sandbox.routes.relationships import invitation_id
from linkedin.sandbox.writes import Writes


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FaultsBody(_Strict):
    account_id: int | None = None
    latency_ms: int = Field(default=0, ge=0, le=120_000)
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    scope: Literal["all", "reads", "writes"] = "all"
    # Apply a failing write, then answer 5xx: the ambiguous outcome exactly-once writes must survive.
    after_write: bool = False


class TolerancesBody(_Strict):
    enabled: bool


class ClockBody(_Strict):
    now: datetime | None = None
    advance_seconds: float | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ClockBody:
        if (self.now is None) == (self.advance_seconds is None):
            raise ValueError("give exactly one of `now` and `advance_seconds`")
        if self.now is not None and self.now.tzinfo is None:
            raise ValueError("`now` must carry an offset (e.g. 'Z')")
        return self


class ResetBody(_Strict):
    account_id: int | None = None


class RestrictBody(_Strict):
    reason: str = "restricted through the control API"


def person_json(person: Person) -> dict[str, Any]:
    return {
        "linkedin_profile_url": person.url,
        "linkedin_profile_id": person.member_id,
        "linkedin_profile_urn": person.urn,
        "public_identifier": person.slug,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "headline": person.headline,
        "location": person.location,
    }


def router(sb: Sandbox, writes: Writes, logins: Logins) -> APIRouter:
    api = APIRouter(prefix="/_sandbox", tags=["sandbox control"])

    def account_or_404(account_id: int) -> Account:
        account = sb.world.account_by_id.get(account_id)
        if account is None:
            raise HTTPException(404, f"no sandbox account {account_id}")
        return account

    def account_json(account: Account) -> dict[str, Any]:
        profile = account.profile
        return {
            "id": account.id,
            "username": account.username,
            "password": account.password,
            "level": account.level,
            "login": account.login,
            "status": "restricted" if account.id in sb.store.restrictions else "active",
            "linkedin_profile_id": profile.member_id,
            "linkedin_profile_urn": profile.urn,
            "public_identifier": profile.slug,
            "linkedin_profile_url": profile.url,
            "first_name": profile.first_name,
            "last_name": profile.last_name,
        }

    @api.get("/accounts")
    async def accounts() -> list[dict[str, Any]]:
        return [account_json(a) for a in sb.world.accounts]

    @api.get("/accounts/{account_id}")
    async def account(account_id: int) -> dict[str, Any]:
        return account_json(account_or_404(account_id))

    @api.post("/accounts/{account_id}/sessions")
    async def new_session(account_id: int) -> dict[str, str]:
        """Cookies of a fresh browser login (no checkpoint, whatever the account's login behaviour)."""
        session = logins.new_session(account_or_404(account_id))
        return {"li_at": session.li_at, "JSESSIONID": session.jsessionid}

    @api.get("/accounts/{account_id}/verification-code")
    async def verification_code(account_id: int) -> dict[str, str]:
        challenge = logins.pending(account_or_404(account_id), ("PIN", "2FA"))
        if challenge is None or challenge.code is None:
            raise HTTPException(404, "no PIN or 2FA checkpoint is pending for this account")
        return {"code": challenge.code}

    @api.post("/accounts/{account_id}/approve-in-app")
    async def approve_in_app(account_id: int) -> dict[str, bool]:
        if logins.approve_in_app(account_or_404(account_id)) is None:
            raise HTTPException(404, "no in-app validation is pending for this account")
        return {"approved": True}

    @api.get("/accounts/{account_id}/outbox")
    async def outbox(account_id: int) -> dict[str, list[dict[str, Any]]]:
        """Every write the account made, each once, oldest first."""
        account_or_404(account_id)
        entries = sb.store.outbox.get(account_id, [])

        def common(e: OutboxEntry) -> dict[str, Any]:
            return {"to_urn": e.to_urn, "to_member_id": e.to_member_id, "at": ms_to_iso(e.at)}

        return {
            "messages": [
                {
                    **common(e),
                    "text": e.text,
                    "kind": e.kind,
                    "subject": e.subject,
                    "thread_id": e.thread_id,
                    "message_id": e.message_id,
                    "token": e.token,
                }
                for e in entries
                if e.kind in ("message", "inmail")
            ],
            "invitations": [
                {**common(e), "note": e.note, "token": e.token} for e in entries if e.kind == "invitation"
            ],
            "visits": [common(e) for e in entries if e.kind == "visit"],
        }

    @api.get("/accounts/{account_id}/requests")
    async def requests_seen(account_id: int) -> dict[str, int]:
        """How many Voyager requests presented a session of this account (admitted or refused) since the
        sandbox started: lets a test prove that a refused call never reached LinkedIn."""
        account_or_404(account_id)
        return {"account_id": account_id, "requests": sb.gate.requests[account_id]}

    @api.post("/accounts/{account_id}/expire-session")
    async def expire_session(account_id: int) -> dict[str, int]:
        """Every session of the account dies (its requests then loop to the login wall)."""
        account_or_404(account_id)
        return {"expired": sb.store.expire_sessions(account_id)}

    @api.post("/accounts/{account_id}/restrict")
    async def restrict(account_id: int, body: RestrictBody | None = Body(default=None)) -> dict[str, Any]:
        account = account_or_404(account_id)
        sb.store.restrict(account.id, (body or RestrictBody()).reason, sb.clock.now_ms())
        return account_json(account)

    @api.post("/accounts/{account_id}/unrestrict")
    async def unrestrict(account_id: int) -> dict[str, Any]:
        account = account_or_404(account_id)
        sb.store.unrestrict(account.id)
        return account_json(account)

    @api.post("/invitations/{ref}/accept")
    async def accept_sent_invitation(ref: str) -> dict[str, Any]:
        """The invitee accepts an invitation an account sent: they become first-degree connections."""
        invitation = sb.store.sent_invitations.get(invitation_id(ref))
        if invitation is None:
            raise HTTPException(404, "no such sent invitation")
        writes.accept_sent(invitation)
        return {"invitation_urn": invitation.urn, "state": invitation.state}

    @api.get("/people")
    async def people(
        query: str | None = None,
        limit: int = Query(default=100, ge=0),
        offset: int = Query(default=0, ge=0),
        connected_to: int | None = None,
        not_connected_to: int | None = None,
    ) -> list[dict[str, Any]]:
        """People in a stable order (by member id). `query`: case-insensitive substring of the name or the
        headline. `not_connected_to` also excludes people the account has invited."""
        matches: list[Person] = list(sb.world.people)
        if query:
            needle = query.lower()
            matches = [
                p
                for p in matches
                if needle in f"{p.first_name} {p.last_name}".lower() or needle in p.headline.lower()
            ]
        if connected_to is not None:
            owner = account_or_404(connected_to)
            matches = [p for p in matches if sb.social.is_connected(owner, p.member_id)]
        if not_connected_to is not None:
            owner = account_or_404(not_connected_to)
            invited = sb.social.invited(owner)
            matches = [
                p
                for p in matches
                if p.member_id not in invited and not sb.social.is_connected(owner, p.member_id)
            ]
        return [person_json(p) for p in matches[offset : offset + limit]]

    @api.get("/people/{ref}")
    async def person(ref: str) -> dict[str, Any]:
        """One person (or account profile) by slug, profile URN or member id."""
        found = sb.world.profiles.get(int(ref)) if ref.isdigit() else sb.world.find_profile(ref)
        if found is None:
            raise HTTPException(404, "no such person")
        return person_json(found)

    @api.get("/faults")
    async def get_faults() -> list[dict[str, Any]]:
        return [vars(f) for f in sb.store.faults.values()]

    @api.put("/faults")
    async def put_faults(body: FaultsBody) -> dict[str, Any]:
        """Latency and 5xx for one account's (or every account's) reads, writes or all requests.
        Zero latency and zero error rate remove the fault."""
        if body.account_id is not None:
            account_or_404(body.account_id)
        fault = Fault(body.account_id, body.latency_ms, body.error_rate, body.scope, body.after_write)
        sb.store.set_fault(fault)
        return vars(fault)

    @api.delete("/faults")
    async def delete_faults() -> dict[str, bool]:
        sb.store.clear_faults()
        return {"cleared": True}

    @api.get("/tolerances")
    async def get_tolerances() -> dict[str, bool]:
        return {"enabled": sb.store.tolerances_enabled}

    @api.put("/tolerances")
    async def put_tolerances(body: TolerancesBody) -> dict[str, bool]:
        sb.store.set_tolerances(body.enabled)
        sb.tolerances.reset_rate()
        return {"enabled": body.enabled}

    @api.get("/clock")
    async def get_clock() -> dict[str, Any]:
        return {"now": ms_to_iso(sb.clock.now_ms()), "offset_seconds": sb.clock.offset_ms / 1000}

    @api.put("/clock")
    async def put_clock(body: ClockBody) -> dict[str, Any]:
        """`{"now": "<RFC 3339>"}` or `{"advance_seconds": N}`; every window and tolerance follows it."""
        if body.now is not None:
            sb.clock.set_now(body.now)
        else:
            sb.clock.advance(body.advance_seconds or 0)
        return await get_clock()

    @api.post("/reset")
    async def reset(body: ResetBody | None = Body(default=None)) -> dict[str, Any]:
        """Back to the generated world: sessions, outbox, invitations, restrictions, faults, clock and
        tolerances. With `{"account_id": N}` only that account's doings (its sessions stay)."""
        account_id = body.account_id if body else None
        if account_id is not None:
            account_or_404(account_id)
        sb.store.reset(account_id)
        if account_id is None:
            sb.clock.reset()
        sb.tolerances.reset_rate()
        return {"reset": True, "account_id": account_id}

    return api
