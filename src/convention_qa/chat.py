"""One chat turn, the same for every surface (HTTP API, web UI, CLI ``chat``, evaluation runs).

A turn loads the conversation's past through the memory protocol (``ChatMemory``), builds the
request, streams the answer, and keeps the question and answer once the answer is final: a
question that fails (a model error, a bad question) leaves no empty conversation behind. This is
the only place that turns past exchanges into user/assistant message pairs.

    chat = Chat(assistant, memory, config)
    turn = chat.turn("Berapa negara yang menandatangani?", owner, conversation_id=None)
    for event in chat.stream(turn): ...        # Token events, then one Final(answer)
    turn.conversation_id, turn.answer_id       # set once the Final event has been seen
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from convention_qa.answering.assistant import Assistant
from convention_qa.contract import Answer, AnswerRequest, Event, Exchange, Final, Message
from convention_qa.conversations.memory import ChatMemory
from convention_qa.conversations.owners import Owner
from convention_qa.errors import ConversationError, NotFoundError

__all__ = ["Chat", "ChatTurn", "messages"]

log = logging.getLogger(__name__)


def messages(exchanges: Iterable[Exchange]) -> list[Message]:
    """Past exchanges as the chat messages a model (or a chat window) reads."""
    out: list[Message] = []
    for exchange in exchanges:
        out += [{"role": "user", "content": exchange.question}, {"role": "assistant", "content": exchange.answer}]
    return out


@dataclass
class ChatTurn:
    """One question in a conversation. ``conversation_id`` and ``answer_id`` are known once the
    answer is final and kept; ``unsaved`` says why keeping it failed (the answer still stands)."""

    request: AnswerRequest
    owner: Owner
    conversation_id: str | None = None
    answer_id: str | None = None
    unsaved: str | None = None
    answer: Answer | None = field(default=None, repr=False)


class Chat:
    """``memory`` keeps conversations (None: nothing is kept, the caller brings the history);
    ``config`` is stored with every answer (embedder, answer backend, prompt version, ...)."""

    def __init__(
        self, assistant: Assistant, memory: ChatMemory | None = None, config: Mapping[str, Any] | None = None
    ) -> None:
        self.assistant = assistant
        self.memory = memory
        self.config = dict(config or {})

    def turn(
        self,
        question: str,
        owner: Owner,
        *,
        conversation_id: str | None = None,
        history: Sequence[Message] = (),
        k: int | None = None,
        language: str | None = None,
    ) -> ChatTurn:
        """A checked question in its conversation. With memory and a ``conversation_id`` the
        history is the conversation's own (NotFoundError if this owner has none with that id);
        otherwise it is ``history`` as the caller holds it."""
        if conversation_id is not None and self.memory is not None:
            history = messages(self.memory.history(conversation_id, owner))
        request = self.assistant.request(question, history, k=k, language=language)
        return ChatTurn(request, owner, conversation_id)

    def stream(self, turn: ChatTurn) -> Iterator[Event]:
        """The assistant's events; the answer is kept before its Final event is passed on."""
        for event in self.assistant.stream(turn.request):
            if isinstance(event, Final):
                turn.answer = event.answer
                self._keep(turn, event.answer)
            yield event

    def answer(self, turn: ChatTurn) -> Answer:
        for event in self.stream(turn):
            if isinstance(event, Final):
                return event.answer
        raise AssertionError("stream() ended without a Final event")

    def _keep(self, turn: ChatTurn, answer: Answer) -> None:
        if self.memory is None:
            return
        try:
            turn.answer_id = self._record(self.memory, turn, answer)
        except ConversationError as exc:
            log.warning("could not keep the answer: %s", exc)
            turn.unsaved = str(exc)

    def _record(self, memory: ChatMemory, turn: ChatTurn, answer: Answer) -> str | None:
        """Keep the exchange in its conversation, or in a new one when it has none (or it was
        deleted while the answer was written); the answer's id."""
        question = turn.request.question
        if turn.conversation_id is not None:
            try:
                return memory.record(turn.conversation_id, question, answer, self.config, turn.owner)
            except NotFoundError:
                pass
        turn.conversation_id = memory.start(question, turn.owner)
        return memory.record(turn.conversation_id, question, answer, self.config, turn.owner)
