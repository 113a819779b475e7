"""Developer helper: `python -m db.revision "msg"` autogenerates a migration against a scratch SQLite DB."""

from __future__ import annotations

import sys
import tempfile

from alembic import command

from db.migrate import alembic_config, upgrade


def main() -> None:
    message = sys.argv[1] if len(sys.argv) > 1 else "change"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/scratch.db"
        upgrade(url)
        command.revision(alembic_config(url), message=message, autogenerate=True)


if __name__ == "__main__":
    main()
