"""The numbers a rollup and a raw history point need, as columns of ``metric_samples`` written at ingest:
``cpu_percent``, ``ram_percent``, ``swap_percent``, ``disk_max_percent`` (the fullest disk) and ``smart_rank`` (the
worst SMART health: 0 passed, 1 unknown, 2 warning, 3 failing; NULL without SMART data).

Reading them out of each ~1 KB JSON payload cost ~80 us a sample in the maintenance pass (a whole day of 5,000
hosts: ~2 minutes; bench/README.md, "Metrics at fleet scale"). ``ADD COLUMN`` without a default changes only the
catalogue (on PostgreSQL it reaches every partition, no row is rewritten), so the migration is instant on a table
of any size. Samples stored before it keep NULL columns; ``cpu_percent`` is required in every sample, so NULL there
marks such a row, and the maintenance pass and the history read its numbers from the payload as before
(``core/metrics_maintenance.py``); within raw retention they age out on their own.

PostgreSQL: the host-and-time index carries the numbers too (``INCLUDE``), so a host's 24 hours and the
maintenance pass's re-roll of an hour are index-only scans over ~120 bytes a sample instead of reads of ~1.6 KB
heap rows (the bench VM keeps little in its page cache: a whole day of 5,000 hosts is 2.3 GB of heap, ~0.2 GB of
this index). It replaces ``ix_metric_samples_org_host_ts`` (same key); a partial index finds the samples stored
before this migration (``cpu_percent IS NULL``), whose numbers are only in the payload. Building both reads the
table once: on a large table the upgrade takes minutes (ingest waits meanwhile). ``metric_rollups`` leaves 30 % of
each new page free (``fillfactor``): the maintenance pass rewrites the current hour's rows every few minutes, and
with room on the page an update stays on it without new index entries (a HOT update).

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


INCLUDED = "id, received_at, " + ", ".join(name for name, _ in COLUMNS)


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column("metric_samples", sa.Column(name, type_, nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_metric_samples_host_values ON metric_samples (organisation_id, hostname, ts) "
                   f"INCLUDE ({INCLUDED})")
        op.execute("DROP INDEX ix_metric_samples_org_host_ts")
        op.execute("CREATE INDEX ix_metric_samples_payload_only ON metric_samples (organisation_id, hostname, ts) "
                   "WHERE cpu_percent IS NULL")
        op.execute("ALTER TABLE metric_rollups SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE metric_rollups RESET (fillfactor)")
        op.execute("CREATE INDEX ix_metric_samples_org_host_ts ON metric_samples (organisation_id, hostname, ts)")
        op.execute("DROP INDEX ix_metric_samples_payload_only")
        op.execute("DROP INDEX ix_metric_samples_host_values")
        for name, _ in COLUMNS:
            op.drop_column("metric_samples", name)
    else:
        with op.batch_alter_table("metric_samples", schema=None) as batch_op:
            for name, _ in COLUMNS:
                batch_op.drop_column(name)
