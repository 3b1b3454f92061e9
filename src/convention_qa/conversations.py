"""Conversations, their answers and the feedback on them, in a real database.

SQLite under the data directory by default (WAL mode); a PostgreSQL server when
``CONVENTION_QA_DATABASE_URL`` says so, so that several app replicas share one store. SQLAlchemy
2 maps the tables; Alembic migrations (``migrations/``) create and upgrade them at startup.

Every conversation has an owner (``owners.py``); its answers and their ratings are the
owner's through it. Every call names the owner it acts for, and another owner's conversation or
answer is "not found", exactly like one that does not exist, so ids cannot be probed. The admin
acts on every owner's.

Every write is one short transaction: a process killed mid-burst loses at most the requests in
flight, and the database opens cleanly afterwards.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import random
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    delete,
    event,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from convention_qa.contract import Answer, Message
from convention_qa.errors import ConfigError, NotFoundError, StoreError
from convention_qa.owners import LEGACY, USER_KEY_PREFIX, Owner

__all__ = [
    "ApiKeyRecord",
    "ConversationStore",
    "ConversationSummary",
    "FeedbackRecord",
    "Rating",
    "TurnRecord",
    "database_url",
    "migrate",
    "open_conversations",
]

log = logging.getLogger(__name__)

Rating = Literal["up", "down"]
MAX_TITLE_CHARS = 120
MIGRATIONS = Path(__file__).with_name("migrations")
_RECORD_ATTEMPTS = 20
_KEY_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")


class Base(DeclarativeBase):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


class ConversationRow(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_owner_updated_at", "owner", "updated_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), default=LEGACY, server_default=LEGACY)
    title: Mapped[str] = mapped_column(String(MAX_TITLE_CHARS))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)


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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class FeedbackRow(Base):
    """A user's rating of one answer; rating it again replaces the earlier rating."""

    __tablename__ = "feedback"
    __table_args__ = (CheckConstraint("rating IN ('up', 'down')", name="ck_feedback_rating"),)

    turn_id: Mapped[str] = mapped_column(String(64), ForeignKey("turns.id", ondelete="CASCADE"), primary_key=True)
    rating: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    correction: Mapped[str | None] = mapped_column(Text, nullable=True)
    not_in_articles: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)


class ApiKeyRow(Base):
    """A user's API key: only its SHA-256 is kept (the key is shown once, when it is created)."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


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


def database_url(data_dir: Path, configured: str | None) -> str:
    """The configured URL, or the SQLite file under the data directory."""
    if configured:
        return configured
    return f"sqlite:///{(data_dir / 'conversations.db').resolve()}"


def _hash_key(key: str) -> str:
    # Keys are 256 random bits: a fast hash is enough (there is no password to guess).
    return hashlib.sha256(key.encode()).hexdigest()


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite returns naive datetimes


def _feedback(row: FeedbackRow | None) -> FeedbackRecord | None:
    if row is None:
        return None
    return FeedbackRecord(
        row.turn_id,
        "up" if row.rating == "up" else "down",
        row.comment,
        row.correction,
        row.not_in_articles,
        _utc(row.created_at),
    )


class ConversationStore:
    """Thread-safe; one per process, shared by the API and the UI."""

    def __init__(self, engine: Engine, *, history_messages: int = 12, retention_days: float | None = None) -> None:
        self.engine = engine
        self.history_messages = history_messages
        self.retention_days = retention_days
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._pruned = 0.0
        self._prune_lock = threading.Lock()

    # -- the chat's memory (the same two calls as the in-memory SessionStore) -------------

    def history(self, conversation_id: str, owner: Owner) -> list[Message]:
        """The conversation's last messages (HISTORY_TURNS), oldest first."""
        with self._session() as session:
            if self._conversation(session, conversation_id, owner) is None:
                raise NotFoundError(
                    f"unknown or expired session_id {conversation_id[:64]!r} (no such conversation): "
                    "omit it to start a new conversation"
                )
            rows = session.scalars(
                select(TurnRow)
                .where(TurnRow.conversation_id == conversation_id)
                .order_by(TurnRow.position.desc())
                .limit(max(1, self.history_messages // 2))
            ).all()
        history: list[Message] = []
        for row in reversed(rows):
            history += [{"role": "user", "content": row.question}, {"role": "assistant", "content": row.answer}]
        return history

    def record(
        self, conversation_id: str, question: str, answer: Answer, config: dict[str, Any], owner: Owner
    ) -> str | None:
        """Store a question and its answer; the answer's id (for feedback), or None when the
        conversation was deleted meanwhile (or is not this owner's)."""
        details = answer.model_dump(mode="json", by_alias=True)
        turn_id = secrets.token_urlsafe(12)
        for attempt in range(_RECORD_ATTEMPTS):
            try:
                with self._session() as session:
                    conversation = self._conversation(session, conversation_id, owner)
                    if conversation is None:
                        return None
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
                    conversation.updated_at = _now()
                break
            except IntegrityError:
                # Another replica took this position in the same instant: take the next one.
                if attempt == _RECORD_ATTEMPTS - 1:
                    raise StoreError("could not store the answer: its conversation is being written too fast") from None
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
        return [ConversationSummary(c.id, c.title, _utc(c.created_at), _utc(c.updated_at), int(n)) for c, n in rows]

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
        turns = [self._turn(t, f) for t, f in rows]
        summary = ConversationSummary(
            conversation.id,
            conversation.title,
            _utc(conversation.created_at),
            _utc(conversation.updated_at),
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

    def prune(self, older_than_days: float) -> int:
        """Remove the conversations untouched for this many days; how many went."""
        cutoff = _now() - timedelta(days=older_than_days)
        with self._session() as session:
            old = select(ConversationRow.id).where(ConversationRow.updated_at < cutoff)
            ids = list(session.scalars(old).all())
        for conversation_id in ids:
            with self._session() as session:
                self._remove(session, conversation_id)
        return len(ids)

    def prune_if_due(self) -> None:
        """Apply the retention setting, at most once an hour."""
        if self.retention_days is None:
            return
        with self._prune_lock:
            if time.monotonic() - self._pruned < 3600 and self._pruned:
                return
            self._pruned = time.monotonic()
        removed = self.prune(self.retention_days)
        if removed:
            log.info("removed %d conversations older than %g days", removed, self.retention_days)

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
            turn = session.get(TurnRow, answer_id)
            if turn is None or self._conversation(session, turn.conversation_id, owner) is None:
                raise NotFoundError(f"no answer with id {answer_id[:64]!r}: answer_id comes from /api/chat")
            row = session.get(FeedbackRow, answer_id)
            if row is None:
                row = FeedbackRow(turn_id=answer_id)
                session.add(row)
            row.rating, row.comment, row.correction = rating, comment or None, correction or None
            row.not_in_articles, row.created_at = not_in_articles, _now()
            session.flush()
            record = _feedback(row)
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
            earlier: dict[str, list[str]] = {}
            for turn, _ in rows:
                questions = session.scalars(
                    select(TurnRow.question)
                    .where(TurnRow.conversation_id == turn.conversation_id, TurnRow.position < turn.position)
                    .order_by(TurnRow.position)
                ).all()
                earlier[turn.id] = list(questions)
        return [TurnRecord(**{**self._turn(t, f).__dict__, "history": tuple(earlier.get(t.id, []))}) for t, f in rows]

    def counts(self) -> dict[str, int]:
        """Rows per table (for checks and /health)."""
        with self._session() as session:
            return {
                "conversations": session.scalar(select(func.count()).select_from(ConversationRow)) or 0,
                "answers": session.scalar(select(func.count()).select_from(TurnRow)) or 0,
                "feedback": session.scalar(select(func.count()).select_from(FeedbackRow)) or 0,
            }

    # -- per-user API keys (``convention-qa keys``) ------------------------------------------

    def create_key(self, name: str) -> str:
        """A new key for ``name`` (shown once; only its hash is kept). Its owner is ``key:NAME``:
        a key made again for a revoked name reaches that name's conversations."""
        name = name.strip()
        if not _KEY_NAME.fullmatch(name):
            raise ConfigError(f"key name {name[:64]!r}: use 1-64 letters, digits, '.', '_', '@' or '-'")
        key = USER_KEY_PREFIX + secrets.token_urlsafe(32)
        with self._session() as session:
            row = session.get(ApiKeyRow, name)
            if row is not None and row.revoked_at is None:
                raise ConfigError(f"a key named {name!r} is in use: revoke it first (convention-qa keys revoke {name})")
            if row is None:
                session.add(ApiKeyRow(name=name, hash=_hash_key(key)))
            else:
                row.hash, row.created_at, row.revoked_at = _hash_key(key), _now(), None
        return key

    def api_keys(self) -> list[ApiKeyRecord]:
        with self._session() as session:
            rows = session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.name)).all()
            return [
                ApiKeyRecord(r.name, _utc(r.created_at), _utc(r.revoked_at) if r.revoked_at else None) for r in rows
            ]

    def revoke_key(self, name: str) -> bool:
        """Stop a key working at once; False if no key of that name is in use."""
        with self._session() as session:
            row = session.get(ApiKeyRow, name)
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = _now()
            return True

    def owner_of_key(self, key: str) -> Owner | None:
        if not key.startswith(USER_KEY_PREFIX) or len(key) > 200:
            return None
        with self._session() as session:
            name = session.scalar(
                select(ApiKeyRow.name).where(ApiKeyRow.hash == _hash_key(key), ApiKeyRow.revoked_at.is_(None))
            )
        return Owner(f"key:{name}") if name else None

    # -- plumbing -------------------------------------------------------------------------

    @staticmethod
    def _conversation(session: Session, conversation_id: str, owner: Owner) -> ConversationRow | None:
        """The conversation if this owner may see it: another owner's is as absent as a missing one."""
        row = session.get(ConversationRow, conversation_id)
        return row if row is not None and (owner.admin or row.owner == owner.id) else None

    @staticmethod
    def _remove(session: Session, conversation_id: str) -> bool:
        turn_ids = select(TurnRow.id).where(TurnRow.conversation_id == conversation_id)
        session.execute(delete(FeedbackRow).where(FeedbackRow.turn_id.in_(turn_ids)))
        session.execute(delete(TurnRow).where(TurnRow.conversation_id == conversation_id))
        removed = session.execute(delete(ConversationRow).where(ConversationRow.id == conversation_id))
        return bool(getattr(removed, "rowcount", 0))

    @staticmethod
    def _turn(row: TurnRow, feedback: FeedbackRow | None) -> TurnRecord:
        return TurnRecord(
            row.id,
            row.conversation_id,
            row.position,
            row.question,
            row.answer,
            row.abstained,
            dict(row.details or {}),
            dict(row.config or {}),
            _utc(row.created_at),
            _feedback(feedback),
        )

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with self._sessions.begin() as session:
                yield session
        except OperationalError as exc:
            raise StoreError(f"the conversation database failed ({str(exc.orig or exc).splitlines()[0]})") from None


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" below issues BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # with WAL: a killed process loses no commit
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # Take the write lock up front: a transaction that reads, then writes, cannot deadlock
        # with another one doing the same (SQLite would fail one of them at once).
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    """Two processes starting on one SQLite file migrate one after the other."""
    if not url.startswith("sqlite:///"):
        yield  # PostgreSQL: env.py takes an advisory lock
        return
    path = Path(url.removeprefix("sqlite:///") + ".lock")
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_conversations(
    url: str, *, history_messages: int = 12, retention_days: float | None = None
) -> ConversationStore:
    """Connect, migrate, prune by retention; a StoreError that says what to fix if it cannot."""
    sqlite = url.startswith("sqlite")
    if sqlite and url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30} if sqlite else {"connect_timeout": 10},
            pool_pre_ping=not sqlite,
            **({} if sqlite else {"pool_size": 5, "max_overflow": 20}),
        )
        if sqlite:
            _sqlite_pragmas(engine)
        with _migration_lock(url):
            migrate(engine)
    except (SQLAlchemyError, OSError, ImportError) as exc:
        shown = url.split("@")[-1] if "@" in url else url
        raise StoreError(
            f"cannot open the conversation database {shown} ({str(exc).splitlines()[0][:300]}). Check "
            "CONVENTION_QA_DATABASE_URL, or set CONVENTION_QA_CONVERSATIONS=false to keep no history"
        ) from None
    store = ConversationStore(engine, history_messages=history_messages, retention_days=retention_days)
    store.prune_if_due()  # at start, then at most hourly on writes
    return store
