"""Dashboard logouts, stored durably: ``dashboard_session_revocations`` (one row per logged-out session id until the
cookie would have expired). Before, a logout lived only in the cache and was lost (or never written) while Redis
was unreachable, so a copied cookie stayed valid on this or another instance.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 07:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_session_revocations",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("key_id", sa.String(length=36), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index("ix_dashboard_session_revocations_expires", "dashboard_session_revocations", ["expires_at"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_dashboard_session_revocations_expires", table_name="dashboard_session_revocations")
    op.drop_table("dashboard_session_revocations")
