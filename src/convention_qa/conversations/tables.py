"""The tables of the conversation database (SQLAlchemy 2 ORM). Alembic migrations
(``migrations/``) create and upgrade them; a change here needs a new migration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, DateTime, Dialect, ForeignKey, Index, Integer
from sqlalchemy import String as _String
from sqlalchemy import Text as _Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from convention_qa.conversations.owners import LEGACY
from convention_qa.text import valid_text

__all__ = ["MAX_TITLE_CHARS", "ApiKeyRow", "Base", "ConversationRow", "FeedbackRow", "TurnRow", "now", "storable"]

MAX_TITLE_CHARS = 120


def storable(text: str) -> str:
    """Text as every engine keeps it: PostgreSQL refuses NUL characters in text and neither engine
    can encode a lone surrogate, so NULs are dropped and surrogates become U+FFFD, on SQLite too
    (both engines keep, and find, the same thing)."""
    return valid_text(text.replace("\x00", "") if "\x00" in text else text)


class String(TypeDecorator[str]):
    """VARCHAR whose values (written or looked up) are ``storable``."""

    impl = _String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return storable(value) if isinstance(value, str) else value


class Text(String):
    """TEXT whose values are ``storable``."""

    impl = _Text
    cache_ok = True


class Base(DeclarativeBase):
    pass


def now() -> datetime:
    return datetime.now(UTC)


class ConversationRow(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_owner_updated_at", "owner", "updated_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), default=LEGACY, server_default=LEGACY)
    title: Mapped[str] = mapped_column(String(MAX_TITLE_CHARS))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, index=True)


class TurnRow(Base):
    """One question and the answer it got, with the configuration that produced the answer."""

    __tablename__ = "turns"
    __table_args__ = (Index("uq_turns_conversation_position", "conversation_id", "position", unique=True),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    abstained: Mapped[bool] = mapped_column(Boolean)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)  # the Answer as the API returns it
    config: Mapped[dict[str, Any]] = mapped_column(JSON)  # embedder, answer backend, prompt version, ...
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class FeedbackRow(Base):
    """A user's rating of one answer; rating it again replaces the earlier rating."""

    __tablename__ = "feedback"
    __table_args__ = (CheckConstraint("rating IN ('up', 'down')", name="ck_feedback_rating"),)

    turn_id: Mapped[str] = mapped_column(String(64), ForeignKey("turns.id", ondelete="CASCADE"), primary_key=True)
    rating: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    correction: Mapped[str | None] = mapped_column(Text, nullable=True)
    not_in_articles: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, index=True)


class ApiKeyRow(Base):
    """A user's API key: only its SHA-256 is kept (the key is shown once, when it is created)."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
