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
from langchain_core.messages import HumanMessage, SystemMessage

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
from convention_qa.prompts import Prompts
from convention_qa.retrieval import Passage, Retriever
from convention_qa.text import guess_language, tokenize

__all__ = ["LANGUAGES", "NOT_FOUND", "Answer", "Assistant", "Message"]

log = logging.getLogger(__name__)

Message = dict[str, str]  # {"role": "user" | "assistant", "content": str}
NOT_FOUND = "NOT_FOUND"
LANGUAGES = {"id": "Indonesian", "en": "English", "vi": "Vietnamese"}
ABSTAIN_TEXT = {
    "id": "Artikel-artikel yang tersedia tidak memuat jawaban atas pertanyaan ini.",
    "en": "The articles do not contain the answer to this question.",
    "vi": "Các bài báo hiện có không chứa câu trả lời cho câu hỏi này.",
}
_FOLLOW_UP = re.compile(
    r"\b(it|its|he|his|him|she|her|they|them|their|this|that|those|these|there|"
    r"itu|tersebut|ini|dia|ia|beliau|mereka|nya|sana|"
    r"nó|đó|ấy|này|họ|ông|bà)\b|^(and|dan|và|lalu|terus|then|so)\b|\w+nya\b",
    re.IGNORECASE,
)
_REFUSALS = re.compile(
    r"NOT[_ ]FOUND|not (?:contain|mention|provide)|tidak (?:memuat|menyebutkan|ada informasi)|"
    r"không (?:có thông tin|chứa)",
    re.IGNORECASE,
)


@dataclass
class Answer:
    question: str
    text: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    language: str = "und"
    query: str = ""  # the standalone question used for retrieval
    passages: list[Passage] = field(default_factory=list)  # everything retrieved, best first
    unsupported: list[str] = field(default_factory=list)  # claims their citations do not back
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "language": self.language,
            "query": self.query,
            "unsupported": self.unsupported,
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
    min_score: float = 0.82
    min_score_cross: float = 0.79
    evidence_tokens: int = 220
    history_turns: int = 6
    max_question_chars: int = 2000
    min_extractive_overlap: float = 0.34
    verify: bool = True  # ask the model whether the evidence answers before answering

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
        """Yield pieces of the answer text as they are generated, then the final Answer."""
        question = (question or "").strip()
        if not question:
            raise QuestionError("the question is empty: type a question about the articles")
        if len(question) > self.max_question_chars:
            raise QuestionError(
                f"the question is {len(question)} characters long; the limit is "
                f"{self.max_question_chars} (CONVENTION_QA_MAX_QUESTION_CHARS)"
            )
        k = k or self.k
        if not 1 <= k <= 50:
            raise QuestionError(f"k must be between 1 and 50, not {k}")
        timings: dict[str, float] = {}
        lang = language if language in LANGUAGES else guess_language(question)
        if lang not in LANGUAGES:
            lang = "en" if re.search(r"[a-z]", question, re.I) and question.isascii() else "id"

        started = time.perf_counter()
        query = self._condense(question, list(history)[-self.history_turns :] if self.history_turns else [])
        timings["condense"] = time.perf_counter() - started

        started = time.perf_counter()
        passages = self.retriever.retrieve(query, k)
        timings["retrieve"] = time.perf_counter() - started

        answer = Answer(question, "", True, language=lang, query=query, passages=passages, timings=timings)
        if not passages or passages[0].score < self._threshold(passages[0], lang):
            answer.text = ABSTAIN_TEXT[lang]
            yield answer.text
            yield answer
            return

        evidence = select_evidence(query, passages, self.evidence_tokens, self.retriever.idf, lang)
        started = time.perf_counter()
        if self.chat_model is None:
            raw = self._extract(query, evidence, lang)
            if raw:
                yield raw
        else:
            raw, released = "", False
            for piece in self._generate(question, lang, evidence, timings, started):
                raw += piece
                if released:
                    yield piece
                elif not _may_be_refusal(raw):
                    released = True  # from here on, stream as it comes
                    yield raw
        timings["generate"] = time.perf_counter() - started

        if not raw.strip() or (_REFUSALS.search(raw) and len(raw.strip()) < 160):
            answer.text = ABSTAIN_TEXT[lang]
            yield answer
            return
        text, citations, unsupported = resolve_citations(raw, evidence, self.retriever.idf)
        answer.text, answer.citations, answer.unsupported = text, citations, unsupported
        answer.abstained = not citations
        if answer.abstained:
            answer.text = ABSTAIN_TEXT[lang]
        yield answer

    def _threshold(self, best: Passage, language: str) -> float:
        """Scores across languages run lower (e5 puts them further apart): a threshold for each."""
        same = best.meta.get("language") in (language, None)
        return self.min_score if same else self.min_score_cross

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
        return f"{previous[-1]} {question}"

    def _extract(self, question: str, evidence: list[Evidence], language: str) -> str:
        """The evidence sentence that best answers the question, cited; '' if none does.

        Same language: the sentence sharing most (IDF-weighted) words with the question.
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
        tokens = set(tokenize(question))
        if all(lang not in (language, None) for _, _, lang in candidates):
            vectors = self.retriever.embedder.embed_documents([s for _, s, _ in candidates])
            query = self.retriever.embedder.embed_query(question)
            scores = [sum(a * b for a, b in zip(v, query, strict=True)) for v in vectors]
            threshold = self.min_score_cross
        else:
            scores = [overlap(tokens, s, self.retriever.idf) for _, s, _ in candidates]
            threshold = self.min_extractive_overlap
        best = max(range(len(candidates)), key=lambda i: scores[i])
        if scores[best] < threshold:
            return ""
        n, sentence, _ = candidates[best]
        return append_marker(sentence.rstrip(), n)

    def _generate(
        self,
        question: str,
        lang: str,
        evidence: list[Evidence],
        timings: dict[str, float],
        started: float,
    ) -> Iterator[str]:
        assert self.chat_model is not None
        system = SystemMessage(self.prompts.render("system", language=LANGUAGES[lang]))
        values = {"evidence": format_evidence(evidence), "question": question, "language": LANGUAGES[lang]}
        try:
            if self.verify:
                # Same system prompt and evidence as the answer prompt: a local model reuses the
                # processed prefix, so the check costs little more than its one-word reply.
                check = [system, HumanMessage(self.prompts.render("check", **values))]
                reply = str(self.chat_model.invoke(check, stop=["\n"]).content).strip().upper()
                timings["check"] = time.perf_counter() - started
                if reply.startswith("NO"):
                    yield NOT_FOUND
                    return
            messages = [system, HumanMessage(self.prompts.render("answer", **values))]
            for chunk in self.chat_model.stream(messages):
                piece = str(chunk.content)
                if piece:
                    timings.setdefault("first_token", time.perf_counter() - started)
                    yield piece
        except ConventionQAError:
            raise
        except Exception as exc:
            raise ModelError(
                f"the answer model failed ({type(exc).__name__}: {exc}). Check that its server is "
                "running and CONVENTION_QA_LLM_BASE_URL / CONVENTION_QA_LLM_MODEL, or set "
                "CONVENTION_QA_LLM=extractive to answer without a model"
            ) from None


def _may_be_refusal(text: str) -> bool:
    """True while the text so far could still be, or already is, the NOT_FOUND reply."""
    head = text.lstrip()
    return NOT_FOUND.startswith(head) or head.startswith(NOT_FOUND)


def _looks_like_follow_up(question: str) -> bool:
    return len(tokenize(question)) <= 3 or bool(_FOLLOW_UP.search(question))
