"""A fresh database per test session: a new PostgreSQL database, or a SQLite file in a temp dir."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from db.engine import normalize_url


def test_database_url() -> str:
    """TEST_DATABASE_URL selects PostgreSQL (CI sets it); unset → SQLite (the embedded default)."""
    return os.environ.get("TEST_DATABASE_URL", "").strip()


@contextmanager
def fresh_database(tmp_dir: Path, base_url: str | None = None) -> Iterator[str]:
    base_url = test_database_url() if base_url is None else base_url
    if not base_url or base_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_dir / f'edgewise-{uuid.uuid4().hex[:8]}.db'}"
        return
    base = make_url(normalize_url(base_url))
    name = f"edgewise_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
