"""llm_calls: how able the answer was — scores, escalations and the user's verdict

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("llm_calls") as batch:
        # Why this attempt went up a tier: difficulty, confidence, validation or the user.
        batch.add_column(sa.Column("escalation", sa.String(16)))
        batch.add_column(sa.Column("difficulty", sa.Float()))
        batch.add_column(sa.Column("confidence", sa.Float()))
        # "Ask a stronger model" is a new request that points at the one it re-asks.
        batch.add_column(sa.Column("parent_request_id", sa.String(32)))
        # The user's thumbs on the answer this attempt gave: 1 up, 0 down.
        batch.add_column(sa.Column("feedback", sa.SmallInteger()))
        batch.add_column(sa.Column("feedback_at", sa.DateTime()))
        batch.create_index("ix_llm_calls_parent_request_id", ["parent_request_id"])


def downgrade() -> None:
    with op.batch_alter_table("llm_calls") as batch:
        batch.drop_index("ix_llm_calls_parent_request_id")
        for column in ("feedback_at", "feedback", "parent_request_id", "confidence",
                       "difficulty", "escalation"):
            batch.drop_column(column)
