"""What the answer model is asked to do: rewrite a follow-up as a standalone question, put a
question into the passages' language, say how likely it is to refuse, write the answer (with
one constrained retry when the answer is not grounded or not in the language asked)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from convention_qa.answering.evidence import Evidence
from convention_qa.answering.grounding import answer_problem, is_refusal
from convention_qa.answering.prompts import Prompts
from convention_qa.answering.streaming import model_error, refusal_probability
from convention_qa.contract import Message, Repair
from convention_qa.errors import ConventionQAError
from convention_qa.text import LANGUAGES, Query, looks_like_follow_up, strip_markers

__all__ = ["Writer"]

log = logging.getLogger(__name__)

_CONTEXT_CHARS = 300  # of each earlier message a follow-up is read with
_CONDENSED_TOKENS = 64  # a rewritten question is one line


@dataclass
class Writer:
    """The answer model's jobs; ``chat_model`` None: there is no model (extractive answers)."""

    chat_model: BaseChatModel | None
    prompts: Prompts

    def condense(self, asking: Query, history: list[Message]) -> str:
        question = asking.text
        previous = [m["content"] for m in history if m.get("role") == "user" and m.get("content")]
        if not previous or not looks_like_follow_up(asking):
            return question
        if self.chat_model is not None:
            # Only the last exchange: what a follow-up refers to is almost always there, and every
            # token of transcript is prompt the model must read before it can write a word.
            last = _last_exchange(history)
            transcript = "\n".join(f"{m['role']}: {strip_markers(m['content'])[:_CONTEXT_CHARS]}" for m in last)
            prompt = self.prompts.render("condense", history=transcript, question=question)
            try:
                reply = self.chat_model.invoke([HumanMessage(prompt)], stop=["\n"], max_tokens=_CONDENSED_TOKENS)
                rewritten = str(reply.content)
                rewritten = rewritten.strip().strip('"').splitlines()[0].strip() if rewritten.strip() else ""
                if 3 <= len(rewritten) <= 4 * len(question) + 200:
                    return rewritten
            except Exception as exc:
                log.warning("condensing the follow-up failed (%s); using the fallback", exc)
        return f"{previous[-1][:_CONTEXT_CHARS]} {question}"

    def messages(self, values: dict[str, str], *, repair: str | None = None) -> list[BaseMessage]:
        system = SystemMessage(self.prompts.render("system", language=values["language"]))
        prompt = self.prompts.render("answer", **values)
        if repair:  # the instruction goes right before "Answer:", where a small model heeds it most
            note = self.prompts.render(f"repair_{repair}", **values)
            head, _, tail = prompt.rpartition("Answer:")
            prompt = f"{head}{note}\nAnswer:{tail}" if head else f"{prompt}\n{note}"
        return [system, HumanMessage(prompt)]

    def generate(self, messages: list[BaseMessage], logprobs: list[float] | None = None) -> Iterator[str]:
        """The model's reply as it is written; the log-probability of each token it chose goes
        to ``logprobs`` when the backend gives them."""
        assert self.chat_model is not None
        try:
            for chunk in self.chat_model.stream(messages):
                piece = str(chunk.content)
                if logprobs is not None:
                    read = (chunk.response_metadata or {}).get("logprobs") or {}
                    logprobs.extend(float(t["logprob"]) for t in read.get("content") or () if "logprob" in t)
                if piece:
                    yield piece
        except ConventionQAError:
            raise
        except Exception as exc:
            raise model_error(exc) from None

    def translate(self, question: str, language: str) -> str:
        """``question`` in ``language`` (by the model), or '' when that fails or looks wrong."""
        assert self.chat_model is not None
        prompt = self.prompts.render("translate", question=question, language=LANGUAGES.get(language, language))
        try:
            reply = str(self.chat_model.invoke([HumanMessage(prompt)], stop=["\n"]).content).strip().strip('"')
        except ConventionQAError:
            raise
        except Exception as exc:
            log.warning("translating the question failed (%s); reading it as it is", exc)
            return ""
        return reply if 3 <= len(reply) <= 3 * len(question) + 50 and not is_refusal(reply) else ""

    def refusal(self, messages: list[BaseMessage]) -> float | None:
        assert self.chat_model is not None
        try:
            return refusal_probability(self.chat_model, messages)
        except ConventionQAError:
            raise
        except Exception as exc:
            raise model_error(exc) from None

    def repair(
        self,
        raw: str,
        question: Query,
        query: Query,
        values: dict[str, str],
        evidence: list[Evidence],
        extract: Callable[[Query, Query, list[Evidence]], str],
    ) -> tuple[str, Repair | None]:
        """The model's answer, or a better one when it is not grounded or not in the wanted language.

        An answer whose numbers (or, within a language, most words) are not in the evidence, or
        that is written in another language than asked, gets one constrained retry; an answer
        still not grounded after it is replaced by the evidence sentence that best answers.
        """
        problem = answer_problem(raw, question, evidence, values["language"])
        if problem is None:
            return raw, None
        log.info("answer %r: %s problem; retrying", raw[:80], problem)
        retry = "".join(self.generate(self.messages(values, repair=problem)))
        if (
            retry.strip()
            and not is_refusal(retry)
            and answer_problem(retry, question, evidence, values["language"]) is None
        ):
            return retry, problem
        if problem == "grounding":  # the sentence that answers, picked in the language it is read in
            chosen = question if query.language == question.language else query
            return extract(chosen, query, evidence) or raw, problem
        return (retry if retry.strip() and not is_refusal(retry) else raw), problem


def _last_exchange(history: Sequence[Message]) -> list[Message]:
    """The last user message and what answered it."""
    for index in range(len(history) - 1, -1, -1):
        if history[index].get("role") == "user":
            return list(history[index : index + 2])
    return list(history[-2:])
