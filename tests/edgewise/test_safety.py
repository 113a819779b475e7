"""`test` and `unlimited` refuse to start unless LinkedIn is a sandbox (API.md §7)."""

from __future__ import annotations

import pytest

from edgewise.config import Settings
from edgewise.safety import UnsafeProfile, ensure_profile_allowed
from tests.support.servers import free_port


def _settings(profile: str, base_url: str) -> Settings:
    return Settings.model_validate({"EDGEWISE_SAFETY_PROFILE": profile, "LINKEDIN_BASE_URL": base_url})


def test_standard_needs_no_sandbox() -> None:
    ensure_profile_allowed(_settings("standard", f"http://127.0.0.1:{free_port()}"))


@pytest.mark.parametrize("profile", ["test", "unlimited"])
def test_relaxed_profiles_refuse_anything_but_a_sandbox(profile: str) -> None:
    with pytest.raises(UnsafeProfile, match="only allowed against a LinkedIn sandbox"):
        ensure_profile_allowed(_settings(profile, f"http://127.0.0.1:{free_port()}"))


@pytest.mark.parametrize("profile", ["test", "unlimited"])
def test_relaxed_profiles_start_against_the_sandbox(profile: str, sandbox_url: str) -> None:
    ensure_profile_allowed(_settings(profile, sandbox_url))
