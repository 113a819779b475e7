"""PLACEHOLDER — replaced by the real HTTP adapter."""

from __future__ import annotations

from edgewise.config import Settings
from linkedin.protocol import AdapterFactory


def http_adapter_factory(settings: Settings) -> AdapterFactory:
    def factory(cookies, on_rotate, proxy_url=None):  # type: ignore[no-untyped-def]
        raise NotImplementedError("the HTTP adapter is not written yet")

    return factory
