"""Webhook and callback targets (API.md §3): http(s) only, no private targets unless allowed, not the API."""

from __future__ import annotations

import pytest

from edgewise.config import Settings
from edgewise.errors import ApiError
from edgewise.targets import is_target_allowed, validate_target_url

API_PORT = 8765


def _settings(allow_private: bool, public_base_url: str = "") -> Settings:
    return Settings.model_validate(
        {"ALLOW_PRIVATE_TARGETS": allow_private, "API_PORT": API_PORT, "PUBLIC_BASE_URL": public_base_url}
    )


STRICT = _settings(False)
LENIENT = _settings(True)


def _refused(url: object, settings: Settings, field: str = "callback.url") -> str:
    with pytest.raises(ApiError) as caught:
        validate_target_url(url, settings, field)
    error = caught.value
    assert error.status_code == 400 and error.label == "BAD_INPUT"
    assert error.params["validation_errors"][0]["field"] == field
    return str(error.params["validation_errors"][0]["message"])


@pytest.mark.parametrize(
    "url",
    [
        None,
        42,
        "",
        "   ",
        "example.test/hook",
        "ftp://93.184.216.34/x",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://",
        "http:///path",
        "http://93.184.216.34:99999/x",
        "http://exa mple.com/x",
        "http://does-not-resolve.invalid/hook",
        "https://" + "a" * 3000 + ".test/",
    ],
)
def test_malformed_or_unresolvable_urls_are_refused_always(url: object) -> None:
    _refused(url, STRICT)
    _refused(url, LENIENT)
    if isinstance(url, str):
        assert not is_target_allowed(url, LENIENT)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",
        "http://localhost:9000/hook",
        "http://10.1.2.3/hook",
        "http://172.16.0.5/hook",
        "http://192.168.1.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/hook",
        "http://0.0.0.0:9000/hook",
        "http://[::1]:9000/hook",
        "http://[fe80::1]/hook",
        "http://[fc00::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://224.0.0.1/hook",
        "http://240.0.0.1/hook",
        "http://2130706433/hook",
    ],
)
def test_private_targets_are_refused_unless_allowed(url: str) -> None:
    _refused(url, STRICT)
    assert not is_target_allowed(url, STRICT)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9000/hook", "http://localhost:9000/h", "http://10.1.2.3/h"]
)
def test_private_targets_are_accepted_when_allowed(url: str) -> None:
    assert validate_target_url(url, LENIENT, "url") == url
    assert is_target_allowed(url, LENIENT)


@pytest.mark.parametrize(
    "url", ["https://93.184.216.34/hook", "http://8.8.8.8:8080/x?y=1", "HTTPS://1.1.1.1/"]
)
def test_public_addresses_are_accepted(url: str) -> None:
    assert validate_target_url(url, STRICT, "url") == url
    assert is_target_allowed(url, STRICT)


@pytest.mark.parametrize(
    "url",
    [
        f"http://127.0.0.1:{API_PORT}/v1/workspace",
        f"http://localhost:{API_PORT}/",
        f"http://0.0.0.0:{API_PORT}/",
        f"http://[::1]:{API_PORT}/",
        f"http://127.0.0.2:{API_PORT}/",
    ],
)
def test_the_api_itself_is_always_refused(url: str) -> None:
    assert "API itself" in _refused(url, LENIENT)
    assert not is_target_allowed(url, LENIENT)


def test_the_public_base_url_is_refused() -> None:
    settings = _settings(True, public_base_url="https://93.184.216.34")
    assert "API itself" in _refused("https://93.184.216.34/v1/hook", settings)
    # Same host, another port: someone else's service.
    assert validate_target_url("http://93.184.216.34:8080/hook", settings, "url")
    # The API's local port stays refused too.
    _refused(f"http://127.0.0.1:{API_PORT}/", settings)
