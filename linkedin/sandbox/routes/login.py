"""The browser-facing login routes: the login wall, the credentials login and its checkpoint.

Modelled on what open-source clients drive: `GET /uas/login` hands out a pre-login JSESSIONID,
`POST /uas/authenticate` (form: session_key, session_password, JSESSIONID) answers `login_result`
PASS (with the `li_at` and JSESSIONID cookies) or CHALLENGE (with a `challenge_url`), and the challenge
page takes the code. `GET /_sandbox/accounts/{id}/login-attempts` (control side) counts what an account
received: `{"logins": n, "checkpoint_answers": m}`.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote

from fastapi import APIRouter, HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from linkedin.sandbox import ids, responses
from linkedin.sandbox.gate import AUTHWALL_PATH, jsessionid_cookie, li_at_cookie
from linkedin.sandbox.logins import LoginOutcome, Logins
from linkedin.sandbox.records import Session
from linkedin.sandbox.responses import json_response


def _with_session(response: Response, session: Session) -> Response:
    response.headers.append("set-cookie", li_at_cookie(session.li_at))
    response.headers.append("set-cookie", jsessionid_cookie(session.jsessionid))
    return response


def _challenge_body(outcome: LoginOutcome) -> dict[str, object]:
    challenge = outcome.challenge
    assert challenge is not None
    return {
        "login_result": "CHALLENGE",
        "challenge_url": f"/checkpoint/challenge/{challenge.id}",
        "challenge_type": challenge.type,
        "expires_at": challenge.expires_at,
        "attempts_left": challenge.attempts_left,
    }


async def _form(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.json()
        return {k: str(v) for k, v in body.items()} if isinstance(body, dict) else {}
    # URL-encoded form, parsed by hand (Starlette's form parser needs python-multipart).
    return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))


def router(logins: Logins) -> APIRouter:
    api = APIRouter(tags=["login"])

    @api.get(AUTHWALL_PATH)
    async def authwall(request: Request) -> Response:
        """The login wall sends the browser back where it came from — a loop while the session is dead."""
        target = unquote(request.query_params.get("sessionRedirect", "")) or "/feed/"
        return RedirectResponse(target if target.startswith("/") else "/feed/", status_code=302)

    @api.get("/uas/login")
    async def login_page() -> Response:
        response = PlainTextResponse("Sign in to the LinkedIn sandbox")
        response.headers.append("set-cookie", jsessionid_cookie(ids.new_jsessionid()))
        return response

    @api.post("/uas/authenticate")
    async def authenticate(request: Request) -> Response:
        form = await _form(request)
        cookie = request.cookies.get("JSESSIONID", "").strip('"')
        if not cookie or form.get("JSESSIONID", "").strip('"') != cookie:
            return PlainTextResponse(responses.CSRF_FAILED_TEXT, status_code=403)
        outcome = logins.authenticate(form.get("session_key", ""), form.get("session_password", ""))
        if outcome.outcome == "BAD_CREDENTIALS":
            return json_response({"login_result": "BAD_PASSWORD"}, 401)
        if outcome.session is not None:
            return _with_session(json_response({"login_result": "PASS"}), outcome.session)
        return json_response(_challenge_body(outcome))

    @api.post("/checkpoint/challenge/{challenge_id}")
    async def challenge(challenge_id: str, request: Request) -> Response:
        """`{"pin": "123456"}` for PIN/2FA, `{}` to re-check an in-app approval."""
        form = await _form(request)
        outcome = logins.answer(challenge_id, form.get("pin"))
        attempts = outcome.challenge.attempts_left if outcome.challenge else 0
        if outcome.session is not None:
            return _with_session(json_response({"challenge_result": "PASS"}), outcome.session)
        status = {"PENDING": 202, "WRONG_CODE": 400, "FAILED": 400, "CAPTCHA": 400, "EXPIRED": 410}
        names = {"WRONG_CODE": "WRONG_PIN", "CAPTCHA": "CAPTCHA_REQUIRED"}
        return json_response(
            {"challenge_result": names.get(outcome.outcome, outcome.outcome), "attempts_left": attempts},
            status.get(outcome.outcome, 400),
        )

    @api.get("/_sandbox/accounts/{account_id}/login-attempts", tags=["sandbox control"])
    async def login_attempts(account_id: int) -> dict[str, int]:
        """Credentials logins and checkpoint answers this account received since the sandbox started."""
        account = logins.account(account_id)
        if account is None:
            raise HTTPException(404, f"no sandbox account {account_id}")
        return logins.attempts(account)

    return api
