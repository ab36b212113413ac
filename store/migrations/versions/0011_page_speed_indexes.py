"""indexes for the queries every page change makes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

The sidebar chat asks on every run whether the session narrated anything lately and how
many messages its conversation holds, and the Costs page and the router read the thumbs.
On a well-used database (5,000 messages, 100,000 ledger rows; bench/RESULTS.md, "pages")
these scanned every message of the session or every ledger row of the period:
- recent narration: 1 ms → 0.01 ms (messages by session, role and time);
- the conversation's message count: 0.9 → 0.45 ms (counted inside the index);
- the thumbs by tier, purpose or expert: 30 ms → 0.03 ms (ledger rows by verdict).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_messages_session_id_role_created_at", "messages", ["session_id", "role", "created_at"]),
    ("ix_messages_conversation_id_user", "messages", ["conversation_id", "user"]),
    ("ix_llm_calls_feedback_created_at", "llm_calls", ["feedback", "created_at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
