"""account lifecycle: credentials logins in progress (pending_logins)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import db.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_logins",
        sa.Column("uid", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("workspace_uid", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("identity_uid", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("integration_uid", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("workflow_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("password_enc", sa.Text(), nullable=True),
        sa.Column("challenge_enc", sa.Text(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("previous_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("expires_at", db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["identity_uid"], ["identities.uid"]),
        sa.ForeignKeyConstraint(["workspace_uid"], ["workspaces.uid"]),
        sa.PrimaryKeyConstraint("uid"),
        sa.UniqueConstraint("identity_uid", name="uq_pending_logins_identity"),
    )


def downgrade() -> None:
    op.drop_table("pending_logins")
