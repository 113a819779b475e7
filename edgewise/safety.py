"""Safety profiles (API.md §7): `test` and `unlimited` switch protections off, so they refuse to start
unless LINKEDIN_BASE_URL points at a sandbox — never at real LinkedIn accounts."""

from __future__ import annotations

import httpx

from edgewise.config import Settings


class UnsafeProfile(RuntimeError):
    pass


def sandbox_answers(base_url: str, timeout: float = 5.0) -> bool:
    """A sandbox answers its control API; LinkedIn does not have one."""
    try:
        response = httpx.get(f"{base_url.rstrip('/')}/_sandbox/clock", timeout=timeout)
    except httpx.HTTPError:
        return False
    if response.status_code != 200:
        return False
    try:
        return "now" in response.json()
    except ValueError:
        return False


def ensure_profile_allowed(settings: Settings) -> None:
    """Raise UnsafeProfile when a test/unlimited profile would drive something that is not a sandbox."""
    if settings.safety_profile == "standard":
        return
    if not sandbox_answers(settings.linkedin_base_url):
        raise UnsafeProfile(
            f"EDGEWISE_SAFETY_PROFILE={settings.safety_profile} turns Smart Limits' protections off and is "
            f"only allowed against a LinkedIn sandbox, but {settings.linkedin_base_url} does not answer as "
            "one "
            "(GET /_sandbox/clock). Use the standard profile, or point LINKEDIN_BASE_URL at the sandbox."
        )
