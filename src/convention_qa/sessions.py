"""Conversation histories kept by the HTTP API: bounded in count, length and idle time."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from convention_qa.contract import Answer, Message
from convention_qa.errors import NotFoundError
from convention_qa.owners import Owner

__all__ = ["ChatMemory", "SessionStore", "UnknownSession"]


class ChatMemory(Protocol):
    """What /api/chat needs of a conversation store: in memory (SessionStore) or in the
    database (conversations.ConversationStore)."""

    def history(self, session_id: str, owner: Owner) -> list[Message]:
        """The conversation's recent messages; NotFoundError if the owner has no such conversation."""
        ...

    def start(self, title: str, owner: Owner) -> str:
        """A new conversation's id."""
        ...

    def record(
        self, session_id: str, question: str, answer: Answer, config: dict[str, Any], owner: Owner
    ) -> str | None: ...


class UnknownSession(NotFoundError):
    """The session id was never issued, or the session expired."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"unknown or expired session_id {session_id[:64]!r}: omit it to start a new conversation")
        self.session_id = session_id


@dataclass
class _Session:
    owner: str
    history: list[Message] = field(default_factory=list)
    last_used: float = 0.0


class SessionStore:
    """Thread-safe; the least recently used session goes first when ``max_sessions`` is reached."""

    def __init__(
        self,
        max_sessions: int = 1000,
        max_messages: int = 12,
        idle_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_sessions = max_sessions
        self.max_messages = max_messages
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

    def open(self, session_id: str | None, owner: Owner) -> tuple[str, list[Message]]:
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

    def history(self, session_id: str, owner: Owner) -> list[Message]:
        return self.open(session_id, owner)[1]

    def start(self, title: str, owner: Owner) -> str:
        return self.open(None, owner)[0]

    def record(
        self, session_id: str, question: str, answer: Answer, config: dict[str, Any], owner: Owner
    ) -> str | None:
        """Remember the turn; in memory there is no answer id to rate (None)."""
        self.append(session_id, question, answer.text, owner)
        return None

    def append(self, session_id: str, question: str, answer: str, owner: Owner) -> None:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or not (owner.admin or session.owner == owner.id):  # expired while answering
                return
            session.history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            del session.history[: -self.max_messages]
            session.last_used = self._clock()
