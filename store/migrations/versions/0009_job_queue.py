"""the job queue: procrastinate's schema (PostgreSQL only) and how each job is run

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

On PostgreSQL, jobs run on procrastinate (``workflows/queue.py``). Its tables, types and
functions are procrastinate 3.10.0's ``schema.sql``, kept beside this file as it shipped
(``0009_procrastinate_3_10_0.sql``), so an existing database gets exactly the schema the
pinned library expects and a later upgrade of the library is a later migration that
applies procrastinate's own migration files for that step. They live in their own
PostgreSQL schema, ``procrastinate``, out of the app's tables' way: the queue's
connections put it first on their search path. SQLite has no queue and gets only the
two columns.
"""

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUE_SCHEMA = "procrastinate"
SCHEMA_SQL = Path(__file__).with_name("0009_procrastinate_3_10_0.sql")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("runner", sa.String(16)))
        batch.add_column(sa.Column("queue_job_id", sa.BigInteger()))
    with op.batch_alter_table("job_items") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False,
                                   server_default="0"))
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    bind.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {QUEUE_SCHEMA}")
    saved = bind.exec_driver_sql("SELECT current_setting('search_path')").scalar()
    # Transaction-local: the schema's objects are created in the queue's schema, then the
    # search path is back to what it was for the rest of the migration.
    bind.exec_driver_sql(f"SELECT set_config('search_path', '{QUEUE_SCHEMA}', true)")
    # The driver reads "%" as a placeholder (the SQL has "%" in its RAISE messages).
    bind.exec_driver_sql(SCHEMA_SQL.read_text(encoding="utf-8").replace("%", "%%"))
    bind.execute(sa.text("SELECT set_config('search_path', :path, true)"), {"path": saved})


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(f"DROP SCHEMA IF EXISTS {QUEUE_SCHEMA} CASCADE")
    with op.batch_alter_table("job_items") as batch:
        batch.drop_column("attempts")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("queue_job_id")
        batch.drop_column("runner")
