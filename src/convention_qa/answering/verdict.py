"""Whether to give an answer once it is written: the probability that it is right.

The pre-answer policy asks "do the passages answer this question?"; this module asks the
question users care about: "is *this answer* right?". :func:`check_answer` measures a written
answer against its evidence:

- where it comes from: the evidence sentence holding its words, numbers and names (``found``,
  ``anchors_found``), and whether that is the sentence an extractive reader would pick
  (``agrees``);
- whether that sentence answers the question (the support signals of
  :mod:`convention_qa.answering.support`, read by a near-miss model fitted on IDK-MRC train: ``support``);
- whether it has the kind of answer asked for (a number for "how many", a name for "who":
  ``type_match``), or merely repeats the question (``echo``);
- what retrieval knew (``score``, ``same_language``);
- what the model knew, where the backend says: its probability of replying NOT_FOUND and its
  answer tokens' log-probabilities.

A :class:`Verdict` (logistic models whose weights are the versioned file ``verdict.json`` beside
this module, refitted by ``benchmarks/fit_support.py`` and ``benchmarks/fit_verdict.py``) turns
them into a calibrated probability that the answer is right, and the strictness setting picks
the operating point: the minimum probability at which an answer is given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convention_qa.answering.evidence import Evidence
from convention_qa.answering.linear import Linear, read_fitted, sigmoid
from convention_qa.answering.support import measure_support
from convention_qa.errors import ConfigError
from convention_qa.text import (
    MONTH_NAMES,
    STOP_WORDS,
    Query,
    anchors,
    cited_numbers,
    numbers,
    strip_markers,
    tokenize,
    words_of,
)

__all__ = [
    "ANSWER_FEATURES",
    "DEFAULT_VERDICT_FILE",
    "MODEL_FEATURES",
    "STRICTNESS",
    "SUPPORT_FEATURES",
    "AnswerCheck",
    "NearMiss",
    "Verdict",
    "check_answer",
    "load_verdict",
]

DEFAULT_VERDICT_FILE = Path(__file__).with_name("verdict.json")
STRICTNESS = ("strict", "balanced", "helpful")  # named operating points; "off" answers always
SUPPORT_FEATURES = (
    "coverage",
    "passage_coverage",
    "missing",
    "missing_sentence",
    "rarest_missing",
    "anchors",
    "anchors_passage",
    "negation",
    "length",
)
ANSWER_FEATURES = (
    "support",
    "found",
    "anchors_found",
    "echo",
    "answer_length",
    "type_match",
    "agrees",
    "score",
    "same_language",
)
MODEL_FEATURES = ("log_refusal", "logprob_min", "logprob_mean")

_WANTS_NUMBER = re.compile(
    r"\b(berapa|berapakah|how many|how much|what year|which year|bao nhiêu|mấy|năm nào)\b", re.IGNORECASE
)
_WANTS_DATE = re.compile(r"\b(kapan|kapankah|tanggal berapa|when|what date|khi nào|bao giờ|ngày nào)\b", re.IGNORECASE)
_WANTS_NAME = re.compile(r"\b(siapa|siapakah|who|whom|whose|ai là|người nào)\b", re.IGNORECASE)
_MONTHS = re.compile(rf"\b({MONTH_NAMES}|tháng|abad|century|masehi)\b", re.IGNORECASE)

Weights = Callable[[str], float]


@dataclass
class AnswerCheck:
    """What was measured about one written answer (every value a number, for the models)."""

    values: dict[str, float]
    n: int | None = None  # the evidence number of the sentence the answer comes from
    sentence: str = ""  # that sentence
    lacking: tuple[str, ...] = ()  # the question's words its passage lacks (read by the near-miss lexicon)

    def to_dict(self) -> dict[str, Any]:
        return {
            "values": {k: round(v, 4) for k, v in self.values.items()},
            "n": self.n,
            "sentence": self.sentence,
            "lacking": list(self.lacking),
        }


def _answer_type(question: str, claim: str) -> float:
    """1 when the answer has the kind of thing asked for, 0 when it lacks it, 0.5 when no kind is asked."""
    has_number = bool(numbers(claim))
    if _WANTS_DATE.search(question):
        return float(has_number or bool(_MONTHS.search(claim)))
    if _WANTS_NUMBER.search(question):
        return float(has_number)
    if _WANTS_NAME.search(question):
        return float(bool(anchors(" x " + claim) - numbers(claim)))  # " x ": a leading name counts too
    return 0.5


def check_answer(
    question: Query,
    support_question: Query,
    raw: str,
    evidence: list[Evidence],
    weight: Weights,
    *,
    same_language: bool,
    score: float,
    refusal: float | None = None,
    logprobs: Sequence[float] = (),
) -> AnswerCheck:
    """Measure ``raw`` (the model's answer, markers included) against ``evidence``.

    ``support_question`` is the question in the passages' language (the question itself, or its
    translation); ``same_language`` tells whether the answer can be matched word by word.
    """
    claim = strip_markers(raw)
    cited = set(cited_numbers(raw))
    question_tokens = question.token_set | support_question.token_set
    own = [t for t in dict.fromkeys(tokenize(claim)) if t not in question_tokens]
    claim_anchors = {a for a in anchors(" x " + claim) if a not in STOP_WORDS} - question.words
    sentences = [(item, item.passage.text[a:b]) for item in evidence for a, b in item.sentences]
    best = (-1.0, -1.0, 0.0)
    chosen: tuple[Evidence, str] | None = None
    for item, sentence in sentences:
        tokens, words = set(tokenize(sentence)), words_of(sentence)
        found = sum(t in tokens for t in own) / len(own) if own else 0.0
        anchored = len(claim_anchors & words) / len(claim_anchors) if claim_anchors else 1.0
        key = (anchored, found if same_language else 0.0, 1.0 if item.n in cited else 0.0)
        if key > best:
            best, chosen = key, (item, sentence)
    values: dict[str, float] = {}
    if chosen is None:
        return AnswerCheck({f: 0.0 for f in (*SUPPORT_FEATURES, *ANSWER_FEATURES)})
    item, sentence = chosen
    anchored, found = best[0], best[1]
    if not claim_anchors and not same_language:
        found = 0.5  # across languages, an answer without numbers or names cannot be matched word by word
    elif not same_language:
        found = anchored
    # The sentence that answers the question best, as an extractive reader would pick it.
    wanted = support_question.token_set
    overlap = [
        sum(weight(t) for t in wanted & set(tokenize(s))) - 0.001 * index for index, (_, s) in enumerate(sentences)
    ]
    pick = sentences[max(range(len(sentences)), key=lambda i: overlap[i])][1]
    if not claim_anchors and not own and not same_language:
        sentence = pick  # nothing to locate the answer by: judge the sentence a reader would take
    support = measure_support(support_question, sentence, item.passage.text, weight, exclude=frozenset(own))
    values.update(support.values())
    values.update(
        found=found,
        anchors_found=anchored,
        echo=1.0 if not own and not (numbers(claim) - question.numbers) else 0.0,
        answer_length=float(min(len(tokenize(claim)), 20)),
        type_match=_answer_type(question.text, claim),
        agrees=1.0 if sentence == pick else 0.0,
        score=score,
        same_language=1.0 if same_language else 0.0,
    )
    if refusal is not None:
        values["log_refusal"] = math.log(max(refusal, 1e-6))
    if logprobs:
        values["logprob_min"] = max(min(logprobs), -20.0)
        values["logprob_mean"] = max(sum(logprobs) / len(logprobs), -20.0)
    return AnswerCheck(values, item.n, sentence, support.lacking)


@dataclass(frozen=True)
class NearMiss:
    """The near-miss model: a logistic regression over the support signals plus a lexicon, one
    weight for each question word (stem) that, missing from the passage, tells of a near miss."""

    linear: Linear
    lexicon: dict[str, float] = field(default_factory=dict)

    def logit(self, values: dict[str, float], lacking: Sequence[str] = ()) -> float:
        return self.linear.logit(values) + sum(self.lexicon.get(t, 0.0) for t in lacking)

    def to_dict(self) -> dict[str, Any]:
        return {**self.linear.to_dict(), "lexicon": self.lexicon}

    @classmethod
    def from_dict(cls, data: Any) -> NearMiss:
        lexicon = data.get("lexicon") or {} if isinstance(data, dict) else {}
        try:
            words = {str(k): float(v) for k, v in lexicon.items()}
        except (AttributeError, TypeError, ValueError):
            raise ConfigError("answer check file: the near-miss lexicon must map words to numbers") from None
        return cls(Linear.read(data, SUPPORT_FEATURES, "answer check model"), words)


@dataclass(frozen=True)
class Verdict:
    """The near-miss model, the answer models (with and without the model's own signals) and
    the operating points: the minimum probability of being right at which an answer is given."""

    support: NearMiss
    answer: Linear  # signals every backend has
    answer_model: Linear | None = None  # plus the model's refusal probability and log-probabilities
    thresholds: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    calibration: tuple[float, float] = (1.0, 0.0)  # Platt scaling of the answer model's logit

    def probability(self, check: AnswerCheck) -> float:
        """The probability that the checked answer is right."""
        values = dict(check.values)
        values["support"] = self.support.logit(values, check.lacking)
        return self.calibrated(self.logit(values))

    def logit(self, values: dict[str, float]) -> float:
        """The answer model's logit, on values that hold the near-miss logit as ``support``."""
        with_model = self.answer_model is not None and all(f in values for f in MODEL_FEATURES)
        model = self.answer_model if with_model and self.answer_model else self.answer
        return model.logit(values)

    def calibrated(self, logit: float) -> float:
        a, b = self.calibration
        return sigmoid(a * logit + b)

    def threshold(self, strictness: str) -> float:
        """The minimum probability for a strictness: a named point, "off" (0) or a number in [0, 1]."""
        if strictness == "off":
            return 0.0
        if strictness in self.thresholds:
            return self.thresholds[strictness]
        try:
            value = float(strictness)
        except ValueError:
            raise ConfigError(
                f"unknown strictness {strictness!r}: use strict, balanced, helpful, off or a number between 0 and 1"
            ) from None
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"strictness {value} is not between 0 and 1")
        return value

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "support": self.support.to_dict(),
            "answer": self.answer.to_dict(),
            "answer_model": self.answer_model.to_dict() if self.answer_model else None,
            "thresholds": self.thresholds,
            "calibration": list(self.calibration),
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Verdict:
        if not isinstance(data, dict) or data.get("version") != 1 or "support" not in data or "answer" not in data:
            raise ConfigError("answer check file: expected a JSON object with version 1, support and answer")
        with_model = (*ANSWER_FEATURES, *MODEL_FEATURES)
        thresholds = data.get("thresholds") or {}
        try:
            points = {str(k): float(v) for k, v in thresholds.items()}
        except (AttributeError, TypeError, ValueError):
            raise ConfigError("answer check file: thresholds must map names to numbers") from None
        try:
            a, b = (float(v) for v in data.get("calibration") or (1.0, 0.0))
        except (TypeError, ValueError):
            raise ConfigError("answer check file: calibration must be two numbers") from None
        return cls(
            NearMiss.from_dict(data["support"]),
            Linear.read(data["answer"], ANSWER_FEATURES, "answer check model"),
            Linear.read(data["answer_model"], with_model, "answer check model") if data.get("answer_model") else None,
            points,
            dict(data.get("meta") or {}),
            (a, b),
        )


def load_verdict(path: Path | None = None) -> Verdict:
    """The answer check models in ``path`` (default: the packaged ``verdict.json``)."""
    path = path or DEFAULT_VERDICT_FILE
    return Verdict.from_dict(read_fitted(path, "the answer check file"))
