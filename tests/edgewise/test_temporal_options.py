"""Connecting to Temporal (edgewise/temporal_options.py, edgewise/namespace_setup.py): TLS and API-key
options for Temporal Cloud, and the search attributes a worker registers on start."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, TLSConfig

from edgewise.config import Settings
from edgewise.metrics import temporal_runtime
from edgewise.namespace_setup import ensure_search_attributes, missing_search_attributes
from edgewise.temporal import connect
from edgewise.temporal_options import TemporalConfigError, connection_options, tls_option
from workflows import search_attributes


def _settings(**values: str) -> Settings:
    return Settings.model_validate(values)


def test_plain_by_default_and_one_runtime_for_the_process() -> None:
    options = connection_options(_settings())
    assert options["tls"] is False and options["api_key"] is None
    assert options["runtime"] is temporal_runtime()  # the SDK metrics' runtime, shared


def test_an_api_key_is_sent_over_tls_only() -> None:
    options = connection_options(_settings(TEMPORAL_API_KEY="cloud-key-123"))
    assert options["api_key"] == "cloud-key-123" and options["tls"] is True


def test_tls_true_uses_the_system_trust_store() -> None:
    assert tls_option(_settings(TEMPORAL_TLS="true")) is True


def test_mtls_reads_the_client_certificate_key_and_ca(tmp_path: Path) -> None:
    for name in ("client.pem", "client.key", "ca.pem"):
        (tmp_path / name).write_bytes(f"-----BEGIN {name}-----\n".encode())
    option = tls_option(
        _settings(
            TEMPORAL_TLS_CERT=str(tmp_path / "client.pem"),
            TEMPORAL_TLS_KEY=str(tmp_path / "client.key"),
            TEMPORAL_TLS_CA=str(tmp_path / "ca.pem"),
            TEMPORAL_TLS_SERVER_NAME="acme.tmprl.cloud",
        )
    )
    assert isinstance(option, TLSConfig)
    assert option.client_cert == b"-----BEGIN client.pem-----\n"
    assert option.client_private_key == b"-----BEGIN client.key-----\n"
    assert option.server_root_ca_cert == b"-----BEGIN ca.pem-----\n"
    assert option.domain == "acme.tmprl.cloud"


def test_a_certificate_without_its_key_is_refused_naming_both(tmp_path: Path) -> None:
    (tmp_path / "client.pem").write_bytes(b"cert")
    with pytest.raises(TemporalConfigError, match="TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY"):
        tls_option(_settings(TEMPORAL_TLS_CERT=str(tmp_path / "client.pem")))


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TemporalConfigError, match=r"TEMPORAL_TLS_CA=.*cannot be read"):
        tls_option(_settings(TEMPORAL_TLS_CA=str(tmp_path / "missing.pem")))


async def test_tls_is_really_used_a_plain_server_refuses_the_handshake(settings: Settings) -> None:
    # The dev server speaks plain gRPC: a client that insists on TLS cannot connect to it.
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(connect(settings.model_copy(update={"temporal_tls": True})), timeout=60)
    plain = await connect(settings)
    assert await plain.service_client.check_health()


async def test_the_worker_registers_missing_search_attributes_once(temporal_client: Client) -> None:
    namespace = f"sa-{uuid.uuid4().hex[:8]}"
    await temporal_client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    for _ in range(100):  # a new namespace takes a moment to reach the server's cache
        try:
            await temporal_client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=namespace)
            )
            break
        except RPCError:
            await asyncio.sleep(0.1)
    wanted = sorted(key.name for key in search_attributes.ALL)
    assert sorted(await missing_search_attributes(temporal_client, namespace)) == wanted
    assert await ensure_search_attributes(temporal_client, namespace) == wanted
    assert await missing_search_attributes(temporal_client, namespace) == {}
    assert await ensure_search_attributes(temporal_client, namespace) == []


async def test_a_namespace_that_refuses_registration_only_warns(
    temporal_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    # What Temporal Cloud answers a worker is a refusal; here the namespace does not exist.
    with caplog.at_level("WARNING", logger="edgewise.temporal"):
        assert await ensure_search_attributes(temporal_client, f"missing-{uuid.uuid4().hex[:8]}") == []
    assert any("tcld" in record.getMessage() for record in caplog.records)
