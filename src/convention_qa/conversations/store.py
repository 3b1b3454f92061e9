"""Conversations, their answers and the feedback on them, in the conversation database
(``database.py``: SQLite by default, or a PostgreSQL server shared by replicas).

Every conversation has an owner (``owners.py``); its answers and their ratings are the
owner's through it. Every call names the owner it acts for, and another owner's conversation or
answer is "not found", exactly like one that does not exist, so ids cannot be probed. The admin
acts on every owner's. The API keys that name owners live in the same database (``keys.py``).
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from convention_qa.contract import Answer, Exchange
from convention_qa.conversations.database import Database, connect
from convention_qa.conversations.keys import ApiKeys
from convention_qa.conversations.owners import ANONYMOUS_PREFIXES, Owner
from convention_qa.conversations.records import (
    ConversationSummary,
    FeedbackRecord,
    Rating,
    TurnRecord,
    feedback_record,
    turn_record,
    utc,
)
from convention_qa.conversations.tables import MAX_TITLE_CHARS, ConversationRow, FeedbackRow, TurnRow, now, storable
from convention_qa.errors import ConversationError, NotFoundError

__all__ = ["ConversationStore", "open_conversations"]

log = logging.getLogger(__name__)

_RECORD_ATTEMPTS = 20


class ConversationStore:
    """Thread-safe; one per process, shared by the API and the UI."""

    def __init__(
        self,
        database: Database,
        *,
        history_exchanges: int = 6,
        retention_days: float | None = None,
        anonymous_retention_days: float | None = None,
    ) -> None:
        self.database = database
        self.engine = database.engine
        self.keys = ApiKeys(database)
        self.history_exchanges = history_exchanges
        self.retention_days = retention_days
        self.anonymous_retention_days = anonymous_retention_days
        self._session = database.transaction
        self._pruned = 0.0
        self._prune_lock = threading.Lock()

    # -- the chat's memory (``memory.ChatMemory``, as the in-memory InMemoryChats) ----------

    def history(self, conversation_id: str, owner: Owner) -> list[Exchange]:
        """The conversation's last exchanges, oldest first."""
        with self._session() as session:
            if self._conversation(session, conversation_id, owner) is None:
                raise NotFoundError(
                    f"unknown or expired session_id {conversation_id[:64]!r} (no such conversation of yours): "
                    "a conversation belongs to the cookie or key that started it, so send the same key "
                    "(Authorization: Bearer KEY) or keep the cookies (curl -b jar -c jar); "
                    "omit session_id to start a new conversation"
                )
            rows = session.scalars(
                select(TurnRow)
                .where(TurnRow.conversation_id == conversation_id)
                .order_by(TurnRow.position.desc())
                .limit(max(1, self.history_exchanges))
            ).all()
        return [Exchange(row.question, row.answer) for row in reversed(rows)]

    def record(
        self, conversation_id: str, question: str, answer: Answer, config: dict[str, Any], owner: Owner
    ) -> str | None:
        """Store a question and its answer; the answer's id (for feedback). NotFoundError when the
        conversation was deleted meanwhile (or is not this owner's)."""
        details = answer.model_dump(mode="json", by_alias=True)
        turn_id = secrets.token_urlsafe(12)
        for attempt in range(_RECORD_ATTEMPTS):
            try:
                with self._session() as session:
                    conversation = self._conversation(session, conversation_id, owner)
                    if conversation is None:
                        raise NotFoundError(f"conversation {conversation_id[:64]!r} is gone: it was deleted")
                    position = session.scalar(
                        select(func.coalesce(func.max(TurnRow.position), -1) + 1).where(
                            TurnRow.conversation_id == conversation_id
                        )
                    )
                    session.add(
                        TurnRow(
                            id=turn_id,
                            conversation_id=conversation_id,
                            position=int(position or 0),
                            question=question,
                            answer=answer.text,
                            abstained=answer.abstained,
                            details=details,
                            config=config,
                        )
                    )
                    conversation.updated_at = now()
                break
            except IntegrityError:
                # Another replica took this position in the same instant: take the next one.
                if attempt == _RECORD_ATTEMPTS - 1:
                    raise ConversationError(
                        "could not store the answer: its conversation is written too fast"
                    ) from None
                time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
        self.prune_if_due()
        return turn_id

    # -- conversations ----------------------------------------------------------------------

    def start(self, title: str, owner: Owner) -> str:
        """A new, empty conversation of this owner; its id."""
        conversation_id = secrets.token_urlsafe(16)
        title = " ".join(title.split())[:MAX_TITLE_CHARS] or "Conversation"
        with self._session() as session:
            session.add(ConversationRow(id=conversation_id, owner=owner.id, title=title))
        return conversation_id

    def summaries(self, owner: Owner, limit: int = 100, offset: int = 0) -> list[ConversationSummary]:
        """The owner's conversations (the admin: everyone's), most recently used first."""
        counts = select(TurnRow.conversation_id, func.count().label("n")).group_by(TurnRow.conversation_id).subquery()
        query = select(ConversationRow, func.coalesce(counts.c.n, 0)).outerjoin(
            counts, counts.c.conversation_id == ConversationRow.id
        )
        if not owner.admin:
            query = query.where(ConversationRow.owner == owner.id)
        with self._session() as session:
            rows = session.execute(
                query.order_by(ConversationRow.updated_at.desc(), ConversationRow.id).limit(limit).offset(offset)
            ).all()
        return [ConversationSummary(c.id, c.title, utc(c.created_at), utc(c.updated_at), int(n)) for c, n in rows]

    def get(self, conversation_id: str, owner: Owner) -> tuple[ConversationSummary, list[TurnRecord]]:
        with self._session() as session:
            conversation = self._conversation(session, conversation_id, owner)
            if conversation is None:
                raise NotFoundError(
                    f"no conversation with id {conversation_id[:64]!r}: GET /api/conversations lists them"
                )
            rows = session.execute(
                select(TurnRow, FeedbackRow)
                .outerjoin(FeedbackRow, FeedbackRow.turn_id == TurnRow.id)
                .where(TurnRow.conversation_id == conversation_id)
                .order_by(TurnRow.position)
            ).all()
        turns = [turn_record(t, f) for t, f in rows]
        summary = ConversationSummary(
            conversation.id,
            conversation.title,
            utc(conversation.created_at),
            utc(conversation.updated_at),
            len(turns),
        )
        return summary, turns

    def delete(self, conversation_id: str, owner: Owner) -> bool:
        """Remove a conversation with its answers and their feedback; False if the owner has none
        with this id."""
        with self._session() as session:
            if self._conversation(session, conversation_id, owner) is None:
                return False
            return self._remove(session, conversation_id)

    def prune(self, older_than_days: float, *, anonymous_only: bool = False) -> int:
        """Remove the conversations untouched for this many days (only anonymous owners' with
        ``anonymous_only``); how many went."""
        cutoff = now() - timedelta(days=older_than_days)
        old = select(ConversationRow.id).where(ConversationRow.updated_at < cutoff)
        if anonymous_only:
            old = old.where(or_(*(ConversationRow.owner.startswith(p) for p in ANONYMOUS_PREFIXES)))
        with self._session() as session:
            ids = list(session.scalars(old).all())
        for conversation_id in ids:
            with self._session() as session:
                self._remove(session, conversation_id)
        return len(ids)

    def prune_if_due(self) -> None:
        """Apply the retention settings, at most once an hour."""
        if self.retention_days is None and self.anonymous_retention_days is None:
            return
        with self._prune_lock:
            if time.monotonic() - self._pruned < 3600 and self._pruned:
                return
            self._pruned = time.monotonic()
        if self.retention_days is not None:
            removed = self.prune(self.retention_days)
            if removed:
                log.info("removed %d conversations older than %g days", removed, self.retention_days)
        if self.anonymous_retention_days is not None:
            days = self.anonymous_retention_days
            removed = self.prune(days, anonymous_only=True)
            if removed:
                log.info("removed %d anonymous conversations older than %g days", removed, days)

    # -- feedback -------------------------------------------------------------------------

    def rate(
        self,
        answer_id: str,
        rating: Rating,
        owner: Owner,
        *,
        comment: str | None = None,
        correction: str | None = None,
        not_in_articles: bool = False,
    ) -> FeedbackRecord:
        """Rate an answer (again: the new rating replaces the old)."""
        try:
            return self._rate(answer_id, rating, owner, comment, correction, not_in_articles)
        except IntegrityError:  # the answer was deleted (or rated) in the same instant elsewhere
            raise NotFoundError(f"no answer with id {answer_id[:64]!r}: it was just deleted") from None

    def _rate(
        self,
        answer_id: str,
        rating: Rating,
        owner: Owner,
        comment: str | None,
        correction: str | None,
        not_in_articles: bool,
    ) -> FeedbackRecord:
        with self._session() as session:
            turn = session.get(TurnRow, answer_id) if storable(answer_id) == answer_id else None
            if turn is None or self._conversation(session, turn.conversation_id, owner) is None:
                raise NotFoundError(f"no answer with id {answer_id[:64]!r}: answer_id comes from /api/chat")
            row = session.get(FeedbackRow, answer_id)
            if row is None:
                row = FeedbackRow(turn_id=answer_id)
                session.add(row)
            # As kept (``storable``), so that what is returned is what a later read finds.
            row.rating, row.comment = rating, storable(comment) if comment else None
            row.correction = storable(correction) if correction else None
            row.not_in_articles, row.created_at = not_in_articles, now()
            session.flush()
            record = feedback_record(row)
        assert record is not None
        return record

    def rated(self, owner: Owner, rating: Rating | None = None) -> list[TurnRecord]:
        """The owner's rated answers (the admin: everyone's; of this rating), oldest first, with
        the questions before each."""
        query = select(TurnRow, FeedbackRow).join(FeedbackRow, FeedbackRow.turn_id == TurnRow.id)
        if not owner.admin:
            query = query.join(ConversationRow, ConversationRow.id == TurnRow.conversation_id).where(
                ConversationRow.owner == owner.id
            )
        if rating is not None:
            query = query.where(FeedbackRow.rating == rating)
        with self._session() as session:
            rows = session.execute(query.order_by(FeedbackRow.created_at, TurnRow.id)).all()
            conversations = {turn.conversation_id for turn, _ in rows}
            asked = session.execute(
                select(TurnRow.conversation_id, TurnRow.position, TurnRow.question)
                .where(TurnRow.conversation_id.in_(conversations))
                .order_by(TurnRow.position)
            ).all()  # one query for every conversation's questions, not one per rated answer
        questions: dict[str, list[tuple[int, str]]] = {}
        for conversation_id, position, question in asked:
            questions.setdefault(conversation_id, []).append((position, question))
        return [
            replace(
                turn_record(t, f),
                history=tuple(q for p, q in questions.get(t.conversation_id, []) if p < t.position),
            )
            for t, f in rows
        ]

    def counts(self) -> dict[str, int]:
        """Rows per table (for checks and /health)."""
        with self._session() as session:
            return {
                "conversations": session.scalar(select(func.count()).select_from(ConversationRow)) or 0,
                "answers": session.scalar(select(func.count()).select_from(TurnRow)) or 0,
                "feedback": session.scalar(select(func.count()).select_from(FeedbackRow)) or 0,
            }

    @staticmethod
    def _conversation(session: Session, conversation_id: str, owner: Owner) -> ConversationRow | None:
        """The conversation if this owner may see it: another owner's is as absent as a missing one
        (and so is an id no conversation could have: one with a NUL or a lone surrogate)."""
        if storable(conversation_id) != conversation_id:
            return None
        row = session.get(ConversationRow, conversation_id)
        return row if row is not None and (owner.admin or row.owner == owner.id) else None

    @staticmethod
    def _remove(session: Session, conversation_id: str) -> bool:
        turn_ids = select(TurnRow.id).where(TurnRow.conversation_id == conversation_id)
        session.execute(delete(FeedbackRow).where(FeedbackRow.turn_id.in_(turn_ids)))
        session.execute(delete(TurnRow).where(TurnRow.conversation_id == conversation_id))
        removed = session.execute(delete(ConversationRow).where(ConversationRow.id == conversation_id))
        return bool(getattr(removed, "rowcount", 0))


def open_conversations(
    url: str,
    *,
    history_exchanges: int = 6,
    retention_days: float | None = None,
    anonymous_retention_days: float | None = None,
) -> ConversationStore:
    """Connect, migrate, prune by retention; a ConversationError that says what to fix if it cannot."""
    store = ConversationStore(
        connect(url),
        history_exchanges=history_exchanges,
        retention_days=retention_days,
        anonymous_retention_days=anonymous_retention_days,
    )
    store.prune_if_due()  # at start, then at most hourly on writes
    return store
