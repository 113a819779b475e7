"""Logging in to LinkedIn with a username and password, and answering its checkpoint.

`login()` asks LinkedIn exactly once (repeated logins lock accounts): GET /uas/login for a pre-login
JSESSIONID, then POST /uas/authenticate. The answer is a session (PASS), a checkpoint to answer
(`LoginChallenge`: PIN, 2FA, IN_APP_VALIDATION) or a failure (bad credentials, or a CAPTCHA, which cannot
be solved through an API). `answer_challenge()` submits a code, or re-checks an in-app approval.

A `LoginChallenge` carries the pre-login cookie: treat it as a secret (store it encrypted, never log it,
keep it out of workflow history).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from edgewise.config import Settings
from linkedin.http_adapter import DEFAULT_USER_AGENT, rotated_cookies, shared_client, transport_errors
from linkedin.protocol import LinkedInUnavailable, SessionCookies, Throttled

LoginOutcome = Literal["PASS", "CHALLENGE", "PENDING", "WRONG_CODE", "FAILED"]
# Why a login failed: the password was wrong, the challenge needs a browser, the checkpoint expired, or the
# last wrong code ended it.
FailureReason = Literal["BAD_CREDENTIALS", "CAPTCHA", "EXPIRED", "TOO_MANY_ATTEMPTS", "UNEXPECTED"]


@dataclass
class LoginChallenge:
    type: str  # PIN | 2FA | IN_APP_VALIDATION | CAPTCHA
    challenge_url: str
    prelogin_jsessionid: str
    expires_at_ms: int | None = None
    attempts_left: int | None = None

    def __repr__(self) -> str:  # the pre-login cookie stays out of logs and tracebacks
        return f"LoginChallenge(type={self.type!r}, attempts_left={self.attempts_left})"

    def to_json(self) -> str:
        return json.dumps(vars(self))

    @classmethod
    def from_json(cls, text: str) -> LoginChallenge:
        return cls(**json.loads(text))


@dataclass
class LoginResult:
    outcome: LoginOutcome
    cookies: SessionCookies | None = None
    challenge: LoginChallenge | None = None
    reason: FailureReason | None = None
    attempts_left: int | None = None


class LinkedInLogin:
    def __init__(
        self,
        base_url: str,
        *,
        user_agent: str | None = None,
        proxy_url: str | None = None,
        timeout: float = 20.0,
    ):
        self._base = base_url.rstrip("/")
        self._user_agent = user_agent or DEFAULT_USER_AGENT
        self._proxy_url = proxy_url
        self._timeout = timeout

    async def _post(self, path: str, data: dict[str, str], jsessionid: str) -> httpx.Response:
        client = shared_client(self._base, self._proxy_url, self._timeout)
        with transport_errors(f"POST {path}"):
            response = await client.post(
                self._base + path,
                data=data,
                headers={"cookie": f'JSESSIONID="{jsessionid}"', "user-agent": self._user_agent},
            )
        if response.status_code == 429:
            # Never retried here: a second login is what locks accounts. The caller reports the wait.
            raise Throttled("LinkedIn throttled the login", retry_after_seconds=_retry_after(response))
        return response

    def _session(self, response: httpx.Response) -> SessionCookies | None:
        fresh = rotated_cookies(response)
        if "li_at" not in fresh or "JSESSIONID" not in fresh:
            return None
        return SessionCookies(
            li_at=fresh["li_at"], jsessionid=fresh["JSESSIONID"], user_agent=self._user_agent
        )

    async def login(self, username: str, password: str) -> LoginResult:
        client = shared_client(self._base, self._proxy_url, self._timeout)
        with transport_errors("GET /uas/login"):
            page = await client.get(self._base + "/uas/login", headers={"user-agent": self._user_agent})
        prelogin = rotated_cookies(page).get("JSESSIONID", "")
        response = await self._post(
            "/uas/authenticate",
            {"session_key": username, "session_password": password, "JSESSIONID": prelogin},
            prelogin,
        )
        if response.status_code >= 500:
            raise LinkedInUnavailable(
                f"LinkedIn login failed ({response.status_code})", status=response.status_code
            )
        body = _json(response)
        result = body.get("login_result")
        cookies = self._session(response)
        if result == "PASS" and cookies is not None:
            return LoginResult("PASS", cookies=cookies)
        if result == "CHALLENGE":
            challenge = LoginChallenge(
                type=str(body.get("challenge_type")),
                challenge_url=str(body.get("challenge_url")),
                prelogin_jsessionid=prelogin,
                expires_at_ms=body.get("expires_at"),
                attempts_left=body.get("attempts_left"),
            )
            if challenge.type == "CAPTCHA":
                return LoginResult("FAILED", challenge=challenge, reason="CAPTCHA")
            return LoginResult("CHALLENGE", challenge=challenge, attempts_left=challenge.attempts_left)
        if response.status_code == 401 or str(result).startswith("BAD_"):
            return LoginResult("FAILED", reason="BAD_CREDENTIALS")
        return LoginResult("FAILED", reason="UNEXPECTED")

    async def answer_challenge(self, challenge: LoginChallenge, code: str | None = None) -> LoginResult:
        """A PIN/2FA code (surrounding spaces ignored), or None to re-check an in-app approval."""
        data = {"pin": code.strip()} if code is not None else {}
        response = await self._post(challenge.challenge_url, data, challenge.prelogin_jsessionid)
        if response.status_code >= 500:
            raise LinkedInUnavailable(
                f"LinkedIn checkpoint failed ({response.status_code})", status=response.status_code
            )
        body = _json(response)
        result = body.get("challenge_result")
        attempts = body.get("attempts_left")
        cookies = self._session(response)
        if result == "PASS" and cookies is not None:
            return LoginResult("PASS", cookies=cookies)
        if result == "PENDING":
            return LoginResult("PENDING", challenge=challenge, attempts_left=challenge.attempts_left)
        if result == "WRONG_PIN":
            challenge.attempts_left = attempts
            return LoginResult("WRONG_CODE", challenge=challenge, attempts_left=attempts)
        reasons: dict[Any, FailureReason] = {
            "FAILED": "TOO_MANY_ATTEMPTS",
            "EXPIRED": "EXPIRED",
            "CAPTCHA_REQUIRED": "CAPTCHA",
        }
        return LoginResult("FAILED", reason=reasons.get(result, "UNEXPECTED"), attempts_left=attempts)


def linkedin_login(
    settings: Settings, *, proxy_url: str | None = None, user_agent: str | None = None
) -> LinkedInLogin:
    """A login client for LINKEDIN_BASE_URL (through the identity's proxy, when it has one)."""
    return LinkedInLogin(
        settings.linkedin_base_url,
        user_agent=user_agent,
        proxy_url=proxy_url,
        timeout=settings.linkedin_timeout_seconds,
    )


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(1.0, float(response.headers.get("retry-after", "60")))
    except ValueError:
        return 60.0


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
