"""Connecting to Temporal with edgewise's data converter: pydantic DTOs (aware datetimes), every payload
encrypted (edgewise/codec.py). Every client — API, worker, tests, the replay tests — gets its converter
from `data_converter()`, so they all read and write the same payloads."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from edgewise.codec import EncryptionCodec
from edgewise.config import Settings
from edgewise.temporal_options import connection_options


def data_converter(settings: Settings) -> DataConverter:
    return dataclasses.replace(pydantic_data_converter, payload_codec=EncryptionCodec.from_settings(settings))


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        **connection_options(settings),  # TLS / API key (Temporal Cloud), the SDK metrics' runtime
    )


# A transient answer to a single call: the frontend closes every connection at its maximum age (GOAWAY), and a
# call caught at that instant fails with CANCELLED "operation was canceled" (temporalio/sdk-core#807), or
# UNAVAILABLE while the channel reconnects. Most SDK calls retry these themselves; check_health does not.
_TRANSIENT = (RPCStatusCode.CANCELLED, RPCStatusCode.UNAVAILABLE)
_HEALTH_ATTEMPTS = 3


async def serving(client: Client, timeout: float) -> bool:
    """Whether Temporal's frontend answers its health check as serving, within `timeout` seconds in all; a
    transient failure of one call is tried again (readiness must not flap at every connection's max age)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for attempt in range(1, _HEALTH_ATTEMPTS + 1):
        left = deadline - loop.time()
        try:
            return bool(await client.service_client.check_health(timeout=timedelta(seconds=max(left, 0.05))))
        except RPCError as exc:
            if exc.status not in _TRANSIENT or attempt == _HEALTH_ATTEMPTS or deadline - loop.time() < 0.2:
                raise
            await asyncio.sleep(0.05)
    raise AssertionError("unreachable")
