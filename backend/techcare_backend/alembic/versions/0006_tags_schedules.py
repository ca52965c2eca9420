"""Groups and maintenance schedules (docs/remote-jobs.md §5): ``host_tags``, ``schedules`` (the signed envelope as
stored, plus the columns the backend routes on), ``schedule_occurrences`` (one row per schedule, host and
occurrence: the claim that hands it out once) and ``hosts.timezone`` (the IANA zone the sensor reports).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 07:45:00

``hosts.timezone`` is a plain ``ADD COLUMN`` (no batch rebuild of the table).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("hosts", sa.Column("timezone", sa.String(length=64), nullable=True))
    op.create_table(
        "host_tags",
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("tag", sa.String(length=127), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("organisation_id", "hostname", "tag"),
    )
    op.create_index("ix_host_tags_org_tag", "host_tags", ["organisation_id", "tag"], unique=False)
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("tag", sa.String(length=127), nullable=True),
        sa.Column("hosts", JSON, nullable=False),
        sa.Column("platforms", JSON, nullable=False),
        sa.Column("rrule", sa.String(length=500), nullable=False),
        sa.Column("dtstart", sa.String(length=19), nullable=False),
        sa.Column("window_minutes", sa.Integer(), nullable=False),
        sa.Column("catch_up", sa.Boolean(), nullable=False),
        sa.Column("allow_high_risk", sa.Boolean(), nullable=False),
        sa.Column("allow_reboot", sa.Boolean(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signer", sa.String(length=200), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_by", sa.String(length=200), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_schedules_org_tag", "schedules", ["organisation_id", "tag"], unique=False)
    op.create_table(
        "schedule_occurrences",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("schedule_id", sa.String(length=32), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("occurrence", sa.String(length=16), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("planned_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("steps", JSON, nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["schedule_id"], ["schedules.id"], name="fk_schedule_occurrences_schedule",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_id", "hostname", "occurrence", name="uq_schedule_occurrences"),
    )
    op.create_index("ix_schedule_occurrences_org_host", "schedule_occurrences",
                    ["organisation_id", "hostname", "planned_utc"], unique=False)
    op.create_index("ix_schedule_occurrences_org_planned", "schedule_occurrences",
                    ["organisation_id", "planned_utc"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_schedule_occurrences_org_planned", table_name="schedule_occurrences")
    op.drop_index("ix_schedule_occurrences_org_host", table_name="schedule_occurrences")
    op.drop_table("schedule_occurrences")
    op.drop_index("ix_schedules_org_tag", table_name="schedules")
    op.drop_table("schedules")
    op.drop_index("ix_host_tags_org_tag", table_name="host_tags")
    op.drop_table("host_tags")
    with op.batch_alter_table("hosts", schema=None) as batch_op:
        batch_op.drop_column("timezone")
