"""The `attempt_delivery` activity: one HTTP POST of a stored delivery, and its outcome recorded.

Only the delivery uid arrives through Temporal; the body, the caller's headers and the signing secret are
read (and decrypted) from the database here. The target is checked again at send time — a webhook URL that
now resolves to a private address is refused, not called.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import update
from sqlmodel import select
from temporalio import activity

from activities.deps import ActivityDeps
from db.engine import session_scope
from db.models import Delivery, Workspace
from edgewise import metrics
from edgewise.targets import TargetRefused, check_target
from edgewise.timeutil import utcnow
from edgewise.webhooks import decrypt_headers, signing_secrets, webhook_headers
from workflows.contracts import DeliveryInput, DeliveryStep

log = logging.getLogger("edgewise.deliveries")

USER_AGENT = "edgewise-webhooks/1"


@dataclass
class _Prepared:
    url: str
    body: bytes
    webhook_id: str
    caller_headers: dict[str, str]
    secrets: list[str]


@dataclass
class _Outcome:
    succeeded: bool
    http_status: int | None
    error: str | None
    # Refused before sending (the target is not allowed): no retry can help.
    permanent: bool = False


def _dns_trouble(url: str) -> bool:
    """True when the URL names a host that does not resolve right now."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if not host:
        return False
    try:
        socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return True
    return False


def _next_due(inp: DeliveryInput) -> datetime | None:
    """When the next attempt is due should this one fail: the plan's wait from now (the attempt's end), or
    None past the deadline. Rounds started before `retry_in_seconds` carry the time in `next_attempt_at`."""
    if inp.retry_in_seconds is None:
        return inp.next_attempt_at
    due = utcnow() + timedelta(seconds=inp.retry_in_seconds)
    return due if inp.deadline is None or due <= inp.deadline else None


class DeliveryActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @activity.defn(name="attempt_delivery")
    async def attempt_delivery(self, inp: DeliveryInput) -> DeliveryStep:
        prepared = await asyncio.to_thread(self._begin, inp)
        if isinstance(prepared, DeliveryStep):
            return prepared
        refusal = await asyncio.to_thread(self._refusal, prepared.url)
        outcome = refusal or await self._send(prepared)
        return await asyncio.to_thread(self._record, inp, outcome)

    def _refusal(self, url: str) -> _Outcome | None:
        """None when the target may be called now. A refused target fails the delivery for good — unless
        its host merely did not resolve (DNS trouble passes): then it is a failed attempt, retried."""
        try:
            check_target(url, self.deps.settings)
        except TargetRefused as exc:
            return _Outcome(False, None, f"target refused: {exc}", permanent=not _dns_trouble(url))
        return None

    def _begin(self, inp: DeliveryInput) -> _Prepared | DeliveryStep:
        """Load the row and count the attempt (RUNNING); a row already settled for this round is not sent."""
        with session_scope(self.deps.engine) as session:
            delivery = session.exec(
                select(Delivery).where(Delivery.uid == inp.delivery_uid).with_for_update()
            ).one_or_none()
            if delivery is None:
                return DeliveryStep(failed_permanently=True, error="delivery not found")
            if delivery.replays != inp.replay:
                return DeliveryStep(failed_permanently=True, error="superseded by a replay")
            if delivery.status == "SUCCEEDED":  # a retried activity whose POST already got through
                return DeliveryStep(succeeded=True, http_status=delivery.last_http_status)
            if delivery.status == "FAILED":
                return DeliveryStep(
                    failed_permanently=True, http_status=delivery.last_http_status, error=delivery.last_error
                )
            workspace = session.get(Workspace, delivery.workspace_uid)
            if workspace is None:
                return DeliveryStep(failed_permanently=True, error="workspace not found")
            now = utcnow()
            delivery.attempts += 1
            delivery.status = "RUNNING"
            delivery.updated_at = now
            session.add(delivery)
            return _Prepared(
                url=delivery.url,
                body=bytes(delivery.body),
                webhook_id=delivery.webhook_id,
                caller_headers=decrypt_headers(self.deps.keyring, delivery),
                secrets=signing_secrets(self.deps.keyring, workspace, now),
            )

    async def _send(self, prepared: _Prepared) -> _Outcome:
        timeout = self.deps.settings.delivery_timeout_seconds
        headers = {
            **prepared.caller_headers,
            "user-agent": USER_AGENT,
            "content-type": "application/json",
            **webhook_headers(prepared.secrets, prepared.webhook_id, prepared.body),
        }
        try:
            # No redirects (a 3xx is a failed attempt: following one could reach a refused target); the
            # answer's body is never read. The whole exchange is bounded, not only each socket operation.
            async with (
                asyncio.timeout(timeout),
                httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as http,
                http.stream("POST", prepared.url, content=prepared.body, headers=headers) as response,
            ):
                status = response.status_code
        except (TimeoutError, httpx.TimeoutException):
            return _Outcome(False, None, f"no answer within {timeout:g} s")
        except Exception as exc:  # connection refused, TLS, a malformed URL or header: a failed attempt
            return _Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500])
        if 200 <= status < 300:
            return _Outcome(True, status, None)
        return _Outcome(False, status, f"HTTP {status}")

    def _record(self, inp: DeliveryInput, outcome: _Outcome) -> DeliveryStep:
        due = _next_due(inp)
        final = outcome.permanent or due is None
        status = "SUCCEEDED" if outcome.succeeded else ("FAILED" if final else "RUNNING")
        metrics.delivery_attempt(status)
        next_at: datetime | None = None if outcome.succeeded or final else due
        with session_scope(self.deps.engine) as session:
            # Only this round writes: a replay started meanwhile owns the row now.
            session.execute(
                update(Delivery)
                .where(Delivery.uid == inp.delivery_uid, Delivery.replays == inp.replay)  # type: ignore[arg-type]
                .values(
                    status=status,
                    last_http_status=outcome.http_status,
                    last_error=outcome.error,
                    next_attempt_at=next_at,
                    updated_at=utcnow(),
                )
            )
        if not outcome.succeeded:
            log.info(
                "delivery %s attempt failed (%s)%s",
                inp.delivery_uid,
                outcome.error,
                "" if next_at is None else f"; next attempt at {next_at.isoformat()}",
            )
        return DeliveryStep(
            succeeded=outcome.succeeded,
            failed_permanently=outcome.permanent,
            http_status=outcome.http_status,
            error=outcome.error,
            next_attempt_at=next_at,
        )
