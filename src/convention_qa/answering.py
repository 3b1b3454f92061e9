"""``Assistant``: the one pipeline every surface calls.

``Assistant.request(question, history, k=, language=)`` checks a question and settles its
language and the answer language once -> :class:`AnswerRequest`.
``Assistant.stream(request)``: condense (follow-ups) -> retrieve -> decide whether the passages
answer it -> select evidence sentences -> generate with [n] citations (or extract the best
sentence) -> resolve citations; yields :class:`Token` events as the answer is written, then one
:class:`Final` with the :class:`Answer`. ``Assistant.answer(request)`` returns the Answer alone;
``Assistant.ask(question, ...)`` does both steps.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from convention_qa.config import AnswerConfig
from convention_qa.contract import AbstainReason, Answer, AnswerRequest, Event, Final, Message, Repair, Token
from convention_qa.errors import ConventionQAError, ModelError, QuestionError
from convention_qa.evidence import (
    Evidence,
    append_marker,
    format_evidence,
    overlap,
    resolve_citations,
    select_evidence,
)
from convention_qa.grounding import NOT_FOUND, answer_problem, is_refusal, may_be_refusal
from convention_qa.llm import refusal_probability
from convention_qa.policy import Decision, Policy, measure
from convention_qa.prompts import Prompts
from convention_qa.retrieval import Retriever
from convention_qa.text import LANGUAGES, guess_language, tokenize, valid_text

__all__ = ["ABSTAIN_REASONS", "LANGUAGES", "NOT_FOUND", "Answer", "AnswerRequest", "Assistant", "Message"]

log = logging.getLogger(__name__)

ABSTAIN_TEXT = {
    "id": "Artikel-artikel yang tersedia tidak memuat jawaban atas pertanyaan ini.",
    "en": "The articles do not contain the answer to this question.",
    "vi": "Các bài báo hiện có không chứa câu trả lời cho câu hỏi này.",
}
ABSTAIN_REASONS = {
    "off-corpus": "no passage comes close to the question",
    "policy": "the closest passages do not seem to answer it",
    "model": "the model found no answer in the passages",
    "uncited": "the answer could not be tied to a passage",
}
_FOLLOW_UP = re.compile(
    r"\b(it|its|he|his|him|she|her|they|them|their|this|that|those|these|there|"
    r"itu|tersebut|ini|dia|ia|beliau|mereka|nya|sana|"
    r"nó|đó|ấy|này|họ|ông|bà)\b|^(and|dan|và|lalu|terus|then|so)\b|\w+nya\b",
    re.IGNORECASE,
)


@dataclass
class Assistant:
    retriever: Retriever
    chat_model: BaseChatModel | None = None  # None: extractive answers
    prompts: Prompts = field(default_factory=Prompts)
    policy: Policy | None = None  # None: answer whatever the evidence (for measuring)
    config: AnswerConfig = field(default_factory=AnswerConfig)
    min_extractive_overlap: float = 0.34
    min_extractive_similarity: float = 0.79  # cross-language extraction: embedder similarity

    # -- public ---------------------------------------------------------------------------

    def request(
        self, question: str, history: Sequence[Message] = (), *, k: int | None = None, language: str | None = None
    ) -> AnswerRequest:
        """The question checked, with its language and the answer language settled.

        ``language`` is the language to answer in (id, en or vi); by default the question's own.
        It never changes how the question itself is read.
        """
        question = (question or "").strip()
        limit = self.config.max_question_chars
        if not question:
            raise QuestionError("the question is empty: type a question about the articles")
        if valid_text(question) != question:
            raise QuestionError("the question is not valid Unicode text (it holds an unpaired surrogate)")
        if len(question) > limit:
            raise QuestionError(
                f"the question is {len(question)} characters long; the limit is {limit} "
                "(CONVENTION_QA_MAX_QUESTION_CHARS)"
            )
        k = k or self.config.k
        if not 1 <= k <= self.config.max_k:
            raise QuestionError(f"k must be between 1 and {self.config.max_k}, not {k}")
        asked = guess_language(question)
        if asked not in LANGUAGES:
            asked = "en" if re.search(r"[a-z]", question, re.I) and question.isascii() else "id"
        return AnswerRequest(
            question=question,
            question_language=asked,
            answer_language=language if language in LANGUAGES else asked,
            k=k,
            history=tuple(_bounded(history, self.config.history_turns, limit)),
        )

    def ask(
        self, question: str, history: Sequence[Message] = (), *, k: int | None = None, language: str | None = None
    ) -> Answer:
        """``answer(request(...))``: for callers that hold a plain question."""
        return self.answer(self.request(question, history, k=k, language=language))

    def answer(self, request: AnswerRequest) -> Answer:
        for event in self.stream(request):
            if isinstance(event, Final):
                return event.answer
        raise AssertionError("stream() ended without a Final event")

    def stream(self, request: AnswerRequest) -> Iterator[Event]:
        """Token events as the answer is written, then one Final event with the Answer."""
        question, asked, lang, k = request.question, request.question_language, request.answer_language, request.k
        timings: dict[str, float] = {}
        started = time.perf_counter()
        query = self._condense(question, list(request.history))
        timings["condense"] = time.perf_counter() - started

        started = time.perf_counter()
        passages = self.retriever.retrieve(query, k, language=asked)
        timings["retrieve"] = time.perf_counter() - started

        answer = Answer(
            question=question,
            text="",
            abstained=True,
            language=lang,
            question_language=asked,
            query=query,
            passages=passages,
            timings=timings,
        )
        timings = answer.timings  # the model holds its own copy; the steps below add to it
        if not passages:
            yield from self._abstain(answer, "off-corpus")
            return
        evidence = select_evidence(query, passages, self.config.evidence_tokens, self.retriever.idf, asked)
        values = {"evidence": format_evidence(evidence), "question": question, "language": LANGUAGES[lang]}
        messages = self._messages(values)

        started = time.perf_counter()
        refusal = None
        same_language = passages[0].meta.language in (asked, None)
        if self.chat_model is not None and not (
            self.policy and self.policy.off_corpus(passages[0].score, same_language)
        ):
            refusal = self._refusal(messages)
            timings["check"] = time.perf_counter() - started
        answer.signals = measure(query, passages, asked, self.retriever.rarity, refusal)
        decision = self.policy.decide(answer.signals) if self.policy else Decision(True, 1.0)
        answer.confidence = decision.confidence
        if not decision.answer:
            yield from self._abstain(answer, decision.reason or "policy")
            return

        if self.chat_model is None:
            raw = self._extract(question, query, evidence, asked)
            if raw:
                yield Token(raw)
        else:
            raw, released = "", False
            for piece in self._generate(messages, timings, started):
                raw += piece
                if released:
                    yield Token(piece)
                elif not may_be_refusal(raw):
                    released = True  # from here on, stream as it comes
                    yield Token(raw)
            if self.policy is not None and is_refusal(raw):
                # The policy, which already weighed the model's own inclination to refuse, says
                # the passages answer this: one decision, so ask once more without the way out.
                retry = "".join(self._generate(self._messages(values, repair="refusal"), {}, 0.0))
                if retry.strip() and not is_refusal(retry):
                    raw, answer.repair = retry, "refusal"
                    yield Token(raw)
            if not is_refusal(raw):
                raw, problem = self._repair(raw, question, query, values, evidence, asked)
                answer.repair = answer.repair or problem
        timings["generate"] = time.perf_counter() - started

        if not raw.strip() or is_refusal(raw):
            yield from self._abstain(answer, "model", announce=False)
            return
        text, citations, unsupported = resolve_citations(raw, evidence, self.retriever.idf)
        answer.text, answer.citations, answer.unsupported = text, citations, unsupported
        answer.abstained = not citations
        if answer.abstained:
            answer.text, answer.abstain_reason = ABSTAIN_TEXT[lang], "uncited"
        yield Final(answer)

    @staticmethod
    def _abstain(answer: Answer, reason: AbstainReason, *, announce: bool = True) -> Iterator[Event]:
        answer.abstained, answer.abstain_reason = True, reason
        answer.text = ABSTAIN_TEXT.get(answer.language, ABSTAIN_TEXT["en"])
        if announce:
            yield Token(answer.text)
        yield Final(answer)

    # -- steps ----------------------------------------------------------------------------

    def _condense(self, question: str, history: list[Message]) -> str:
        previous = [m["content"] for m in history if m.get("role") == "user" and m.get("content")]
        if not previous or not _looks_like_follow_up(question):
            return question
        if self.chat_model is not None:
            transcript = "\n".join(f"{m['role']}: {m['content'][:400]}" for m in history)
            prompt = self.prompts.render("condense", history=transcript, question=question)
            try:
                rewritten = str(self.chat_model.invoke([HumanMessage(prompt)], stop=["\n"]).content)
                rewritten = rewritten.strip().strip('"').splitlines()[0].strip() if rewritten.strip() else ""
                if 3 <= len(rewritten) <= 4 * len(question) + 200:
                    return rewritten
            except Exception as exc:
                log.warning("condensing the follow-up failed (%s); using the fallback", exc)
        return f"{previous[-1][:_CONTEXT_CHARS]} {question}"

    def _extract(self, question: str, query: str, evidence: list[Evidence], language: str) -> str:
        """The evidence sentence that best answers the question, cited; '' if none does.

        Same language: the sentence sharing most (IDF-weighted) words with the question; the
        words of the standalone query (which, for a follow-up, carries the earlier question)
        count only as a tie-breaker, so that a follow-up gets its own answer, not the last one.
        Across languages words cannot match, so the sentences are compared with the question
        by the multilingual embedder instead.
        """
        candidates = [
            (item.n, item.passage.text[start:end], item.passage.meta.language)
            for item in evidence
            for start, end in item.sentences
        ]
        if not candidates:
            return ""
        if all(lang not in (language, None) for _, _, lang in candidates):
            vectors = self.retriever.embedder.embed_documents([s for _, s, _ in candidates])
            target = self.retriever.embedder.embed_query(question)
            scores = [sum(a * b for a, b in zip(v, target, strict=True)) for v in vectors]
            threshold = self.min_extractive_similarity
        else:
            own, context = set(tokenize(question)), set(tokenize(query))
            scores = [
                overlap(own, s, self.retriever.idf) + 0.25 * overlap(context, s, self.retriever.idf)
                for _, s, _ in candidates
            ]
            threshold = self.min_extractive_overlap
        best = max(range(len(candidates)), key=lambda i: scores[i])
        if scores[best] < threshold:
            return ""
        n, sentence, _ = candidates[best]
        return append_marker(sentence.rstrip(), n)

    def _messages(self, values: dict[str, str], *, repair: str | None = None) -> list[BaseMessage]:
        system = SystemMessage(self.prompts.render("system", language=values["language"]))
        prompt = self.prompts.render("answer", **values)
        if repair:  # the instruction goes right before "Answer:", where a small model heeds it most
            note = self.prompts.render(f"repair_{repair}", **values)
            head, _, tail = prompt.rpartition("Answer:")
            prompt = f"{head}{note}\nAnswer:{tail}" if head else f"{prompt}\n{note}"
        return [system, HumanMessage(prompt)]

    def _generate(self, messages: list[BaseMessage], timings: dict[str, float], started: float) -> Iterator[str]:
        assert self.chat_model is not None
        try:
            for chunk in self.chat_model.stream(messages):
                piece = str(chunk.content)
                if piece:
                    timings.setdefault("first_token", time.perf_counter() - started)
                    yield piece
        except ConventionQAError:
            raise
        except Exception as exc:
            raise _model_error(exc) from None

    def _refusal(self, messages: list[BaseMessage]) -> float | None:
        assert self.chat_model is not None
        try:
            return refusal_probability(self.chat_model, messages)
        except ConventionQAError:
            raise
        except Exception as exc:
            raise _model_error(exc) from None

    def _repair(
        self, raw: str, question: str, query: str, values: dict[str, str], evidence: list[Evidence], asked: str
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
        retry = "".join(self._generate(self._messages(values, repair=problem), {}, 0.0))
        if (
            retry.strip()
            and not is_refusal(retry)
            and answer_problem(retry, question, evidence, values["language"]) is None
        ):
            return retry, problem
        if problem == "grounding":
            return self._extract(question, query, evidence, asked) or raw, problem
        return (retry if retry.strip() and not is_refusal(retry) else raw), problem


_CONTEXT_CHARS = 300  # of the previous question, prefixed to a follow-up when no model rewrites it


def _bounded(history: Sequence[Message], turns: int, chars: int) -> list[Message]:
    """The last ``turns`` messages, each cut to ``chars`` characters of valid text: whatever a
    client sends as history, the work it causes stays bounded."""
    kept = list(history)[-turns:] if turns else []
    return [
        {"role": str(m.get("role", "user")), "content": valid_text(str(m.get("content") or "")[:chars])} for m in kept
    ]


def _model_error(exc: Exception) -> ModelError:
    return ModelError(
        f"the answer model failed ({type(exc).__name__}: {exc}). Check that its server is "
        "running and CONVENTION_QA_LLM_BASE_URL / CONVENTION_QA_LLM_MODEL, or set "
        "CONVENTION_QA_LLM=extractive to answer without a model"
    )


def _looks_like_follow_up(question: str) -> bool:
    return len(tokenize(question)) <= 3 or bool(_FOLLOW_UP.search(question))
