"""The worker's workflows and activities, wired to their dependencies. Each new workflow or activity
class is registered here, and only here."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client

from activities.deps import ActivityDeps
from db.engine import get_engine
from edgewise.config import Settings
from edgewise.crypto import load_keyring


def build_deps(client: Client, settings: Settings) -> ActivityDeps:
    from linkedin.http_adapter import http_adapter_factory

    return ActivityDeps(
        settings=settings,
        engine=get_engine(settings),
        keyring=load_keyring(settings),
        client=client,
        adapter_factory=http_adapter_factory(settings),
    )


def components(client: Client, settings: Settings) -> tuple[list[type], list[Any]]:
    deps = build_deps(client, settings)
    workflows: list[type] = []
    activities: list[Any] = []
    # --- registrations (one block per module) ---
    return workflows, activities
