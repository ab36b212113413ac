"""The tables, as SQLAlchemy 2.x models. Each change here needs an Alembic migration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.db import utcnow


class Base(DeclarativeBase):
    pass


class SessionRow(Base):
    """A browser identity: the id lives in the page URL so a reload finds it again."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class MessageRow(Base):
    """One chat message. ``status`` is ok, error (the call failed) or partial (cut short)."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_session_id_id", "session_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False
    )
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="ok")
    tier: Mapped[str | None] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(200))
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class EventRow(Base):
    """A meaningful interaction (step done, form sent, job started, error shown)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_session_id_id", "session_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    page: Mapped[str | None] = mapped_column(String(120))
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class MemoryRow(Base):
    """A remembered fact. ``scope`` is ``session:<id>`` or ``global``."""

    __tablename__ = "memory"

    scope: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)
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
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    request_id: Mapped[str] = mapped_column(String(32), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    session_id: Mapped[str | None] = mapped_column(String(64))
    user: Mapped[str | None] = mapped_column(String(120))
    page: Mapped[str | None] = mapped_column(String(120))
    workflow: Mapped[str | None] = mapped_column(String(120))
    purpose: Mapped[str] = mapped_column(String(32), nullable=False)
    expert: Mapped[str | None] = mapped_column(String(120))
    tier: Mapped[str] = mapped_column(String(16), nullable=False)
    provider: Mapped[str] = mapped_column(String(32), nullable=False)
    model: Mapped[str] = mapped_column(String(200), nullable=False)
    prompt_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    usage_source: Mapped[str] = mapped_column(String(16), nullable=False, default="estimated")
    cost_nusd: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    counterfactual_nusd: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    reserved_nusd: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    ttft_ms: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    route_reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    error_text: Mapped[str | None] = mapped_column(Text)
