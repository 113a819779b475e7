"""rate limit buckets

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 17:32:53.275892
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Bucket state is disposable: on PostgreSQL the table is UNLOGGED, so taking a token (a write on every API
    # request) costs no WAL flush. A crash empties it (every bucket starts full again); standbys lack it.
    unlogged = ["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else []
    op.create_table(
        "rate_limit_buckets",
        sa.Column("workspace_uid", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("bucket", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("tokens", sa.Double(), nullable=False),
        sa.Column("refilled_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_uid"], ["workspaces.uid"]),
        sa.PrimaryKeyConstraint("workspace_uid", "bucket"),
        prefixes=unlogged,
    )


def downgrade() -> None:
    op.drop_table("rate_limit_buckets")
