"""team mode: work belongs to a user; who changed which shared setting; budget alerts

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

Every row of work gets a ``user``; rows from before belong to the local user (``local``),
the one user of an install without sign-in, so a personal install keeps all its work.
Remembered facts move from one scope per browser session to one per user
(``user:local``); where two sessions remembered the same fact, the newest value is kept.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCAL = "local"
OWNED = {  # table → the index on its user column
    "sessions": ("ix_sessions_user", ["user"]),
    "conversations": ("ix_conversations_user_id", ["user", "id"]),
    "messages": None,
    "events": None,
    "tasks": ("ix_tasks_user", ["user"]),
    "jobs": ("ix_jobs_user_kind", ["user", "kind"]),
    "workflow_runs": ("ix_workflow_runs_user_workflow", ["user", "workflow"]),
}


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.String(254), primary_key=True),
        sa.Column("display_name", sa.String(254)),
        sa.Column("admin", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    users = sa.table("users", sa.column("name"), sa.column("admin"),
                     sa.column("created_at"), sa.column("last_seen_at"))
    op.execute(users.insert().values(name=LOCAL, admin=True, created_at=now, last_seen_at=now))
    for table, index in OWNED.items():
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("user", sa.String(254), nullable=False,
                                       server_default=LOCAL))
            if index:
                batch.create_index(index[0], index[1])
    with op.batch_alter_table("llm_calls") as batch:
        batch.alter_column("user", type_=sa.String(254), existing_type=sa.String(120))
        batch.create_index("ix_llm_calls_user_created_at", ["user", "created_at"])
    op.execute(sa.text("UPDATE llm_calls SET \"user\" = :local WHERE \"user\" IS NULL")
               .bindparams(local=LOCAL))
    _memory_to_the_local_user()
    op.create_table(
        "setting_changes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("user", sa.String(254), nullable=False),
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("old_value", sa.JSON()),
        sa.Column("new_value", sa.JSON()),
    )
    op.create_index("ix_setting_changes_created_at", "setting_changes", ["created_at"])
    op.create_table(
        "budget_alerts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("scope", sa.String(260), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("user", sa.String(254), nullable=False),
        sa.Column("session_id", sa.String(64)),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("delivered_at", sa.DateTime()),
    )
    op.create_index("ux_budget_alerts_day_scope_threshold", "budget_alerts",
                    ["day", "scope", "threshold"], unique=True)
    op.create_index("ix_budget_alerts_user_delivered_at", "budget_alerts",
                    ["user", "delivered_at"])


def _memory_to_the_local_user() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT scope, key, value, updated_at FROM memory WHERE scope LIKE 'session:%' "
        "ORDER BY updated_at, scope"
    )).all()
    newest: dict[str, tuple[str, object]] = {}
    for _scope, key, value, updated_at in rows:  # oldest first: the newest one wins
        newest[key] = (value, updated_at)
    bind.execute(sa.text("DELETE FROM memory WHERE scope LIKE 'session:%'"))
    for key, (value, updated_at) in newest.items():
        bind.execute(
            sa.text("INSERT INTO memory (scope, key, value, updated_at) "
                    "VALUES (:scope, :key, :value, :updated_at)"),
            {"scope": f"user:{LOCAL}", "key": key, "value": value, "updated_at": updated_at},
        )


def downgrade() -> None:
    op.drop_index("ix_budget_alerts_user_delivered_at", "budget_alerts")
    op.drop_index("ux_budget_alerts_day_scope_threshold", "budget_alerts")
    op.drop_table("budget_alerts")
    op.drop_index("ix_setting_changes_created_at", "setting_changes")
    op.drop_table("setting_changes")
    with op.batch_alter_table("llm_calls") as batch:
        batch.drop_index("ix_llm_calls_user_created_at")
        batch.alter_column("user", type_=sa.String(120), existing_type=sa.String(254))
    for table, index in reversed(OWNED.items()):
        with op.batch_alter_table(table) as batch:
            if index:
                batch.drop_index(index[0])
            batch.drop_column("user")
    op.drop_table("users")
    # Remembered facts stay in the local user's scope (user:local): the older app does
    # not read it, and an upgrade again finds them there.
