"""The base of this package's LangChain chat models: each streams (``_stream``), and a whole reply
is its stream joined."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

__all__ = ["Manager", "StreamingChatModel"]


Manager = CallbackManagerForLLMRun | None


class StreamingChatModel(BaseChatModel):
    """A chat model that writes its reply in ``_chunks``; ``_stream`` and ``_generate`` (the
    stream, joined) are LangChain's names for it."""

    def _chunks(
        self, messages: list[BaseMessage], stop: list[str] | None, run_manager: Manager, kwargs: dict[str, Any]
    ) -> Iterator[ChatGenerationChunk]:
        raise NotImplementedError

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        return self._chunks(messages, stop, run_manager, kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(c.text for c in self._stream(messages, stop, run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])
