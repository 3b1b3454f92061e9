"""Hand-written fakes: a deterministic embedder and scripted chat models, no model needed."""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Iterator
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field


class HashingEmbeddings(Embeddings):
    """Hashed bag of words: texts sharing words get similar unit vectors. Deterministic.

    Counts what it embeds, so tests can assert that an ingest embedded nothing.
    """

    def __init__(self, dim: int = 64, delay: float = 0.0, model_id: str = "test/hashing-64") -> None:
        self.dim = dim
        self.delay = delay
        self.model_id = model_id
        self.embedded: list[str] = []

    def _vector(self, text: str) -> list[float]:
        vec = [0.0] * self.dim
        for word in re.findall(r"\w+", text.lower()):
            digest = hashlib.md5(word.encode()).digest()
            vec[int.from_bytes(digest[:4], "little") % self.dim] += 1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        if norm == 1.0 and not any(vec):
            vec[0] = 1.0
        return [v / norm for v in vec]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if self.delay:
            time.sleep(self.delay)
        self.embedded.extend(texts)
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


class ScriptedChatModel(BaseChatModel):
    """Replies with scripted texts in order (the last one repeats), streamed word by word.

    Records every prompt it was given, so tests can check what the model saw.
    """

    replies: list[str]
    refusal: float | None = 0.05  # its probability of replying NOT_FOUND (None: it cannot say)
    prompts: list[list[BaseMessage]] = Field(default_factory=list)
    probes: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def refusal_probability(self, messages: list[BaseMessage]) -> float | None:
        self.probes.append(list(messages))
        return self.refusal

    def _next(self, messages: list[BaseMessage]) -> str:
        self.prompts.append(list(messages))
        index = min(len(self.prompts) - 1, len(self.replies) - 1)
        return self.replies[index]

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self._next(messages)))])

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[ChatGenerationChunk]:
        for piece in re.findall(r"\S+\s*", self._next(messages)):
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))


class UnreachableChatModel(BaseChatModel):
    """Fails like a model server that is down."""

    @property
    def _llm_type(self) -> str:
        return "unreachable"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        raise ConnectionError("Connection refused")
