"""Which sensor key serves which host (docs/remote-jobs.md §3): ``host_sensor_keys`` ``(organisation_id,
hostname) -> key_id, pinned, bound_at``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 08:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "host_sensor_keys",
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("key_id", sa.String(length=36), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("bound_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("organisation_id", "hostname"),
    )
    op.create_index("ix_host_sensor_keys_key", "host_sensor_keys", ["key_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_host_sensor_keys_key", table_name="host_sensor_keys")
    op.drop_table("host_sensor_keys")
