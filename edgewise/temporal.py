"""Connecting to Temporal with edgewise's data converter: pydantic DTOs (aware datetimes), every payload
encrypted (edgewise/codec.py). Every client — API, worker, tests, the replay tests — gets its converter
from `data_converter()`, so they all read and write the same payloads."""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

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
