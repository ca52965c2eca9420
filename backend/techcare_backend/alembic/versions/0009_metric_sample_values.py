"""The numbers a rollup and a raw history point need, as columns of ``metric_samples`` written at ingest:
``cpu_percent``, ``ram_percent``, ``swap_percent``, ``disk_max_percent`` (the fullest disk) and ``smart_rank`` (the
worst SMART health: 0 passed, 1 unknown, 2 warning, 3 failing; NULL without SMART data).

Reading them out of each ~1 KB JSON payload cost ~80 us a sample in the maintenance pass (a whole day of 5,000
hosts: ~2 minutes; bench/README.md, "Metrics at fleet scale"). ``ADD COLUMN`` without a default changes only the
catalogue (on PostgreSQL it reaches every partition, no row is rewritten), so the migration is instant on a table
of any size. Samples stored before it keep NULL columns; ``cpu_percent`` is required in every sample, so NULL there
marks such a row, and the maintenance pass and the history read its numbers from the payload as before
(``core/metrics_maintenance.py``); within raw retention they age out on their own.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 14:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (("cpu_percent", sa.Float()), ("ram_percent", sa.Float()), ("swap_percent", sa.Float()),
           ("disk_max_percent", sa.Float()), ("smart_rank", sa.SmallInteger()))


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column("metric_samples", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _ in COLUMNS:
            op.drop_column("metric_samples", name)
    else:
        with op.batch_alter_table("metric_samples", schema=None) as batch_op:
            for name, _ in COLUMNS:
                batch_op.drop_column(name)
