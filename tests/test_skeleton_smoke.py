"""Smoke: the shared fixtures start a real Temporal dev server and migrate a real database."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from temporalio.client import Client

from edgewise.temporal import serving


def test_migrations_create_every_table(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {"workspaces", "members", "identities", "integrations", "runs", "run_inputs", "run_outputs",
            "deliveries", "action_ledger", "idempotency_keys"} <= tables


async def test_temporal_dev_server_answers(temporal_client: Client) -> None:
    assert await serving(temporal_client, timeout=10) is True
