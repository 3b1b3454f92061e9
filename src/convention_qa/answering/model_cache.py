"""Model replies kept on disk by prompt, for evaluation runs that are repeated.

At temperature 0 a model gives the same reply to the same prompt, so a second evaluation run
(after a change to retrieval checks, the answer decision or the metrics) need not wait for the
model again: :class:`CachedChatModel` wraps any chat model and answers a prompt it has seen from
a SQLite file (``CONVENTION_QA_LLM_CACHE``). A prompt it has not seen goes to the wrapped model,
and the reply, with its token log-probabilities, is kept. The cache key is the model's identity,
the messages, the stop strings and the token budget. It is meant for measuring, not for serving:
off by default.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import PrivateAttr

from convention_qa.answering.streaming import Manager, StreamingChatModel, choice_probabilities, refusal_probability
from convention_qa.errors import ConfigError

__all__ = ["CachedChatModel"]


class CachedChatModel(StreamingChatModel):
    """``inner`` with its replies (text, log-probabilities, refusal probability) kept in ``path``."""

    inner: BaseChatModel
    path: str
    identity: str  # what makes two models' replies differ: backend, model file or name, budget
    _db: sqlite3.Connection | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return f"cached-{self.inner._llm_type}"

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            except (OSError, sqlite3.Error) as exc:
                raise ConfigError(f"cannot open the model reply cache {self.path}: {exc}") from None
            self._db = db
        return self._db

    def _key(self, kind: str, messages: list[BaseMessage], stop: list[str] | None, extra: dict[str, Any]) -> str:
        body = json.dumps(
            [self.identity, kind, [(m.type, str(m.content)) for m in messages], stop or [], extra], ensure_ascii=False
        )
        return hashlib.sha256(body.encode()).hexdigest()

    def _get(self, key: str) -> Any:
        with self._lock:
            row = self._conn().execute("SELECT value FROM replies WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def _put(self, key: str, value: Any) -> None:
        with self._lock:
            db = self._conn()
            db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?)", (key, json.dumps(value, ensure_ascii=False)))
            db.commit()

    def refusal_probability(self, messages: list[BaseMessage]) -> float | None:
        key = self._key("refusal", messages, None, {})
        cached = self._get(key)
        if cached is not None:
            return None if cached["p"] is None else float(cached["p"])
        value = refusal_probability(self.inner, messages)
        self._put(key, {"p": value})
        return value

    def choice_probabilities(self, messages: list[BaseMessage], options: list[str]) -> dict[str, float] | None:
        key = self._key("choice", messages, None, {"options": options})
        cached = self._get(key)
        if cached is not None:
            return None if cached["p"] is None else {k: float(v) for k, v in cached["p"].items()}
        value = choice_probabilities(self.inner, messages, options)
        self._put(key, {"p": value})
        return value

    def _chunks(
        self, messages: list[BaseMessage], stop: list[str] | None, run_manager: Manager, kwargs: dict[str, Any]
    ) -> Iterator[ChatGenerationChunk]:
        key = self._key("stream", messages, stop, {k: kwargs[k] for k in sorted(kwargs) if k == "max_tokens"})
        cached = self._get(key)
        if cached is None:
            pieces: list[dict[str, Any]] = []
            for chunk in self.inner.stream(messages, stop=stop, **kwargs):
                meta = dict(chunk.response_metadata or {})
                pieces.append({"content": str(chunk.content), "logprobs": meta.get("logprobs")})
                yield ChatGenerationChunk(message=AIMessageChunk(content=str(chunk.content), response_metadata=meta))
            self._put(key, pieces)
            return
        for piece in cached:
            meta = {"logprobs": piece["logprobs"]} if piece.get("logprobs") else {}
            if run_manager and piece["content"]:
                run_manager.on_llm_new_token(piece["content"])
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece["content"], response_metadata=meta))
