"""`Idempotency-Key` on creating POSTs (API.md §1).

For 24 hours a repeat with the same key, route and body returns the stored response (same status, same
body, same uid) and does nothing else; the same key with a different body → 409 CONFLICT. Records live in
`idempotency_keys`, unique per (workspace, key, route), where route is `METHOD /path`.

Use in a creating route (sync `def`, so the waits below run in the threadpool):

    @router.post("", status_code=201, response_model=ThingOut)
    def create_thing(body: ThingIn, member: OpsMember, session: DbSession, idem: IdempotencyDep) -> Response:
        if (replay := idem.begin(session, member.workspace_uid)) is not None:
            return replay                      # the stored response; nothing else happens
        thing = ...                            # the real work, in the same session
        return idem.respond(session, 201, thing_out(thing))  # stores it (no-op without a key), returns it

`respond(..., stored_body=…)` stores a different body than it returns (member creation stores no api_key);
`headers=` are returned and replayed too (e.g. X-Run-Uid). `complete()` stores without building a response.

Concurrency: `begin()` inserts the record (status pending) inside the request's transaction. Two identical
requests race on the unique constraint: on PostgreSQL the second insert waits for the first transaction and
then finds its stored response; on SQLite writers are serialised anyway. If the work fails, the transaction
rolls back and the key is free again. A route that must commit before a slow side effect (starting a
workflow) calls `complete()` first, so the committed record already holds the response; a repeat arriving
while a record is still pending waits up to `PENDING_WAIT_SECONDS`, then gets 409.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from starlette.responses import Response

from db.models import IdempotencyRecord
from edgewise.errors import ApiError
from edgewise.timeutil import utcnow

KEY_HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
RETENTION = timedelta(hours=24)
PENDING_WAIT_SECONDS = 10.0
_POLL_SECONDS = 0.1
_SAME = object()


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def request_fingerprint(body: bytes, query: str) -> str:
    """SHA-256 of the body as canonical JSON (key order and spacing do not matter) and the query string."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")) if body else ""
    except ValueError:
        canonical = body.decode("utf-8", "replace")
    return hashlib.sha256(f"{canonical}\n{query}".encode()).hexdigest()


@dataclass
class Idempotency:
    """This request's idempotency context (`key` is None when the header was not sent)."""

    key: str | None
    route: str
    request_hash: str
    _record: IdempotencyRecord | None = field(default=None, repr=False)

    def begin(self, session: Session, workspace_uid: str) -> Response | None:
        """Claim the key for this request, or return the stored response of an earlier identical one.

        Raises 409 CONFLICT when the key was used with a different body, or is still being processed.
        """
        if self.key is None:
            return None
        deadline = time.monotonic() + PENDING_WAIT_SECONDS
        while True:
            record = session.exec(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.workspace_uid == workspace_uid,
                    IdempotencyRecord.key == self.key,
                    IdempotencyRecord.route == self.route,
                )
            ).first()
            if record is not None and record.created_at < utcnow() - RETENTION:
                session.delete(record)  # expired: the key may be used afresh
                session.flush()
                record = None
            if record is not None:
                if record.request_hash != self.request_hash:
                    raise ApiError(
                        "CONFLICT",
                        f"{KEY_HEADER} was already used with a different request body",
                        params={"idempotency_key": self.key},
                    )
                if record.status_code is not None:
                    return self._replay(record)
                if time.monotonic() > deadline:
                    raise ApiError(
                        "CONFLICT",
                        f"a request with this {KEY_HEADER} is still being processed; retry later",
                        params={"idempotency_key": self.key},
                    )
                # Another request holds the key: end our transaction (on SQLite it holds the write lock
                # the other one needs to finish) and look again shortly.
                session.rollback()
                time.sleep(_POLL_SECONDS)
                continue
            claim = IdempotencyRecord(
                workspace_uid=workspace_uid, key=self.key, route=self.route, request_hash=self.request_hash
            )
            try:
                with session.begin_nested():
                    session.add(claim)
            except IntegrityError:
                # A concurrent request claimed it first (PostgreSQL blocked us until it committed).
                if time.monotonic() > deadline:
                    raise
                continue
            self._record = claim
            return None

    def complete(
        self,
        session: Session,
        status_code: int,
        body: Any,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Store the response to replay (no-op without a key). Call before the transaction commits."""
        if self._record is None:
            return
        self._record.status_code = status_code
        self._record.response_body = _dumps(body)
        self._record.response_headers = dict(headers or {})
        session.add(self._record)
        session.flush()

    def respond(
        self,
        session: Session,
        status_code: int,
        body: Any,
        *,
        stored_body: Any = _SAME,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """`complete()` and return the JSON response (`stored_body`: what a replay returns instead)."""
        self.complete(session, status_code, body if stored_body is _SAME else stored_body, headers=headers)
        return Response(_dumps(body), status_code=status_code, media_type="application/json", headers=headers)

    @staticmethod
    def _replay(record: IdempotencyRecord) -> Response:
        headers = dict(record.response_headers or {})
        headers[REPLAY_HEADER] = "true"
        return Response(
            record.response_body or "null",
            status_code=int(record.status_code or 200),
            media_type="application/json",
            headers=headers,
        )


async def get_idempotency(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=KEY_HEADER,
            min_length=1,
            max_length=255,
            description="Makes the creation safe to retry for 24 h: a repeat with the same key and body "
            "returns the first response; the same key with another body → 409.",
        ),
    ] = None,
) -> Idempotency:
    body = await request.body() if idempotency_key else b""
    return Idempotency(
        key=idempotency_key,
        route=f"{request.method} {request.url.path}"[:255],
        request_hash=request_fingerprint(body, request.url.query) if idempotency_key else "",
    )


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]
