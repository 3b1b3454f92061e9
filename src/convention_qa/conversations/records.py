"""What the conversation database hands out: plain, frozen records, detached from the ORM."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from convention_qa.conversations.tables import FeedbackRow, TurnRow

__all__ = [
    "ApiKeyRecord",
    "ConversationSummary",
    "FeedbackRecord",
    "Rating",
    "TurnRecord",
    "feedback_record",
    "turn_record",
    "utc",
]

Rating = Literal["up", "down"]


@dataclass(frozen=True)
class ApiKeyRecord:
    name: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class ConversationSummary:
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    turns: int


@dataclass(frozen=True)
class FeedbackRecord:
    answer_id: str
    rating: Rating
    comment: str | None
    correction: str | None
    not_in_articles: bool
    created_at: datetime


@dataclass(frozen=True)
class TurnRecord:
    id: str
    conversation_id: str
    position: int
    question: str
    answer: str
    abstained: bool
    details: dict[str, Any]
    config: dict[str, Any]
    created_at: datetime
    feedback: FeedbackRecord | None = None
    history: tuple[str, ...] = ()  # the questions asked before it in its conversation (for export)


def utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite returns naive datetimes


def feedback_record(row: FeedbackRow | None) -> FeedbackRecord | None:
    if row is None:
        return None
    return FeedbackRecord(
        row.turn_id,
        "up" if row.rating == "up" else "down",
        row.comment,
        row.correction,
        row.not_in_articles,
        utc(row.created_at),
    )


def turn_record(row: TurnRow, feedback: FeedbackRow | None) -> TurnRecord:
    return TurnRecord(
        row.id,
        row.conversation_id,
        row.position,
        row.question,
        row.answer,
        row.abstained,
        dict(row.details or {}),
        dict(row.config or {}),
        utc(row.created_at),
        feedback_record(feedback),
    )
