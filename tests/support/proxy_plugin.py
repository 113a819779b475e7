"""A proxy.py plugin for the egress tests (loaded inside the proxy's own process, see recording_proxy.py).

It records every request that passes through the proxy (method, host, port, path and the session's
`li_at`, which tells the tests whose traffic it was) as JSON lines in $EDGEWISE_PROXY_RECORD, and resolves
the host names listed in $EDGEWISE_PROXY_HOSTS (`name=address,…`) itself: the tests point LinkedIn at a
name only these proxies can resolve, so traffic that bypassed its proxy cannot reach the sandbox at all.
"""

from __future__ import annotations

import json
import os
import re
import threading

from proxy.http.parser import HttpParser
from proxy.http.proxy import HttpProxyBasePlugin

_LOCK = threading.Lock()
_LI_AT = re.compile(rb"(?:^|;\s*)li_at=([^;]+)")


def _hosts() -> dict[str, str]:
    listed = os.environ.get("EDGEWISE_PROXY_HOSTS", "").split(",")
    pairs = (item.split("=", 1) for item in listed if "=" in item)
    return {name.strip(): address.strip() for name, address in pairs}


class RecordingPlugin(HttpProxyBasePlugin):
    def resolve_dns(self, host: str, port: int) -> tuple[str | None, None]:
        return _hosts().get(host), None  # None: the system's resolver

    def handle_client_request(self, request: HttpParser) -> HttpParser:
        cookie = request.header(b"cookie") if request.has_header(b"cookie") else b""
        match = _LI_AT.search(cookie)
        line = json.dumps(
            {
                "method": (request.method or b"").decode(),
                "host": (request.host or b"").decode(),
                "port": request.port,
                "path": (request.path or b"").decode(),
                "li_at": match.group(1).decode() if match else None,
            }
        )
        with _LOCK, open(os.environ["EDGEWISE_PROXY_RECORD"], "a", encoding="utf-8") as record:
            record.write(line + "\n")
        return request
