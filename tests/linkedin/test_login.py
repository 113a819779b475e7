"""Credentials login per the account's login behaviour: none, pin, 2fa, in_app, captcha (linkedin.auth)."""

from __future__ import annotations

from linkedin.auth import LinkedInLogin
from tests.linkedin.conftest import Accounts
from tests.linkedin.helpers import SandboxControl, adapter_for


async def test_a_plain_login_returns_a_working_session(base_url: str, accounts: Accounts) -> None:
    account = accounts.take("premium", "none")
    result = await LinkedInLogin(base_url).login(account["username"], account["password"])
    assert result.outcome == "PASS" and result.cookies is not None
    me = await adapter_for(base_url, result.cookies, []).me()
    assert me.linkedin_profile_id == account["linkedin_profile_id"] and me.level == "premium"


async def test_a_wrong_password_fails(base_url: str, accounts: Accounts) -> None:
    account = accounts.take("classic", "none")
    result = await LinkedInLogin(base_url).login(account["username"], "not-the-password")
    assert result.outcome == "FAILED" and result.reason == "BAD_CREDENTIALS"


async def test_a_pin_checkpoint_takes_the_code(
    base_url: str, control: SandboxControl, accounts: Accounts
) -> None:
    for login_kind, challenge_type in (("pin", "PIN"), ("2fa", "2FA")):
        account = accounts.take("classic", login_kind)
        client = LinkedInLogin(base_url)
        started = await client.login(account["username"], account["password"])
        assert started.outcome == "CHALLENGE" and started.challenge is not None
        assert started.challenge.type == challenge_type and started.attempts_left == 3
        wrong = await client.answer_challenge(started.challenge, "000000x")
        assert wrong.outcome == "WRONG_CODE" and wrong.attempts_left == 2
        code = control.ok(control.get(f"/_sandbox/accounts/{account['id']}/verification-code"))["code"]
        passed = await client.answer_challenge(started.challenge, f"  {code} ")
        assert passed.outcome == "PASS" and passed.cookies is not None
        assert (await adapter_for(base_url, passed.cookies, []).me()).linkedin_profile_id == account[
            "linkedin_profile_id"
        ]


async def test_three_wrong_codes_end_the_checkpoint(
    base_url: str, control: SandboxControl, accounts: Accounts
) -> None:
    account = accounts.take("classic", "pin")
    client = LinkedInLogin(base_url)
    started = await client.login(account["username"], account["password"])
    assert started.challenge is not None
    outcomes = [(await client.answer_challenge(started.challenge, "bad")).outcome for _ in range(3)]
    assert outcomes == ["WRONG_CODE", "WRONG_CODE", "FAILED"]
    assert control.get(f"/_sandbox/accounts/{account['id']}/verification-code").status_code == 404


async def test_an_in_app_checkpoint_waits_for_approval(
    base_url: str, control: SandboxControl, accounts: Accounts
) -> None:
    account = accounts.take("classic", "in_app")
    client = LinkedInLogin(base_url)
    started = await client.login(account["username"], account["password"])
    assert started.outcome == "CHALLENGE" and started.challenge is not None
    assert started.challenge.type == "IN_APP_VALIDATION"
    assert (await client.answer_challenge(started.challenge)).outcome == "PENDING"
    control.ok(control.post(f"/_sandbox/accounts/{account['id']}/approve-in-app"))
    passed = await client.answer_challenge(started.challenge)
    assert passed.outcome == "PASS" and passed.cookies is not None


async def test_a_checkpoint_expires_after_ten_minutes(
    base_url: str, control: SandboxControl, accounts: Accounts
) -> None:
    account = accounts.take("classic", "2fa")
    client = LinkedInLogin(base_url)
    started = await client.login(account["username"], account["password"])
    assert started.challenge is not None
    control.advance(601)
    expired = await client.answer_challenge(started.challenge, "123456")
    assert expired.outcome == "FAILED" and expired.reason == "EXPIRED"


async def test_a_captcha_cannot_be_solved_through_the_api(base_url: str, accounts: Accounts) -> None:
    account = accounts.take("classic", "captcha")
    result = await LinkedInLogin(base_url).login(account["username"], account["password"])
    assert result.outcome == "FAILED" and result.reason == "CAPTCHA"
