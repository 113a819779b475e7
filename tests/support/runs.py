"""Runs written straight to the database, as the API's run service writes them (for workflow tests that
start the run's workflow themselves)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from api import run_service
from api.run_bodies import AsyncRunBody
from db.engine import session_scope
from db.models import Run
from edgewise.catalog import CATALOG
from edgewise.crypto import Keyring


def direct_run(
    engine: Engine,
    keyring: Keyring,
    workspace_uid: str,
    slug: str,
    identity_uid: str,
    inputs: list[dict[str, Any]],
    parameters: dict[str, Any] | None = None,
) -> Run:
    """An async run of `slug` as one identity (`direct`), written as the API would; no workflow started."""
    spec = CATALOG[slug]
    body = AsyncRunBody(inputs=inputs, identity_ids=[identity_uid], parameters=parameters)
    with session_scope(engine) as session:
        return run_service.create_run(
            session,
            keyring,
            workspace_uid=workspace_uid,
            spec=spec,
            mode="direct",
            body=body,
            identity_ids=[identity_uid],
            parameters=run_service.check_parameters(spec, parameters),
            inputs=run_service.normalize_inputs(spec, inputs),
        )
