"""The tables, as SQLAlchemy 2.x models. Each change here needs an Alembic migration.

Every text column is a ``StoredString`` / ``StoredText``: the database types are plain
VARCHAR and TEXT, but a value is made storable on its way in (``store.text.storable``),
so the same input is saved alike on SQLite and PostgreSQL instead of failing on one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import false

from store.db import utcnow
from store.text import storable


class StoredString(TypeDecorator[str]):
    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return storable(value) if isinstance(value, str) else value


class StoredText(StoredString):
    impl = Text
    cache_ok = True


class Base(DeclarativeBase):
    pass


class UserRow(Base):
    """A person who uses Ambient: ``local`` without sign-in, else the signed-in e-mail.

    ``admin`` is decided at each sign-in (AMBIENT_ADMINS, or the admin group claim), so
    code below the UI can ask whether the owner of a session may change shared settings.
    """

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(StoredString(254), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(StoredString(254))
    admin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False,
                                        server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)


_OWNER_DEFAULT = "local"  # rows from before sign-in belong to the local user (migration 0010)


def _owner_column() -> Mapped[str]:
    return mapped_column(StoredString(254), nullable=False, default=_OWNER_DEFAULT,
                         server_default=_OWNER_DEFAULT)


class SessionRow(Base):
    """A browser tab: the id lives in the page URL so a reload finds it again. A session
    belongs to one user; the work made in it belongs to that user."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_user", "user"),)

    id: Mapped[str] = mapped_column(StoredString(64), primary_key=True)
    user: Mapped[str] = _owner_column()
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    active_conversation_id: Mapped[int | None] = mapped_column(Integer)


class ConversationRow(Base):
    """One thread of chat; a session can start new ones and switch back to old ones."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_session_id", "session_id"),
        Index("ix_conversations_user_id", "user", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        StoredString(64), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False
    )
    user: Mapped[str] = _owner_column()
    title: Mapped[str] = mapped_column(StoredString(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class MessageRow(Base):
    """One chat message. ``status`` is ok, error (the call failed) or partial (cut short)."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_session_id_id", "session_id", "id"),
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
        Index("ix_messages_session_id_role_created_at", "session_id", "role", "created_at"),
        Index("ix_messages_conversation_id_user", "conversation_id", "user"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        StoredString(64), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False
    )
    conversation_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    user: Mapped[str] = _owner_column()
    role: Mapped[str] = mapped_column(StoredString(16), nullable=False)
    content: Mapped[str] = mapped_column(StoredText, nullable=False, default="")
    status: Mapped[str] = mapped_column(StoredString(16), nullable=False, default="ok")
    tier: Mapped[str | None] = mapped_column(StoredString(16))
    model: Mapped[str | None] = mapped_column(StoredString(200))
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class EventRow(Base):
    """A meaningful interaction (step done, form sent, job started, error shown)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_session_id_id", "session_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        StoredString(64), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False
    )
    user: Mapped[str] = _owner_column()
    kind: Mapped[str] = mapped_column(StoredString(64), nullable=False)
    page: Mapped[str | None] = mapped_column(StoredString(120))
    summary: Mapped[str] = mapped_column(StoredText, nullable=False)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class MemoryRow(Base):
    """A remembered fact. ``scope`` is ``session:<id>`` or ``global``."""

    __tablename__ = "memory"

    scope: Mapped[str] = mapped_column(StoredString(80), primary_key=True)
    key: Mapped[str] = mapped_column(StoredString(120), primary_key=True)
    value: Mapped[str] = mapped_column(StoredText, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class LLMCallRow(Base):
    """One LLM attempt in the cost ledger (also budget reservations while a call runs).

    Money is in nano-dollars (integers) so sums are exact. ``counterfactual_nusd`` is what
    the same tokens would have cost on the reference cloud model; it is booked only on the
    attempt whose answer was used (an all-cloud run would not have made the failed ones).
    """

    __tablename__ = "llm_calls"
    __table_args__ = (
        Index("ix_llm_calls_created_at", "created_at"),
        Index("ix_llm_calls_session_id", "session_id"),
        Index("ix_llm_calls_request_id", "request_id"),
        Index("ix_llm_calls_parent_request_id", "parent_request_id"),
        Index("ix_llm_calls_user_created_at", "user", "created_at"),
        Index("ix_llm_calls_feedback_created_at", "feedback", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    request_id: Mapped[str] = mapped_column(StoredString(32), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    session_id: Mapped[str | None] = mapped_column(StoredString(64))
    user: Mapped[str | None] = mapped_column(StoredString(254))
    page: Mapped[str | None] = mapped_column(StoredString(120))
    workflow: Mapped[str | None] = mapped_column(StoredString(120))
    purpose: Mapped[str] = mapped_column(StoredString(32), nullable=False)
    expert: Mapped[str | None] = mapped_column(StoredString(120))
    tier: Mapped[str] = mapped_column(StoredString(16), nullable=False)
    provider: Mapped[str] = mapped_column(StoredString(32), nullable=False)
    model: Mapped[str] = mapped_column(StoredString(200), nullable=False)
    prompt_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    usage_source: Mapped[str] = mapped_column(StoredString(16), nullable=False, default="estimated")
    cost_nusd: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    counterfactual_nusd: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    reserved_nusd: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    ttft_ms: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(StoredString(16), nullable=False)
    route_reason: Mapped[str] = mapped_column(StoredText, nullable=False, default="")
    error_text: Mapped[str | None] = mapped_column(StoredText)
    escalation: Mapped[str | None] = mapped_column(StoredString(16))
    difficulty: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    parent_request_id: Mapped[str | None] = mapped_column(StoredString(32))
    feedback: Mapped[int | None] = mapped_column(SmallInteger)
    feedback_at: Mapped[datetime | None] = mapped_column(DateTime)


# ``LLMCallRow.feedback``: 1 thumbs up, 0 thumbs down, NULL not rated. Queries ask for
# ``feedback IN VERDICT_VALUES``, which SQLite answers from ix_llm_calls_feedback_created_at.
VERDICT_VALUES = (1, 0)


class TaskRow(Base):
    """A to-do on the Tasks page. Priority 1 is the highest; ``position`` orders ties."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_session_id", "session_id"),
        Index("ix_tasks_user", "user"),
        CheckConstraint("priority BETWEEN 1 AND 5", name="ck_tasks_priority"),
        CheckConstraint("status IN ('open', 'done')", name="ck_tasks_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        StoredString(64), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False
    )
    user: Mapped[str] = _owner_column()
    title: Mapped[str] = mapped_column(StoredString(200), nullable=False)
    notes: Mapped[str] = mapped_column(StoredText, nullable=False, default="")
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    status: Mapped[str] = mapped_column(StoredString(8), nullable=False, default="open")
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)


class JobRow(Base):
    """A long-running job (an analysis, the reference long job), persisted item by item."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_session_id_kind", "session_id", "kind"),
        Index("ix_jobs_user_kind", "user", "kind"),
    )

    id: Mapped[str] = mapped_column(StoredString(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        StoredString(64), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False
    )
    user: Mapped[str] = _owner_column()
    kind: Mapped[str] = mapped_column(StoredString(60), nullable=False)
    title: Mapped[str] = mapped_column(StoredString(200), nullable=False)
    status: Mapped[str] = mapped_column(StoredString(16), nullable=False)
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    completed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(StoredText)
    cancel_requested: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    worker: Mapped[str | None] = mapped_column(StoredString(120))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    # "queue" (PostgreSQL: a procrastinate job, any worker) or "thread" (this process);
    # NULL on rows from before migration 0009, which were all threads.
    runner: Mapped[str | None] = mapped_column(StoredString(16))
    queue_job_id: Mapped[int | None] = mapped_column(BigInteger)  # procrastinate_jobs.id


class JobItemRow(Base):
    """One unit of a job's work; its result is written as soon as it is done."""

    __tablename__ = "job_items"
    __table_args__ = (Index("ux_job_items_job_id_idx", "job_id", "idx", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(
        StoredString(32), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
    )
    idx: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(StoredString(16), nullable=False, default="pending")
    input: Mapped[Any] = mapped_column(JSON)
    result: Mapped[Any] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(StoredText)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    # How many times a queue worker started this item: 2 or more means a worker died (or
    # was stopped) inside it and another did it again.
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0,
                                          server_default="0")


class WorkflowRunRow(Base):
    """A workflow page's run: each step's state and data, and which cards are open."""

    __tablename__ = "workflow_runs"
    __table_args__ = (
        Index("ix_workflow_runs_session_id_workflow", "session_id", "workflow"),
        Index("ix_workflow_runs_user_workflow", "user", "workflow"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        StoredString(64), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False
    )
    user: Mapped[str] = _owner_column()
    workflow: Mapped[str] = mapped_column(StoredString(60), nullable=False)
    status: Mapped[str] = mapped_column(StoredString(16), nullable=False, default="active")
    steps: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)


class SettingRow(Base):
    """A setting the user changed on the Settings page (the environment gives the defaults)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(StoredString(80), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class SettingChangeRow(Base):
    """One change of a shared setting (a budget, the privacy mode, a price, a shared
    expert): who made it, when, and the value before and after. Admins read them on the
    Activity page. Secrets are never settings, so nothing here is secret."""

    __tablename__ = "setting_changes"
    __table_args__ = (Index("ix_setting_changes_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    user: Mapped[str] = mapped_column(StoredString(254), nullable=False)
    key: Mapped[str] = mapped_column(StoredString(120), nullable=False)
    old_value: Mapped[Any] = mapped_column(JSON)
    new_value: Mapped[Any] = mapped_column(JSON)


class BudgetAlertRow(Base):
    """A budget threshold crossed (80 or 100 % of a day's cap), once per day, budget and
    threshold: the unique index is what makes "once" hold under concurrent calls.
    ``scope`` is ``team`` or ``user:<name>``; ``user`` is whose call crossed it, and the
    notice goes into that user's chat (``delivered_at`` set when it is posted)."""

    __tablename__ = "budget_alerts"
    __table_args__ = (
        Index("ux_budget_alerts_day_scope_threshold", "day", "scope", "threshold",
              unique=True),
        Index("ix_budget_alerts_user_delivered_at", "user", "delivered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    day: Mapped[str] = mapped_column(StoredString(10), nullable=False)
    scope: Mapped[str] = mapped_column(StoredString(260), nullable=False)
    threshold: Mapped[int] = mapped_column(Integer, nullable=False)
    user: Mapped[str] = mapped_column(StoredString(254), nullable=False)
    session_id: Mapped[str | None] = mapped_column(StoredString(64))
    message: Mapped[str] = mapped_column(StoredText, nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
