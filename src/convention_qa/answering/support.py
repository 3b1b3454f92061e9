"""Does this sentence answer this question? Signals at the unit where near misses show.

A near miss ("how many countries *ratified*?" when the article says how many *signed*) is
written against a passage that is on topic, so passage-level signals barely separate it from an
answerable question. The difference sits in the one sentence the answer comes from: a word the
question turns on ("ratified", "tidak", "pertama", a name, a number) is not in it. The features
here compare a question with one sentence (and with the passage around it), in the passage's
language; :mod:`convention_qa.answering.verdict` reads them, with the answer's own signals, to decide
whether an answer stands. ``benchmarks/fit_verdict.py`` fits the weights on IDK-MRC's near misses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from convention_qa.text import STOP_WORDS, Query, fold_marks, tokenize, words_of

__all__ = ["ASKING", "NEGATIONS", "SupportSignals", "best_sentence", "measure_support"]

# Words that turn a question around; most of them are stop words to retrieval, so they are read
# from the raw text here.
NEGATIONS = frozenset(
    [
        "tidak",
        "tak",
        "bukan",
        "belum",
        "tanpa",
        "selain",
        "kecuali",
        "non",
        "not",
        "no",
        "never",
        "without",
        "except",
        "nor",
        "không",
        "chưa",
        "chẳng",
        "trừ",
    ]
)
_WORD = re.compile(r"\w+", re.UNICODE)
# Words that say what is asked rather than what about; a passage never holds them.
ASKING = frozenset(
    ["nama", "maksud", "dimaksud", "arti", "sebut", "disebut", "name", "called", "mean", "meaning", "tên", "gọi"]
)

Weights = Callable[[str], float]


def _uniform(token: str) -> float:
    return 1.0


@dataclass(frozen=True)
class SupportSignals:
    """How one sentence (and its passage) covers a question; every share is in [0, 1]."""

    coverage: float  # share of the question's content words found in the sentence (weighted)
    passage_coverage: float  # ... found anywhere in the passage
    missing: int  # the question's content words found nowhere in the passage
    missing_sentence: int  # ... not in the sentence
    rarest_missing: float  # weight of the heaviest question word the sentence lacks, over the heaviest's
    anchors: float  # share of the question's numbers and names found in the sentence (1 if none)
    anchors_passage: float  # ... in the passage
    negation: float  # 1 when the question negates and the sentence does not
    length: int  # the question's content words
    lacking: tuple[str, ...] = ()  # the question's content words (stems) the passage lacks, as the lexicon reads them

    def values(self) -> dict[str, float]:
        return {
            "coverage": self.coverage,
            "passage_coverage": self.passage_coverage,
            "missing": float(min(self.missing, 5)),
            "missing_sentence": float(min(self.missing_sentence, 8)),
            "rarest_missing": self.rarest_missing,
            "anchors": self.anchors,
            "anchors_passage": self.anchors_passage,
            "negation": self.negation,
            "length": float(min(self.length, 15)),
        }


def _negated(text: str) -> bool:
    return any(w in NEGATIONS for w in _WORD.findall(text.lower()))


def measure_support(
    question: Query,
    sentence: str,
    passage: str,
    weight: Weights = _uniform,
    *,
    exclude: frozenset[str] = frozenset(),
) -> SupportSignals:
    """The support signals of ``sentence`` (a sentence of ``passage``) for ``question``.

    ``question`` must be in the passage's language (translate it first); ``exclude`` holds
    tokens not to count as the question's (for example, the answer's own words).
    """
    wanted = question.token_set - exclude
    in_sentence, in_passage = set(tokenize(sentence)), set(tokenize(passage))
    weights = {t: weight(t) for t in wanted}
    total = sum(weights.values())
    heaviest = max(weights.values(), default=0.0)
    lacking = [weights[t] for t in wanted - in_sentence]
    names = {a for a in question.anchors if a not in STOP_WORDS}
    sentence_words, passage_words = words_of(sentence), words_of(passage)
    return SupportSignals(
        coverage=sum(weights[t] for t in wanted & in_sentence) / total if total else 0.0,
        passage_coverage=sum(weights[t] for t in wanted & in_passage) / total if total else 0.0,
        missing=len(wanted - in_passage),
        missing_sentence=len(wanted - in_sentence),
        rarest_missing=max(lacking, default=0.0) / heaviest if heaviest else 0.0,
        anchors=len(names & sentence_words) / len(names) if names else 1.0,
        anchors_passage=len(names & passage_words) / len(names) if names else 1.0,
        negation=1.0 if _negated(question.text) and not _negated(sentence) else 0.0,
        length=len(wanted),
        lacking=tuple(sorted(t for t in wanted - in_passage if t not in ASKING)),
    )


def best_sentence(question: Query, sentences: list[str], weight: Weights = _uniform) -> int:
    """The index of the sentence that shares most (weighted) content words with ``question``."""
    wanted = question.token_set
    weights = {t: weight(t) for t in wanted}

    def shared(sentence: str) -> float:
        return sum(weights[t] for t in wanted & set(tokenize(sentence)))

    return max(range(len(sentences)), key=lambda i: (shared(sentences[i]), -i)) if sentences else -1


def folded_words(text: str) -> set[str]:
    """Diacritic-free lower-case words, for matching an answer inside a sentence."""
    return set(_WORD.findall(fold_marks(text)))
