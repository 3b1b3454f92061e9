"""What this package's LangChain chat models share: the base class (each streams, and a whole
reply is its stream joined), and the probability that a model's reply is NOT_FOUND."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from convention_qa.answering.prompts import NOT_FOUND
from convention_qa.errors import ModelError

__all__ = ["Manager", "StreamingChatModel", "choice_probabilities", "model_error", "refusal_probability"]

log = logging.getLogger(__name__)


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


def refusal_probability(model: BaseChatModel, messages: list[BaseMessage]) -> float | None:
    """The model's probability of answering ``messages`` with NOT_FOUND, or None when it cannot say.

    The bundled model reads it from its next-token distribution; an OpenAI-compatible server is
    asked for the first token's top log-probabilities (servers without them give None, and the
    answer policy then decides without this signal).
    """
    probe = getattr(model, "refusal_probability", None)
    if callable(probe):
        value = probe(messages)
        return None if value is None else float(value)
    if type(model).__name__ != "ChatOpenAI":
        return None
    try:
        reply = model.bind(logprobs=True, top_logprobs=10, max_completion_tokens=1).invoke(messages)
        top = reply.response_metadata["logprobs"]["content"][0]["top_logprobs"]
    except Exception as exc:  # a server without log-probabilities; failures to answer surface later
        log.info("no log-probabilities from the model server (%s); deciding without them", exc)
        return None
    return sum(math.exp(t["logprob"]) for t in top if t["token"].strip() and NOT_FOUND.startswith(t["token"].strip()))


def choice_probabilities(
    model: BaseChatModel, messages: list[BaseMessage], options: list[str]
) -> dict[str, float] | None:
    """The model's probability of starting its reply to ``messages`` with each of ``options``
    (single tokens, such as the digits of a numbered choice), or None when it cannot say.

    The bundled model reads its next-token distribution; an OpenAI-compatible server is asked for
    the first token's top log-probabilities (an option not among them gets 0).
    """
    probe = getattr(model, "choice_probabilities", None)
    if callable(probe):
        value = probe(messages, options)
        return None if value is None else {k: float(v) for k, v in value.items()}
    if type(model).__name__ != "ChatOpenAI":
        return None
    try:
        reply = model.bind(logprobs=True, top_logprobs=20, max_completion_tokens=1).invoke(messages)
        top = reply.response_metadata["logprobs"]["content"][0]["top_logprobs"]
    except Exception as exc:  # a server without log-probabilities
        log.info("no log-probabilities from the model server (%s); choosing without them", exc)
        return None
    found = dict.fromkeys(options, 0.0)
    for item in top:
        token = str(item["token"]).strip()
        if token in found:
            found[token] += math.exp(item["logprob"])
    return found


def model_error(exc: Exception) -> ModelError:
    """A chat model's failure as the error every surface reports (what to check, or how to do without)."""
    return ModelError(
        f"the answer model failed ({type(exc).__name__}: {exc}). Check that its server is "
        "running and CONVENTION_QA_LLM_BASE_URL / CONVENTION_QA_LLM_MODEL, or set "
        "CONVENTION_QA_LLM=extractive to answer without a model"
    )
