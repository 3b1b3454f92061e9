"""The chat's memory: what a chat turn (``chat.py``) needs of a conversation store, and the
in-memory store used when conversations are not kept in the database (bounded in count, length
and idle time)."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from convention_qa.contract import Answer, Exchange
from convention_qa.conversations.owners import Owner
from convention_qa.errors import NotFoundError

__all__ = ["ChatMemory", "InMemoryChats", "UnknownSession"]


class ChatMemory(Protocol):
    """What a chat turn needs of a conversation store: in memory (``InMemoryChats``) or in the
    database (``ConversationStore``)."""

    def history(self, session_id: str, owner: Owner) -> list[Exchange]:
        """The conversation's recent exchanges, oldest first; NotFoundError if the owner has no
        such conversation."""
        ...

    def start(self, title: str, owner: Owner) -> str:
        """A new conversation's id."""
        ...

    def record(
        self, session_id: str, question: str, answer: Answer, config: dict[str, Any], owner: Owner
    ) -> str | None:
        """Keep a question and its answer; the answer's id to rate it by (None: it cannot be
        rated). NotFoundError when the conversation is gone (deleted, expired)."""
        ...


class UnknownSession(NotFoundError):
    """The session id was never issued, or the session expired."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"unknown or expired session_id {session_id[:64]!r}: omit it to start a new conversation")
        self.session_id = session_id


@dataclass
class _Session:
    owner: str
    history: list[Exchange] = field(default_factory=list)
    last_used: float = 0.0


class InMemoryChats:
    """Thread-safe; the least recently used session goes first when ``max_sessions`` is reached."""

    def __init__(
        self,
        max_sessions: int = 1000,
        max_exchanges: int = 6,
        idle_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_sessions = max_sessions
        self.max_exchanges = max_exchanges
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._sessions)

    def _expire(self) -> None:
        now = self._clock()
        for sid in [s for s, v in self._sessions.items() if now - v.last_used > self.idle_seconds]:
            del self._sessions[sid]

    def open(self, session_id: str | None, owner: Owner) -> tuple[str, list[Exchange]]:
        """(id, a copy of its history); a new session when ``session_id`` is None. Another
        owner's session is as unknown as one never issued."""
        with self._lock:
            self._expire()
            if session_id is None:
                session_id = secrets.token_urlsafe(16)
                while len(self._sessions) >= self.max_sessions:
                    self._sessions.popitem(last=False)
                self._sessions[session_id] = _Session(owner.id, last_used=self._clock())
            session = self._sessions.get(session_id)
            if session is None or not (owner.admin or session.owner == owner.id):
                raise UnknownSession(session_id)
            session.last_used = self._clock()
            self._sessions.move_to_end(session_id)
            return session_id, list(session.history)

    def history(self, session_id: str, owner: Owner) -> list[Exchange]:
        return self.open(session_id, owner)[1]

    def start(self, title: str, owner: Owner) -> str:
        return self.open(None, owner)[0]

    def record(
        self, session_id: str, question: str, answer: Answer, config: dict[str, Any], owner: Owner
    ) -> str | None:
        """Remember the exchange; in memory there is no answer id to rate (None)."""
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or not (owner.admin or session.owner == owner.id):  # expired while answering
                raise UnknownSession(session_id)
            session.history.append(Exchange(question, answer.text))
            del session.history[: -self.max_exchanges]
            session.last_used = self._clock()
        return None
