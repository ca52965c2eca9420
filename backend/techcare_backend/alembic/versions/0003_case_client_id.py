"""Cases: optional client-generated ``case_id``, unique per organisation (idempotent re-sends, de-duplication).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 01:55:00

Plain ``ADD COLUMN`` / ``CREATE UNIQUE INDEX`` (no batch mode): on SQLite a batch rebuild of ``cases`` would drop the
FTS5 triggers. Existing cases keep ``case_id`` NULL; both databases allow any number of NULLs in a unique index.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("case_id", sa.String(length=64), nullable=True))
    op.create_index("ux_cases_org_case_id", "cases", ["organisation_id", "case_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_cases_org_case_id", table_name="cases")
    op.drop_column("cases", "case_id")
