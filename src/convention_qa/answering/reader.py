"""The focused reader: choose the sentence that answers, then copy the answer from it.

The model sees only the few best-ranked sentences, numbered, and replies ``N | words``: the
number of the sentence that states the answer and the shortest exact words of it that answer,
or ``0`` when none does. A small model is better at choosing among few options than at writing
freely, and the choice comes with a confidence: the probability the model gives each number as
the first token of its reply (``0`` is NONE). The words it copies are then found in the chosen
sentence (an answer that is not there is no answer), and, when the question was asked in
another language than the sentence's and the words are more than names and numbers, phrased in
the language asked by one short model call whose output is checked, followed by the words as
the article writes them: "năm châu lục (lima benua)".

Without a model (the extractive backend), the best-ranked sentence is the answer, given when it
beats the next one by the operating point's margin.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from convention_qa.answering.prompts import NOT_FOUND, Prompts
from convention_qa.answering.ranking import RankedSentence
from convention_qa.answering.spans import copy_span
from convention_qa.answering.streaming import choice_probabilities, model_error
from convention_qa.errors import ConventionQAError
from convention_qa.text import LANGUAGES, STOP_WORDS, Query, fold_marks, guess_language, numbers, strip_markers

__all__ = ["Reader", "Reading", "checked_translation"]

log = logging.getLogger(__name__)

_REPLY = re.compile(
    r"^\s*(?:reply\s*:\s*)?\[?(\d{1,2})\]?\s*(?:(?:[|:)\-–]|\.(?!\d))\s*(.*))?$", re.IGNORECASE | re.DOTALL
)
_REPLY_TOKENS = 48  # "N | words": a line
_PHRASE_TOKENS = 40
# What a model writes before a translation instead of one ("Here is the translation:", "Berikut
# adalah ...", "Dưới đây là ..."): such a reply is refused, never used.
_PREAMBLE = re.compile(
    r"^(here is|here's|the translation|translation|translated|berikut|ini adalah|terjemahan|"
    r"dưới đây|đây là|bản dịch|sure|certainly|of course)\b|:\s*$",
    re.IGNORECASE,
)

_LABEL = re.compile(
    r"^(english|inggris|bahasa inggris|vietnamese|tiếng việt|bahasa vietnam|indonesian|bahasa indonesia|"
    r"tiếng indonesia)\s*:\s*",
    re.IGNORECASE,
)


@dataclass
class Reading:
    """What the reader decided."""

    shown: list[RankedSentence]  # the numbered sentences the reader saw, [1] first
    choice: int | None = None  # 1-based; None: no sentence states the answer
    span: str = ""  # the answer as copied from the chosen sentence
    answer: str = ""  # the span in the language asked ('' when there is none)
    confidence: float | None = None  # the choice's probability among the numbers shown and 0
    score: float | None = None  # what the check compares: the confidence, or without a model the ranking score
    none_probability: float | None = None
    raw: str = ""  # the model's reply
    problem: str | None = None  # why a reply was not usable: "not-copied", "unreadable"
    phrased: bool = False  # the span was put into the language asked
    context: str = ""  # the earlier question a follow-up was read with

    @property
    def sentence(self) -> RankedSentence | None:
        return self.shown[self.choice - 1] if self.choice else None

    def to_dict(self) -> dict[str, object]:
        chosen = self.sentence
        return {
            "stage": "read",
            "choice": self.choice,
            "confidence": self.confidence,
            "score": self.score,
            "none_probability": self.none_probability,
            "span": self.span,
            "phrased": self.phrased,
            "raw": self.raw,
            "problem": self.problem,
            "sentence": chosen.text if chosen else None,
            "sentence_score": chosen.score if chosen else None,
            "top_score": self.shown[0].score if self.shown else None,
            "shown": [s.text for s in self.shown],  # at most the reader's budget (about 900 characters)
            "context": self.context,
        }


@dataclass
class Reader:
    """``run(question, sentences, language)`` -> :class:`Reading`. ``chat_model`` None: extractive."""

    chat_model: BaseChatModel | None
    prompts: Prompts = field(default_factory=Prompts)
    shown: int = 4  # sentences the model reads, at most
    budget_chars: int = 900  # ... and their length: about 250 prompt tokens (at least two sentences)

    def focus(self, sentences: list[RankedSentence]) -> list[RankedSentence]:
        """The best sentences, as many as the reader reads and its budget holds."""
        shown: list[RankedSentence] = []
        used = 0
        for sentence in sentences[: self.shown]:
            if len(shown) >= 2 and used + len(sentence.text) > self.budget_chars:
                break
            shown.append(sentence)
            used += len(sentence.text)
        return shown

    def messages(self, question: Query, shown: list[RankedSentence], context: str = "") -> list[BaseMessage]:
        numbered = "\n".join(f"[{i}] {s.text}" for i, s in enumerate(shown, start=1))
        note = f"Earlier question: {context}\n" if context else ""
        prompt = self.prompts.render("read", sentences=numbered, context=note, question=question.text)
        return [SystemMessage(self.prompts.render("read_system")), HumanMessage(prompt)]

    def run(self, question: Query, sentences: list[RankedSentence], language: str, context: str = "") -> Reading:
        shown = self.focus(sentences)
        reading = Reading(shown, context=context)
        if not shown:
            return reading
        if self.chat_model is None:
            # The best sentence, scored by how clearly it beats the next one (a ranking margin,
            # not a probability: no confidence is claimed). The margin tells right from wrong far
            # better than the score itself (ROC AUC 0.79 against 0.70 on eval/seed.yaml).
            best = shown[0]
            if not context and not _evident(best, question):
                return reading  # no sentence shares enough with the question: "model"
            reading.choice, reading.span, reading.answer = 1, best.text, best.text
            reading.score = best.score - (sentences[1].score if len(sentences) > 1 else 0.0)
            return reading
        messages = self.messages(question, shown, context)
        options = [str(n) for n in range(len(shown) + 1)]
        probabilities = self._choices(messages, options)
        reading.raw = self._reply(messages)
        refused = reading.raw.strip().upper().startswith(NOT_FOUND)
        parsed = None if refused else _REPLY.match(reading.raw)
        if probabilities:
            total = sum(probabilities.values()) or 1.0
            reading.none_probability = probabilities.get("0", 0.0) / total
        if parsed:
            number, words = int(parsed.group(1)), parsed.group(2) or ""
        elif not refused:
            # Not in the "N | words" form (a bigger model behind a server may answer freely):
            # the words are looked up in the sentences shown, and the one that holds them chosen.
            number, words = _holder(strip_markers(reading.raw), shown), strip_markers(reading.raw)
        else:
            number, words = 0, ""
        if not 1 <= number <= len(shown):
            reading.problem = "unreadable" if not parsed and not refused and reading.raw.strip() else None
            return reading  # 0 (or a number not shown): no sentence states the answer
        if probabilities:
            reading.confidence = probabilities.get(str(number), 0.0) / (sum(probabilities.values()) or 1.0)
            reading.score = reading.confidence
        words = words.strip().splitlines()[0] if words.strip() else ""
        span = copy_span(words, shown[number - 1].text)
        if span is None and words:
            # The right words under the wrong number (the small model miscounts): the sentence
            # that holds them is the one it read them from.
            holder = _holder(words, shown)
            if holder:
                number, span = holder, copy_span(words, shown[holder - 1].text)
                reading.problem = "renumbered"
        reading.choice = number
        chosen = shown[number - 1]
        if span is None:
            reading.problem = "not-copied"
            return reading
        if _echoes(span, question):
            # Words the question already says ("SEA Games XXII" for "where were the SEA Games XXII
            # held?"): the small model copied the topic, not the answer.
            reading.problem = "echo"
            reading.span = span
            return reading
        reading.span = reading.answer = span
        source = chosen.language or guess_language(chosen.text)
        if language != source and _needs_phrasing(span):
            phrased = self._phrase(span, source, language)
            if phrased and phrased.casefold() != span.casefold():
                # The words in the language asked, and as the article writes them: a small model's
                # translation can be loose, and the reader can check it against the source.
                reading.answer, reading.phrased = f"{phrased} ({span})", True
        return reading

    def _choices(self, messages: list[BaseMessage], options: list[str]) -> dict[str, float] | None:
        assert self.chat_model is not None
        try:
            return choice_probabilities(self.chat_model, messages, options)
        except ConventionQAError:
            raise
        except Exception as exc:
            raise model_error(exc) from None

    def _reply(self, messages: list[BaseMessage]) -> str:
        assert self.chat_model is not None
        try:
            reply = self.chat_model.invoke(messages, stop=["\n"], max_tokens=_REPLY_TOKENS)
        except ConventionQAError:
            raise
        except Exception as exc:
            raise model_error(exc) from None
        return str(reply.content).strip()

    def _phrase(self, span: str, source: str, language: str) -> str:
        assert self.chat_model is not None
        prompt = self.prompts.render(
            "phrase",
            answer=span,
            source=LANGUAGES.get(source, source),
            language=LANGUAGES.get(language, language),
        )
        try:
            reply = self.chat_model.invoke([HumanMessage(prompt)], stop=["\n"], max_tokens=_PHRASE_TOKENS)
        except ConventionQAError:
            raise
        except Exception as exc:
            log.warning("phrasing the answer failed (%s); giving it as the sentence writes it", exc)
            return ""
        return checked_translation(str(reply.content), span, language)


def checked_translation(reply: str, original: str, language: str) -> str:
    """``reply`` as a translation of ``original`` into ``language``, or '' when it is not one: empty,
    a preamble ("Here is the translation:"), far longer than the original, missing one of its
    numbers, NOT_FOUND, or plainly in another language."""
    text = _LABEL.sub("", reply.strip()).strip().strip('"“”').strip()  # "English: ..." is the words after it
    if not text or NOT_FOUND in text or _PREAMBLE.search(text):
        return ""
    if len(text) > 3 * len(original) + 40:
        return ""
    if not numbers(original) <= numbers(text):
        return ""
    seen = guess_language(text)
    if seen in LANGUAGES and seen != language and len(text.split()) >= 3:
        return ""
    return text


# Without a model, the best sentence must share this much with the question to be an answer at
# all, whatever the strictness: within a language, this IDF-weighted share of its words; across
# languages, this cosine similarity (the extractive backend's floors, as before this reader).
MIN_OVERLAP = 0.34
MIN_SIMILARITY = 0.79


def _evident(sentence: RankedSentence, question: Query) -> bool:
    if sentence.language in (question.language, None):
        return sentence.lexical >= MIN_OVERLAP
    return sentence.dense >= MIN_SIMILARITY


def _echoes(span: str, question: Query) -> bool:
    """Whether every word of the span is already in the question (folded, in any language)."""
    words = [w for w in re.findall(r"\w+", fold_marks(span).lower()) if w not in STOP_WORDS]
    asked = set(re.findall(r"\w+", fold_marks(question.text).lower()))
    return bool(words) and all(w in asked for w in words)


def _holder(words: str, shown: list[RankedSentence]) -> int:
    """The number of the shown sentence the words are copied from (0: none)."""
    for n, sentence in enumerate(shown, start=1):
        if words.strip() and copy_span(words, sentence.text) is not None:
            return n
    return 0


def _needs_phrasing(span: str) -> bool:
    """Whether a span holds words to translate (not only names and numbers)."""
    return any(w.isalpha() and w.islower() and len(w) >= 3 for w in re.findall(r"\w+", span))
