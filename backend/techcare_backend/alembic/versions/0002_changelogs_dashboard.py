"""Repair changelogs uploaded by technicians; index for the dashboard's fleet status counts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 01:55:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'changelog_entries',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('organisation_id', sa.String(length=36), nullable=False),
        sa.Column('session', sa.String(length=80), nullable=False),
        sa.Column('entry_hash', sa.String(length=64), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
        sa.Column('event', sa.String(length=40), nullable=False),
        sa.Column('action', sa.String(length=120), nullable=True),
        sa.Column('step', sa.Integer(), nullable=True),
        sa.Column('host', sa.String(length=255), nullable=True),
        sa.Column('technician', sa.String(length=200), nullable=True),
        sa.Column('uploaded_by', sa.String(length=36), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('entry', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
                  nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('organisation_id', 'session', 'entry_hash', name='uq_changelog_entries_org_session_hash'),
    )
    with op.batch_alter_table('changelog_entries', schema=None) as batch_op:
        batch_op.create_index('ix_changelog_entries_org_ts', ['organisation_id', 'ts'], unique=False)
    with op.batch_alter_table('hosts', schema=None) as batch_op:
        batch_op.create_index('ix_hosts_org_last_seen', ['organisation_id', 'last_seen'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('hosts', schema=None) as batch_op:
        batch_op.drop_index('ix_hosts_org_last_seen')
    with op.batch_alter_table('changelog_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_changelog_entries_org_ts')
    op.drop_table('changelog_entries')
