"""conversations: a session can hold several conversations and switch between them

Existing messages are moved into one conversation per session, so nothing is lost.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "session_id",
            sa.String(64),
            sa.ForeignKey("sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_conversations_session_id", "conversations", ["session_id"])
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("conversation_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_messages_conversation_id", "conversations", ["conversation_id"], ["id"],
            ondelete="CASCADE",
        )
        batch.create_index("ix_messages_conversation_id_id", ["conversation_id", "id"])
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("active_conversation_id", sa.Integer(), nullable=True))

    # Move existing messages into one conversation per session.
    conn = op.get_bind()
    sessions = conn.execute(
        sa.text("SELECT DISTINCT session_id, MIN(created_at) FROM messages GROUP BY session_id")
    ).all()
    for session_id, first in sessions:
        conn.execute(
            sa.text(
                "INSERT INTO conversations (session_id, title, created_at) "
                "VALUES (:sid, 'Conversation', :at)"
            ),
            {"sid": session_id, "at": first},
        )
        conversation_id = conn.execute(
            sa.text("SELECT MAX(id) FROM conversations WHERE session_id = :sid"),
            {"sid": session_id},
        ).scalar()
        conn.execute(
            sa.text("UPDATE messages SET conversation_id = :cid WHERE session_id = :sid"),
            {"cid": conversation_id, "sid": session_id},
        )
        conn.execute(
            sa.text("UPDATE sessions SET active_conversation_id = :cid WHERE id = :sid"),
            {"cid": conversation_id, "sid": session_id},
        )


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("active_conversation_id")
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_conversation_id_id")
        batch.drop_constraint("fk_messages_conversation_id", type_="foreignkey")
        batch.drop_column("conversation_id")
    op.drop_index("ix_conversations_session_id", table_name="conversations")
    op.drop_table("conversations")
