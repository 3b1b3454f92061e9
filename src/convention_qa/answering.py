"""``Assistant.answer(question, history) -> Answer``: the one pipeline every surface calls.

condense (follow-ups) -> retrieve -> abstain on weak evidence -> select evidence sentences ->
generate with [n] citations (or extract the best sentences) -> resolve citations -> Answer.
``Assistant.stream`` yields the answer's text as it is generated, then the final Answer.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from convention_qa.errors import ConventionQAError, ModelError, QuestionError
from convention_qa.evidence import (
    Citation,
    Evidence,
    append_marker,
    format_evidence,
    overlap,
    resolve_citations,
    select_evidence,
)
from convention_qa.grounding import NOT_FOUND, answer_problem, is_refusal, may_be_refusal
from convention_qa.llm import refusal_probability
from convention_qa.policy import Decision, Policy, Signals, measure
from convention_qa.prompts import Prompts
from convention_qa.retrieval import Passage, Retriever
from convention_qa.text import LANGUAGES, guess_language, tokenize, valid_text

__all__ = ["ABSTAIN_REASONS", "LANGUAGES", "NOT_FOUND", "Answer", "Assistant", "Message"]

log = logging.getLogger(__name__)

Message = dict[str, str]  # {"role": "user" | "assistant", "content": str}
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
class Answer:
    question: str
    text: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    language: str = "und"  # the language of the answer
    query: str = ""  # the standalone question used for retrieval
    passages: list[Passage] = field(default_factory=list)  # everything retrieved, best first
    unsupported: list[str] = field(default_factory=list)  # claims their citations do not back
    timings: dict[str, float] = field(default_factory=dict)
    question_language: str = "und"
    abstain_reason: str | None = None  # off-corpus | policy | model | uncited
    confidence: float | None = None  # the policy's probability that the articles answer it
    signals: Signals | None = None
    repair: str | None = None  # why the model's first answer was replaced: grounding | language | refusal

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "abstained": self.abstained,
            "abstain_reason": self.abstain_reason,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "citations": [c.to_dict() for c in self.citations],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "language": self.language,
            "question_language": self.question_language,
            "query": self.query,
            "unsupported": self.unsupported,
            "repair": self.repair,
            "signals": self.signals.to_dict() if self.signals else None,
            "closest": [
                {
                    "chunk_id": p.id,
                    "doc_id": p.doc_id,
                    "title": p.meta.get("title"),
                    "text": p.text,
                    "score": round(p.score, 4),
                }
                for p in (self.passages[:3] if self.abstained else [])
            ],
        }


@dataclass
class Assistant:
    retriever: Retriever
    chat_model: BaseChatModel | None = None  # None: extractive answers
    prompts: Prompts = field(default_factory=Prompts)
    k: int = 4
    policy: Policy | None = None  # None: answer whatever the evidence (for measuring)
    evidence_tokens: int = 220
    history_turns: int = 6
    max_question_chars: int = 2000
    min_extractive_overlap: float = 0.34
    min_extractive_similarity: float = 0.79  # cross-language extraction: embedder similarity

    # -- public ---------------------------------------------------------------------------

    def answer(self, question: str, history: Sequence[Message] = (), **options: Any) -> Answer:
        final = None
        for event in self.stream(question, history, **options):
            if isinstance(event, Answer):
                final = event
        assert final is not None
        return final

    def stream(
        self,
        question: str,
        history: Sequence[Message] = (),
        *,
        k: int | None = None,
        language: str | None = None,
    ) -> Iterator[str | Answer]:
        """Yield pieces of the answer text as they are generated, then the final Answer.

        ``language`` is the language to answer in; by default the question's own.
        """
        question = (question or "").strip()
        if not question:
            raise QuestionError("the question is empty: type a question about the articles")
        if valid_text(question) != question:
            raise QuestionError("the question is not valid Unicode text (it holds an unpaired surrogate)")
        if len(question) > self.max_question_chars:
            raise QuestionError(
                f"the question is {len(question)} characters long; the limit is "
                f"{self.max_question_chars} (CONVENTION_QA_MAX_QUESTION_CHARS)"
            )
        k = k or self.k
        if not 1 <= k <= 50:
            raise QuestionError(f"k must be between 1 and 50, not {k}")
        timings: dict[str, float] = {}
        asked = guess_language(question)
        if asked not in LANGUAGES:
            asked = "en" if re.search(r"[a-z]", question, re.I) and question.isascii() else "id"
        lang = language if language in LANGUAGES else asked

        started = time.perf_counter()
        turns = _bounded(history, self.history_turns, self.max_question_chars)
        query = self._condense(question, turns)
        timings["condense"] = time.perf_counter() - started

        started = time.perf_counter()
        passages = self.retriever.retrieve(query, k, language=asked)
        timings["retrieve"] = time.perf_counter() - started

        answer = Answer(question, "", True, language=lang, query=query, passages=passages, timings=timings)
        answer.question_language = asked
        if not passages:
            yield from self._abstain(answer, "off-corpus")
            return
        evidence = select_evidence(query, passages, self.evidence_tokens, self.retriever.idf, asked)
        values = {"evidence": format_evidence(evidence), "question": question, "language": LANGUAGES[lang]}
        messages = self._messages(values)

        started = time.perf_counter()
        refusal = None
        same_language = passages[0].meta.get("language") in (asked, None)
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
                yield raw
        else:
            raw, released = "", False
            for piece in self._generate(messages, timings, started):
                raw += piece
                if released:
                    yield piece
                elif not may_be_refusal(raw):
                    released = True  # from here on, stream as it comes
                    yield raw
            if self.policy is not None and is_refusal(raw):
                # The policy, which already weighed the model's own inclination to refuse, says
                # the passages answer this: one decision, so ask once more without the way out.
                retry = "".join(self._generate(self._messages(values, repair="refusal"), {}, 0.0))
                if retry.strip() and not is_refusal(retry):
                    raw, answer.repair = retry, "refusal"
                    yield raw
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
        yield answer

    @staticmethod
    def _abstain(answer: Answer, reason: str, *, announce: bool = True) -> Iterator[str | Answer]:
        answer.abstained, answer.abstain_reason = True, reason
        answer.text = ABSTAIN_TEXT.get(answer.language, ABSTAIN_TEXT["en"])
        if announce:
            yield answer.text
        yield answer

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
            (item.n, item.passage.text[start:end], item.passage.meta.get("language"))
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
    ) -> tuple[str, str | None]:
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
