"""Re-seal stored secrets under the newest at-rest key (`edgewise keys rewrap`), the last step of a key
rotation: after it, no row needs an older key and that key can leave EDGEWISE_ENCRYPTION_KEY.

The encrypted columns are found by convention in the SQLModel metadata (edgewise/crypto.py): a column named
`*_enc` or `ciphertext` in a table keyed by `uid`, whose blob was sealed with the row's uid as associated
data — so a table added later is covered without touching this file.

Safe while the platform runs: rows are read in small keyset-paged batches, and each is written back only
if it still holds the blob that was read (`WHERE uid = … AND col = <old blob>`), so a concurrent write — which
uses the newest key anyway — always wins. A blob no configured key opens is counted, never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from sqlalchemy import Column, Table, select, update
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from edgewise.crypto import Keyring

BATCH_SIZE = 500


@dataclass
class ColumnReport:
    table: str
    column: str
    rewrapped: int = 0  # re-sealed under the newest key (or, in a dry run, would be)
    current: int = 0  # already under the newest key
    unreadable: int = 0  # no configured key opens it: keep the old key until this is 0
    changed_meanwhile: int = 0  # rewritten by the platform between our read and our write


def encrypted_columns() -> list[tuple[Table, Column[str]]]:
    """Every encrypted column of the schema (see the module docstring for the convention)."""
    import db.models  # noqa: F401  (registers the tables in SQLModel.metadata)

    found: list[tuple[Table, Column[str]]] = []
    for table in SQLModel.metadata.sorted_tables:
        if "uid" not in table.c:
            continue
        for column in table.c:
            if column.name.endswith("_enc") or column.name == "ciphertext":
                found.append((table, column))
    return found


def rewrap_column(
    engine: Engine, keyring: Keyring, table: Table, column: Column[str], *, dry_run: bool = False
) -> ColumnReport:
    report = ColumnReport(table.name, column.name)
    uid = table.c.uid
    last = ""
    while True:
        query = select(uid, column).where(column.is_not(None), uid > last).order_by(uid).limit(BATCH_SIZE)
        with engine.begin() as conn:
            rows = conn.execute(query).all()
            for row_uid, blob in rows:
                if not keyring.needs_rewrap(blob):
                    report.current += 1
                    continue
                try:
                    fresh = keyring.rewrap(blob, associated=row_uid)
                except (ValueError, InvalidTag):
                    report.unreadable += 1
                    continue
                if dry_run:
                    report.rewrapped += 1
                    continue
                written = conn.execute(
                    update(table).where(uid == row_uid, column == blob).values({column.name: fresh})
                )
                if written.rowcount:
                    report.rewrapped += 1
                else:
                    report.changed_meanwhile += 1
        if len(rows) < BATCH_SIZE:
            return report
        last = rows[-1][0]


def rewrap_all(engine: Engine, keyring: Keyring, *, dry_run: bool = False) -> list[ColumnReport]:
    columns = encrypted_columns()
    return [rewrap_column(engine, keyring, table, column, dry_run=dry_run) for table, column in columns]
