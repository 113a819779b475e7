"""What crosses the Temporal boundary in a credentials login (API.md §3): uids, labels, numbers — never the
password, never the checkpoint's pre-login cookie (both stay encrypted in the PendingLogin row).

The verification code itself does travel (as the `submit_code` update's argument): it is single-use, dies
with the checkpoint, and is useless without the pre-login cookie that never leaves the database.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

# A PIN or 2FA code: letters and digits only (LinkedIn sends 6 digits; authenticator apps 6–8).
_CODE = re.compile(r"[A-Za-z0-9]{4,12}")

CHECKPOINT_TYPES = ("PIN", "2FA", "IN_APP_VALIDATION")
# Why a login ended without a session; `action_to_be_taken` tells the customer what to do next.
RETRY_LOGIN = "RETRY_LOGIN"
SOLVE_CHALLENGE_IN_BROWSER = "SOLVE_CHALLENGE_IN_BROWSER"


def normalise_code(checkpoint_type: str, code: str | None) -> str | None:
    """The code to send for this checkpoint, surrounding spaces dropped (API.md §3), or ValueError naming
    what is wrong. An in-app validation takes no code (`{}` re-checks it); a PIN or 2FA needs one."""
    if checkpoint_type == "IN_APP_VALIDATION":
        if code is not None:
            raise ValueError("an in-app validation takes no code: send {} once the member has approved")
        return None
    if code is None:
        raise ValueError("field required")
    stripped = code.strip()
    if not stripped:
        raise ValueError("must not be empty")
    if not _CODE.fullmatch(stripped):
        raise ValueError("must be the 4–12 letters or digits LinkedIn sent, without inner spaces")
    return stripped


LoginOutcome = Literal[
    "VALID",  # connected (first time: `created`)
    "PENDING",  # a checkpoint waits for its code
    "WRONG_CODE",  # the code was wrong; `attempts_left` more may be tried
    "FAILED",  # the login or its verification failed (`reason`); the integration is INVALID
    "CONFLICT",  # the account belongs to another identity, or differs from the one connected
    "BUSY",  # another code for this checkpoint is being verified right now
    "UNAVAILABLE",  # LinkedIn did not answer; nothing changed
    "THROTTLED",  # LinkedIn throttled the login; `retry_after_seconds`
    "NO_EGRESS",  # egress is required and the identity has no proxy: LinkedIn was not asked
]


class LoginAnswer(BaseModel):
    """What the login (or one answer to its checkpoint) came to."""

    outcome: LoginOutcome
    integration_uid: str | None = None
    created: bool = False  # VALID for the first time: 201 and AUTH_SUCCESS (else 200, AUTH_UPDATED)
    linkedin_profile_id: int | None = None
    # FAILED: BAD_CREDENTIALS, CAPTCHA, TOO_MANY_ATTEMPTS, EXPIRED, UNEXPECTED, GONE (abandoned meanwhile)
    reason: str | None = None
    action_to_be_taken: str | None = None
    checkpoint_type: str | None = None
    expires_at: datetime | None = None
    attempts_left: int | None = None
    retry_after_seconds: float | None = None
    message: str | None = None
    # FAILED: this answer turned the integration INVALID (the workflow then emits AUTH_FAILED).
    integration_failed: bool = False


class LoginStepInput(BaseModel):
    """Activity `login_with_credentials`: the one login attempt of a PendingLogin row."""

    pending_uid: str
    checkpoint_ttl_seconds: float


class CheckpointStepInput(BaseModel):
    """Activity `answer_checkpoint`: send one code (None: re-check an in-app validation)."""

    pending_uid: str
    code: str | None = None


class CodeSubmission(BaseModel):
    """The `submit_code` update: a code as the customer sent it (None for `{}`)."""

    code: str | None = None


class EndLoginInput(BaseModel):
    """Activity `end_login`: erase the PendingLogin row; `expired` also fails a checkpoint still pending."""

    pending_uid: str
    expired: bool = False


class LoginEvent(BaseModel):
    """Activity `announce_login_event`: AUTH_PENDING or AUTH_FAILED (idempotent on `event_id`)."""

    integration_uid: str
    event: Literal["AUTH_PENDING", "AUTH_FAILED"]
    event_id: str
    action_to_be_taken: str | None = None
