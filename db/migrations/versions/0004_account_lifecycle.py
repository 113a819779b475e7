"""account lifecycle

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # placeholder for issue 4 (account lifecycle); filled in by that work


def downgrade() -> None:
    pass
