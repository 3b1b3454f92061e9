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
from convention_qa.contract import (
    AbstainReason,
    Answer,
    AnswerRequest,
    Event,
    Final,
    Message,
    Passage,
    Repair,
    Token,
)
from convention_qa.errors import ConventionQAError, ModelError, QuestionError
from convention_qa.evidence import (
    Evidence,
    append_marker,
    format_evidence,
    merge_evidence,
    overlap,
    resolve_citations,
    select_evidence,
)
from convention_qa.grounding import NOT_FOUND, answer_problem, is_refusal
from convention_qa.llm import refusal_probability
from convention_qa.policy import Policy, measure
from convention_qa.prompts import Prompts
from convention_qa.retrieval import Retriever
from convention_qa.text import LANGUAGES, guess_language, strip_markers, tokenize, valid_text, visible
from convention_qa.verdict import AnswerCheck, Verdict, check_answer

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
    "unsure": "an answer was written, but the passages do not clearly back it",
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
    policy: Policy | None = None  # its off-corpus floors refuse before the model; None: no floors
    verdict: Verdict | None = None  # decides on the written answer; None: give every answer
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
        """The answer's text once it is decided (one Token, unless it abstains), then one Final.

        The answer is held until it has been checked: answers are short, and a user should not
        see a wrong answer appear and then be taken back.
        """
        question, asked, lang, k = request.question, request.question_language, request.answer_language, request.k
        timings: dict[str, float] = {}
        begun = started = time.perf_counter()
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
        same_language = passages[0].meta.language in (asked, None)
        if self.policy and self.policy.off_corpus(passages[0].score, same_language):
            answer.signals = measure(query, passages, asked, self.retriever.rarity)
            answer.confidence = 0.0
            yield from self._abstain(answer, "off-corpus")
            return

        # Across languages, the question is put into the passages' language, so that words can
        # be matched: to pick evidence sentences and to check the answer against them.
        reading, read_as = query, asked
        if not same_language and self.chat_model is not None and self.config.translate:
            started = time.perf_counter()
            target = passages[0].meta.language or asked
            translated = self._translate(query, target)
            timings["translate"] = time.perf_counter() - started
            if translated:
                reading, read_as, answer.translation = translated, target, translated
                passages = _merge(passages, self.retriever.retrieve(translated, k, language=target), k)
                answer.passages = passages
        evidence = select_evidence(reading, passages, self.config.evidence_tokens, self.retriever.idf, read_as)
        if answer.translation:
            # A translation can take the wrong sense of a word (a convention's "articles" put as
            # news "artikel", not "pasal"): the sentences the question itself picks, by its numbers,
            # names and the passages' ranks, go in as well.
            as_asked = select_evidence(query, passages, self.config.evidence_tokens, self.retriever.idf, asked)
            evidence = merge_evidence(passages, evidence, as_asked)
        values = {"evidence": format_evidence(evidence), "question": question, "language": LANGUAGES[lang]}
        messages = self._messages(values)

        started = time.perf_counter()
        refusal = self._refusal(messages) if self.chat_model is not None else None
        if refusal is not None:
            timings["check"] = time.perf_counter() - started
        answer.signals = measure(reading, passages, read_as, self.retriever.rarity, refusal)
        logprobs: list[float] = []
        if self.chat_model is None:
            raw = self._extract(question if read_as == asked else reading, reading, evidence, read_as)
        else:
            raw = "".join(self._generate(messages, logprobs))
            if not is_refusal(raw):
                raw, problem = self._repair(raw, question, reading, values, evidence, (asked, read_as))
                answer.repair = problem
                if problem:
                    logprobs = []  # a repaired answer's tokens were not all read with these
        timings["generate"] = time.perf_counter() - started

        if not raw.strip() or is_refusal(raw):
            yield from self._abstain(answer, "model")
            return
        check = check_answer(
            question,
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
        raw = _cite_source(raw, check, evidence)
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

    def _condense(self, question: str, history: list[Message]) -> str:
        previous = [m["content"] for m in history if m.get("role") == "user" and m.get("content")]
        if not previous or not _looks_like_follow_up(question):
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

    def _generate(self, messages: list[BaseMessage], logprobs: list[float] | None = None) -> Iterator[str]:
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
            raise _model_error(exc) from None

    def _translate(self, question: str, language: str) -> str:
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

    def _refusal(self, messages: list[BaseMessage]) -> float | None:
        assert self.chat_model is not None
        try:
            return refusal_probability(self.chat_model, messages)
        except ConventionQAError:
            raise
        except Exception as exc:
            raise _model_error(exc) from None

    def _repair(
        self,
        raw: str,
        question: str,
        query: str,
        values: dict[str, str],
        evidence: list[Evidence],
        languages: tuple[str, str],
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
        retry = "".join(self._generate(self._messages(values, repair=problem)))
        if (
            retry.strip()
            and not is_refusal(retry)
            and answer_problem(retry, question, evidence, values["language"]) is None
        ):
            return retry, problem
        if problem == "grounding":
            asked, read_as = languages  # the question's language, and the one it is read in
            return self._extract(question if read_as == asked else query, query, evidence, read_as) or raw, problem
        return (retry if retry.strip() and not is_refusal(retry) else raw), problem


def _merge(first: list[Passage], second: list[Passage], k: int) -> list[Passage]:
    """The best ``k`` of two retrievals of one question, each passage at its better score."""
    best: dict[str, Passage] = {}
    for passage in [*first, *second]:
        if passage.id not in best or passage.score > best[passage.id].score:
            best[passage.id] = passage
    return sorted(best.values(), key=lambda p: -p.score)[:k]


def _cite_source(raw: str, check: AnswerCheck, evidence: list[Evidence]) -> str:
    """The answer citing the passage it comes from.

    When the sentence holding all of the answer's numbers and names is in a passage the answer
    does not cite, the answer's markers are replaced by that passage's: a citation must hold
    what it backs (an answer whose numbers or names no passage holds is judged by the verdict).
    """
    values = check.values
    if check.n is None or values.get("anchors_found", 0.0) < 1.0 or not (values.get("found", 0.0) > 0.0):
        return raw
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", raw)}
    if check.n in cited:
        return raw
    holder = next((e for e in evidence if e.n == check.n), None)
    if holder is None:
        return raw
    stripped = re.sub(r"\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]", "", raw).strip()
    log.info("citation of %r moved from %s to [%d]", stripped[:60], sorted(cited), check.n)
    return append_marker(stripped, check.n)


_CONTEXT_CHARS = 300  # of each earlier message a follow-up is read with
_CONDENSED_TOKENS = 64  # a rewritten question is one line


def _last_exchange(history: Sequence[Message]) -> list[Message]:
    """The last user message and what answered it."""
    for index in range(len(history) - 1, -1, -1):
        if history[index].get("role") == "user":
            return list(history[index : index + 2])
    return list(history[-2:])


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
