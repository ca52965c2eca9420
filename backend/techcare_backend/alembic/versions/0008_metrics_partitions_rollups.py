"""Metrics at fleet scale: ``metric_samples`` partitioned by day on PostgreSQL, hourly and daily rollups, and the
maintenance pass's bookkeeping (``core/metrics_maintenance.py``).

PostgreSQL: the existing table is renamed, a table ``PARTITION BY RANGE (ts)`` takes its name, one partition per
day that holds samples (days within ten years back and a year ahead; anything else, and any day not created yet,
lands in the ``DEFAULT`` partition, from which the maintenance pass moves rows into their day's partition once it
creates it), every row is copied over in one ``INSERT ... SELECT`` inside the migration's transaction, and the old
table is dropped; its id sequence lives on (ids stay unique and growing). A unique key of a partitioned table must
hold the partition key, so a sample is the same sample when ``(organisation_id, sample_id, ts)`` match (the sensor
re-sends exact copies). A BRIN index on ``received_at`` finds what arrived since the last pass at almost no ingest
cost. SQLite keeps its table and gains a plain ``received_at`` index.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 11:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTITIONED = """
CREATE TABLE metric_samples (
    id bigint NOT NULL DEFAULT nextval('metric_samples_id_seq'),
    organisation_id varchar(36) NOT NULL,
    sample_id varchar(64) NOT NULL,
    hostname varchar(255) NOT NULL,
    os varchar(10) NOT NULL,
    ts timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    payload jsonb NOT NULL,
    CONSTRAINT pk_metric_samples PRIMARY KEY (id, ts)
) PARTITION BY RANGE (ts)
"""


def _pg_upgrade() -> None:
    op.execute("ALTER TABLE metric_samples RENAME TO metric_samples_unpartitioned")
    op.execute("ALTER SEQUENCE metric_samples_id_seq OWNED BY NONE")
    op.execute("ALTER INDEX ix_metric_samples_org_host_ts RENAME TO ix_metric_samples_unpartitioned_host_ts")
    op.execute(PARTITIONED)
    op.execute("ALTER SEQUENCE metric_samples_id_seq OWNED BY metric_samples.id")
    op.execute("CREATE UNIQUE INDEX uq_metric_samples_org_sample_ts ON metric_samples (organisation_id, sample_id, ts)")
    op.execute("CREATE INDEX ix_metric_samples_org_host_ts ON metric_samples (organisation_id, hostname, ts)")
    op.execute("CREATE INDEX ix_metric_samples_received_brin ON metric_samples USING brin (received_at)")
    op.execute("CREATE TABLE metric_samples_default PARTITION OF metric_samples DEFAULT")
    # one partition per day that has samples, and the days around now (the maintenance pass keeps days ahead)
    op.execute("""
        DO $$
        DECLARE d date;
        BEGIN
          FOR d IN SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date FROM metric_samples_unpartitioned
                   WHERE ts >= now() - interval '3650 days' AND ts < now() + interval '365 days'
                   UNION SELECT generate_series((now() AT TIME ZONE 'UTC')::date - 1,
                                                (now() AT TIME ZONE 'UTC')::date + 7, interval '1 day')::date
          LOOP
            EXECUTE format('CREATE TABLE %I PARTITION OF metric_samples FOR VALUES FROM (%L) TO (%L)',
                           'metric_samples_p' || to_char(d, 'YYYYMMDD'),
                           (d::timestamp AT TIME ZONE 'UTC'), ((d + 1)::timestamp AT TIME ZONE 'UTC'));
          END LOOP;
        END $$""")
    op.execute("INSERT INTO metric_samples (id, organisation_id, sample_id, hostname, os, ts, received_at, payload) "
               "SELECT id, organisation_id, sample_id, hostname, os, ts, received_at, payload "
               "FROM metric_samples_unpartitioned")
    op.execute("DROP TABLE metric_samples_unpartitioned")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _pg_upgrade()
    else:
        with op.batch_alter_table("metric_samples", schema=None) as batch_op:
            batch_op.create_index("ix_metric_samples_received", ["received_at"], unique=False)
    op.create_table(
        "metric_rollups",
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("resolution", sa.String(length=4), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        *[sa.Column(f"{m}_{agg}", sa.Float(), nullable=True) for m in ("cpu", "ram", "swap", "disk")
          for agg in ("min", "avg", "max")],
        *[sa.Column(f"{m}_n", sa.Integer(), nullable=False, server_default="0") for m in ("cpu", "ram", "swap", "disk")],
        sa.Column("smart_worst", sa.String(length=10), nullable=True),
        sa.Column("smart_failing", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("organisation_id", "hostname", "resolution", "bucket"),
    )
    op.create_index("ix_metric_rollups_bucket", "metric_rollups", ["resolution", "bucket"])
    op.create_table(
        "metrics_maintenance",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.DateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("metrics_maintenance")
    op.drop_index("ix_metric_rollups_bucket", table_name="metric_rollups")
    op.drop_table("metric_rollups")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE metric_samples RENAME TO metric_samples_partitioned")
        op.execute("ALTER SEQUENCE metric_samples_id_seq OWNED BY NONE")
        op.execute("ALTER INDEX ix_metric_samples_org_host_ts RENAME TO ix_metric_samples_partitioned_host_ts")
        op.execute("CREATE TABLE metric_samples (id bigint NOT NULL DEFAULT nextval('metric_samples_id_seq') "
                   "PRIMARY KEY, organisation_id varchar(36) NOT NULL, sample_id varchar(64) NOT NULL, "
                   "hostname varchar(255) NOT NULL, os varchar(10) NOT NULL, ts timestamptz NOT NULL, "
                   "received_at timestamptz NOT NULL, payload jsonb NOT NULL, "
                   "CONSTRAINT uq_metric_samples_org_sample UNIQUE (organisation_id, sample_id))")
        op.execute("ALTER SEQUENCE metric_samples_id_seq OWNED BY metric_samples.id")
        op.execute("CREATE INDEX ix_metric_samples_org_host_ts ON metric_samples (organisation_id, hostname, ts)")
        op.execute("INSERT INTO metric_samples SELECT id, organisation_id, sample_id, hostname, os, ts, received_at, "
                   "payload FROM metric_samples_partitioned ON CONFLICT (organisation_id, sample_id) DO NOTHING")
        op.execute("DROP TABLE metric_samples_partitioned")
    else:
        with op.batch_alter_table("metric_samples", schema=None) as batch_op:
            batch_op.drop_index("ix_metric_samples_received")
