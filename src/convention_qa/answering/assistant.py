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
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel

from convention_qa.answering.evidence import format_evidence, merge_evidence, resolve_citations, select_evidence
from convention_qa.answering.extract import Extractor, cite_source
from convention_qa.answering.grounding import is_refusal
from convention_qa.answering.pipeline import Pipeline
from convention_qa.answering.points import Points
from convention_qa.answering.policy import Policy, measure
from convention_qa.answering.prompts import Prompts
from convention_qa.answering.ranking import SentenceRanker
from convention_qa.answering.reader import Reader
from convention_qa.answering.retrieval import Retriever
from convention_qa.answering.stages import Check, Cite, Condense, Rank, Read, Retrieve, Translate
from convention_qa.answering.verdict import Verdict, check_answer
from convention_qa.answering.writer import Writer
from convention_qa.config import AnswerConfig
from convention_qa.contract import AbstainReason, Answer, AnswerRequest, Event, Final, Message, Passage, Token
from convention_qa.errors import QuestionError
from convention_qa.text import LANGUAGES, Query, guess_language, valid_text, visible

__all__ = ["ABSTAIN_REASONS", "ABSTAIN_TEXT", "Assistant"]

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
    "unsure": "an answer was written, but the passages do not clearly back it",
}


@dataclass
class Assistant:
    retriever: Retriever
    chat_model: BaseChatModel | None = None  # None: extractive answers
    prompts: Prompts = field(default_factory=Prompts)
    policy: Policy | None = None  # its off-corpus floors refuse before the model; None: no floors
    verdict: Verdict | None = None  # decides on the written answer; None: give every answer
    # The focused reader's operating points (strictness -> minimum confidence) and its fitted
    # confidence model (see ``operating_points``); None: give every answer.
    points: Points | None = None
    config: AnswerConfig = field(default_factory=AnswerConfig)
    min_extractive_overlap: float = 0.34
    min_extractive_similarity: float = 0.79  # cross-language extraction: embedder similarity

    def __post_init__(self) -> None:
        self._writer = Writer(self.chat_model, self.prompts)
        self._extract = Extractor(self.retriever, self.min_extractive_overlap, self.min_extractive_similarity)
        self.pipeline = Pipeline(
            Condense(),
            Retrieve(self.retriever, self.policy),
            Translate(self._writer if self.config.translate else None),
            Rank(SentenceRanker(self.retriever.embedder, self.retriever.idf)),
            Read(Reader(self.chat_model, self.prompts)),
            Check(self.points.thresholds, self.points.model) if self.points else Check({}),
            Cite(),
            strictness=self.config.strictness if self.points is not None else "off",
        )

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
        if not visible(question):
            # Blank, or only control and invisible characters (NUL, zero-width spaces): nothing to ask.
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
            history=tuple(_bounded(history, self.config.history_messages, limit)),
            read=Query.read(question, asked),
        )

    def ask(
        self, question: str, history: Sequence[Message] = (), *, k: int | None = None, language: str | None = None
    ) -> Answer:
        """``answer(request(...))``: for callers that hold a plain question."""
        return self.answer(self.request(question, history, k=k, language=language))

    def runnable(self) -> Any:
        """The focused pipeline as a LangChain ``Runnable`` (AnswerRequest in, Answer out), for
        ``invoke``/``batch`` from LangChain code; callbacks and tracers see the run."""
        return self.pipeline.as_runnable(ABSTAIN_TEXT)

    def answer(self, request: AnswerRequest) -> Answer:
        for event in self.stream(request):
            if isinstance(event, Final):
                return event.answer
        raise AssertionError("stream() ended without a Final event")

    def stream(self, request: AnswerRequest) -> Iterator[Event]:
        """The answer's text once it is decided (one Token, unless it abstains), then one Final.

        The answer is held until it has been checked: answers are short, and a user should not
        see a wrong answer appear and then be taken back.
        """
        if self.config.reader == "focused":
            yield from self.pipeline.stream(request, ABSTAIN_TEXT)
            return
        asking = request.query  # the question as asked, read once
        question, asked, lang, k = request.question, request.question_language, request.answer_language, request.k
        timings: dict[str, float] = {}
        begun = started = time.perf_counter()
        condensed = self._writer.condense(asking, list(request.history))
        query = asking if condensed == question else Query.read(condensed, asked)
        timings["condense"] = time.perf_counter() - started

        started = time.perf_counter()
        passages = self.retriever.retrieve(query, k)
        timings["retrieve"] = time.perf_counter() - started

        answer = Answer(
            question=question,
            text="",
            abstained=True,
            language=lang,
            question_language=asked,
            query=query.text,
            passages=passages,
            timings=timings,
        )
        timings = answer.timings  # the model holds its own copy; the steps below add to it
        if not passages:
            yield from self._abstain(answer, "off-corpus")
            return
        same_language = passages[0].meta.language in (asked, None)
        if self.policy and self.policy.off_corpus(passages[0].score, same_language):
            answer.signals = measure(query, passages, self.retriever.rarity)
            answer.confidence = 0.0
            yield from self._abstain(answer, "off-corpus")
            return

        # Across languages, the question is put into the passages' language, so that words can
        # be matched: to pick evidence sentences and to check the answer against them.
        reading = query
        if not same_language and self.chat_model is not None and self.config.translate:
            started = time.perf_counter()
            target = passages[0].meta.language or asked
            translated = self._writer.translate(query.text, target)
            timings["translate"] = time.perf_counter() - started
            if translated:
                reading, answer.translation = Query.read(translated, target), translated
                passages = _merge(passages, self.retriever.retrieve(reading, k), k)
                answer.passages = passages
        read_as = reading.language
        evidence = select_evidence(reading, passages, self.config.evidence_tokens, self.retriever.idf)
        if answer.translation:
            # A translation can take the wrong sense of a word (a convention's "articles" put as
            # news "artikel", not "pasal"): the sentences the question itself picks, by its numbers,
            # names and the passages' ranks, go in as well.
            as_asked = select_evidence(query, passages, self.config.evidence_tokens, self.retriever.idf)
            evidence = merge_evidence(passages, evidence, as_asked)
        values = {"evidence": format_evidence(evidence), "question": question, "language": LANGUAGES[lang]}
        messages = self._writer.messages(values)

        started = time.perf_counter()
        refusal = self._writer.refusal(messages) if self.chat_model is not None else None
        if refusal is not None:
            timings["check"] = time.perf_counter() - started
        answer.signals = measure(reading, passages, self.retriever.rarity, refusal)
        logprobs: list[float] = []
        if self.chat_model is None:
            raw = self._extract(asking if read_as == asked else reading, reading, evidence)
        else:
            raw = "".join(self._writer.generate(messages, logprobs))
            if not is_refusal(raw):
                raw, problem = self._writer.repair(raw, asking, reading, values, evidence, self._extract)
                answer.repair = problem
                if problem:
                    logprobs = []  # a repaired answer's tokens were not all read with these
        timings["generate"] = time.perf_counter() - started

        if not raw.strip() or is_refusal(raw):
            yield from self._abstain(answer, "model")
            return
        check = check_answer(
            asking,
            reading,
            raw,
            evidence,
            self.retriever.idf,
            same_language=read_as == asked,
            score=passages[0].score,
            refusal=refusal,
            logprobs=logprobs,
        )
        answer.check = check.to_dict()
        raw = cite_source(raw, check, evidence)
        text, citations, unsupported = resolve_citations(raw, evidence, self.retriever.idf)
        answer.text, answer.citations, answer.unsupported = text, citations, unsupported
        if self.verdict is not None:
            answer.confidence = self.verdict.probability(check)
            if answer.confidence < self.verdict.threshold(self.config.strictness):
                answer.withheld = text
                yield from self._abstain(answer, "unsure")
                return
        if not citations:
            answer.withheld = text
            yield from self._abstain(answer, "uncited")
            return
        answer.abstained = False
        timings["first_token"] = time.perf_counter() - begun
        yield Token(answer.text)
        yield Final(answer)

    @staticmethod
    def _abstain(answer: Answer, reason: AbstainReason) -> Iterator[Event]:
        answer.abstained, answer.abstain_reason = True, reason
        answer.text = ABSTAIN_TEXT.get(answer.language, ABSTAIN_TEXT["en"])
        answer.citations, answer.unsupported = [], []
        yield Token(answer.text)
        yield Final(answer)

    # -- steps ----------------------------------------------------------------------------


def _merge(first: list[Passage], second: list[Passage], k: int) -> list[Passage]:
    """The best ``k`` of two retrievals of one question, each passage at its better score."""
    best: dict[str, Passage] = {}
    for passage in [*first, *second]:
        if passage.id not in best or passage.score > best[passage.id].score:
            best[passage.id] = passage
    return sorted(best.values(), key=lambda p: -p.score)[:k]


def _bounded(history: Sequence[Message], turns: int, chars: int) -> list[Message]:
    """The last ``turns`` messages, each cut to ``chars`` characters of valid text: whatever a
    client sends as history, the work it causes stays bounded."""
    kept = list(history)[-turns:] if turns else []
    return [
        {"role": str(m.get("role", "user")), "content": valid_text(str(m.get("content") or "")[:chars])} for m in kept
    ]
