"""How edgewise's processes reach Temporal: TLS and API-key options (Temporal Cloud, or any cluster behind
TLS) and the process-wide Runtime that exports the SDK's metrics. Used by `edgewise.temporal.connect`.

- `TEMPORAL_API_KEY`: Temporal Cloud's API-key authentication (sent as a bearer token; implies TLS).
- `TEMPORAL_TLS_CERT` + `TEMPORAL_TLS_KEY`: mTLS with a client certificate (Cloud's other option, or a
  self-hosted cluster with mTLS); `TEMPORAL_TLS_CA`: the server's CA when it is not a public one;
  `TEMPORAL_TLS_SERVER_NAME`: the name to verify when it differs from the address's host.
- `TEMPORAL_TLS=true`: TLS with the system's trust store and nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.service import TLSConfig

from edgewise.config import Settings
from edgewise.metrics import temporal_runtime


class TemporalConfigError(ValueError):
    """The TLS settings are incomplete or name a file that cannot be read; the message says which."""


def _read(path: str, variable: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise TemporalConfigError(f"{variable}={path}: cannot be read ({exc.strerror or exc})") from None


def tls_option(settings: Settings) -> bool | TLSConfig:
    """False (plain gRPC), True (TLS, system trust store) or a TLSConfig (client cert, CA, server name)."""
    cert, key = settings.temporal_tls_cert.strip(), settings.temporal_tls_key.strip()
    if bool(cert) != bool(key):
        raise TemporalConfigError("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: set both or neither")
    ca, server_name = settings.temporal_tls_ca.strip(), settings.temporal_tls_server_name.strip()
    if cert or ca or server_name:
        return TLSConfig(
            client_cert=_read(cert, "TEMPORAL_TLS_CERT") if cert else None,
            client_private_key=_read(key, "TEMPORAL_TLS_KEY") if key else None,
            server_root_ca_cert=_read(ca, "TEMPORAL_TLS_CA") if ca else None,
            domain=server_name or None,
        )
    # An API key travels as a bearer token: never over plain text.
    return settings.temporal_tls or bool(settings.temporal_api_key.get_secret_value())


def connection_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `Client.connect` besides the address, namespace and data converter."""
    return {
        "api_key": settings.temporal_api_key.get_secret_value() or None,
        "tls": tls_option(settings),
        "runtime": temporal_runtime(),
    }
