"""schedules

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import db.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _uid(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, AutoString(length=36), nullable=nullable)


def _ts(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, db.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "schedules",
        _uid("uid"),
        _uid("workspace_uid"),
        sa.Column("name", AutoString(length=255), nullable=True),
        sa.Column("action_name", AutoString(length=64), nullable=False),
        sa.Column("status", AutoString(length=16), nullable=False),
        sa.Column("cron", AutoString(length=255), nullable=True),
        sa.Column("timezone", AutoString(length=64), nullable=False),
        _ts("schedule_at"),
        sa.Column("jitter_seconds", sa.Integer(), nullable=False),
        sa.Column("label", AutoString(length=255), nullable=True),
        sa.Column("identity_mode", AutoString(length=16), nullable=False),
        sa.Column("identity_ids", sa.JSON(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("callback_url", sa.Text(), nullable=True),
        sa.Column("callback_on", AutoString(length=8), nullable=True),
        sa.Column("callback_headers_enc", sa.Text(), nullable=True),
        sa.Column("inputs_count", sa.Integer(), nullable=False),
        sa.Column("inputs_total", sa.Integer(), nullable=False),
        sa.Column("runs_count", sa.Integer(), nullable=False),
        sa.Column("skipped_temporal", sa.Integer(), nullable=False),
        sa.Column("skipped_local", sa.Integer(), nullable=False),
        _uid("current_run_uid", nullable=True),
        _ts("last_executed_at"),
        _ts("armed_at"),
        _ts("armed_until"),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.ForeignKeyConstraint(["workspace_uid"], ["workspaces.uid"]),
        sa.PrimaryKeyConstraint("uid"),
    )
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedules_workspace_uid"), ["workspace_uid"], unique=False)
        batch_op.create_index(batch_op.f("ix_schedules_action_name"), ["action_name"], unique=False)
        batch_op.create_index(batch_op.f("ix_schedules_status"), ["status"], unique=False)
        batch_op.create_index("ix_schedules_workspace_created", ["workspace_uid", "created_at"], unique=False)

    op.create_table(
        "schedule_inputs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _uid("schedule_uid"),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("input", sa.JSON(), nullable=False),
        sa.Column("target_key", sa.Text(), nullable=False),
        sa.Column("custom_data", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["schedule_uid"], ["schedules.uid"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_uid", "index", name="uq_schedule_inputs_schedule_index"),
    )

    op.create_table(
        "schedule_firings",
        _uid("schedule_uid"),
        sa.Column("fire_key", AutoString(length=64), nullable=False),
        _ts("nominal_at", nullable=False),
        _uid("run_uid"),
        _ts("created_at", nullable=False),
        sa.ForeignKeyConstraint(["schedule_uid"], ["schedules.uid"]),
        sa.PrimaryKeyConstraint("schedule_uid", "fire_key"),
    )


def downgrade() -> None:
    op.drop_table("schedule_firings")
    op.drop_table("schedule_inputs")
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_index("ix_schedules_workspace_created")
        batch_op.drop_index(batch_op.f("ix_schedules_status"))
        batch_op.drop_index(batch_op.f("ix_schedules_action_name"))
        batch_op.drop_index(batch_op.f("ix_schedules_workspace_uid"))
    op.drop_table("schedules")
