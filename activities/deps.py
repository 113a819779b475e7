"""Dependencies handed to activity classes by the worker (constructor injection, no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from temporalio.client import Client

from edgewise.config import Settings
from edgewise.crypto import Keyring
from linkedin.protocol import AdapterFactory


@dataclass
class ActivityDeps:
    settings: Settings
    engine: Engine
    keyring: Keyring
    client: Client
    adapter_factory: AdapterFactory
