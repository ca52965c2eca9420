"""Remote jobs: ``jobs`` (the signed envelope as stored, plus the columns the backend routes on) and
``job_targets`` (status per host); changelog entries may name the job they belong to.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 07:05:00

``changelog_entries.job_id`` is a plain ``ADD COLUMN`` plus index (no batch rebuild of the table).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_by_key", sa.String(length=36), nullable=False),
        sa.Column("signer", sa.String(length=200), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.Column("host_count", sa.Integer(), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_jobs_org_created", "jobs", ["organisation_id", "created_at"], unique=False)
    op.create_table(
        "job_targets",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("steps", JSON, nullable=True),
        sa.Column("diagnosis", JSON, nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_job_targets_job", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "hostname"),
    )
    op.create_index("ix_job_targets_org_host_status", "job_targets", ["organisation_id", "hostname", "status"],
                    unique=False)
    op.add_column("changelog_entries", sa.Column("job_id", sa.String(length=32), nullable=True))
    op.create_index("ix_changelog_entries_org_job", "changelog_entries", ["organisation_id", "job_id"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_changelog_entries_org_job", table_name="changelog_entries")
    with op.batch_alter_table("changelog_entries", schema=None) as batch_op:
        batch_op.drop_column("job_id")
    op.drop_index("ix_job_targets_org_host_status", table_name="job_targets")
    op.drop_table("job_targets")
    op.drop_index("ix_jobs_org_created", table_name="jobs")
    op.drop_table("jobs")
