"""egress proxies

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The state of the operator's egress pool (edgewise/egress.py): which identity holds which proxy, and
    # when a proxy was freed (it is not handed to another identity for 30 days).
    op.create_table(
        "egress_proxies",
        sa.Column("proxy_id", sa.String(length=128), nullable=False),
        sa.Column("identity_uid", sa.String(length=36), nullable=True),
        sa.Column("assigned_at", db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("released_at", db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["identity_uid"], ["identities.uid"]),
        sa.PrimaryKeyConstraint("proxy_id"),
        sa.UniqueConstraint("identity_uid", name="uq_egress_proxies_identity"),
    )


def downgrade() -> None:
    op.drop_table("egress_proxies")
