"""schedules

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # placeholder for issue 5 (schedules); filled in by that work


def downgrade() -> None:
    pass
