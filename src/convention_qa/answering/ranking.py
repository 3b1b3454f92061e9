"""Rank the sentences of the retrieved passages for a question, in any of the three languages.

The reader sees only the few best sentences, so this ranking decides what can be answered.
Each sentence gets four signals:

- ``dense``: the multilingual embedder's cosine between the question (e5 query prefix) and the
  sentence (e5 passage prefix). It matches across languages, so an English or Vietnamese
  question ranks Indonesian sentences without a translation;
- ``lexical``: the IDF-weighted share of the question's words the sentence holds (meaningful
  only when the question and the sentence share a language: 0 otherwise);
- ``anchors``: the share of the question's distinctive numbers and names (which read the same
  in every language) the sentence holds;
- ``kind``: whether the sentence holds the kind of thing asked for: a number for "how many" /
  "berapa" / "bao nhiêu", a date for "when" / "kapan" / "khi nào", a name for "who" / "siapa" /
  "ai" (read from the question's words in all three languages);
- ``passage``: the retrieval score of the passage it comes from.

A follow-up ("and how many articles does it have?") is ranked by its own words first: the
earlier question it leans on (``context``) adds a quarter of its own signals.

They are added with weights chosen on the shared training splits (``benchmarks/rank.py``
measures answer-sentence recall@1/3/5 for each signal alone and for the mix). Sentence vectors
are kept in a bounded cache by text, so the sentences of an article asked about again cost
nothing. :func:`overlap` (weighted word overlap) lives here, its one home.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from langchain_core.embeddings import Embeddings

from convention_qa.contract import Passage
from convention_qa.corpus.chunking import split_sentences
from convention_qa.text import MONTH_NAMES, Query, tokenize, words_of

__all__ = [
    "RankWeights",
    "RankedSentence",
    "SentenceRanker",
    "Weights",
    "answer_kind",
    "holds_kind",
    "overlap",
    "sentences_of",
    "uniform",
]

log = logging.getLogger(__name__)

Weights = Callable[[str], float]  # token -> weight (e.g. IDF); rare words count more

_MIN_WORDS = 3  # a "sentence" of fewer words (an image mark, a lone "|") holds no answer
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_NOISE = re.compile(r"!\[[^\]]*\]\([^)]*\)|^\s*\|\s*|\s*\|\s*$")  # markdown image marks, table pipes


def uniform(token: str) -> float:
    """Every word weighs the same."""
    return 1.0


def overlap(query_tokens: AbstractSet[str], text: str | AbstractSet[str], weight: Weights = uniform) -> float:
    """Weighted share of the query's tokens that ``text`` (or its token set) contains."""
    total = sum(weight(t) for t in query_tokens)
    if not total:
        return 0.0
    found = set(tokenize(text)) if isinstance(text, str) else text
    return sum(weight(t) for t in query_tokens & found) / total


@dataclass(frozen=True)
class RankWeights:
    """How the signals add up; chosen on the training splits by ``benchmarks/rank.py``."""

    dense: float = 1.0
    lexical: float = 0.15
    anchors: float = 0.0
    passage: float = 0.3
    kind: float = 0.1


@dataclass(frozen=True)
class RankedSentence:
    """One sentence of a retrieved passage, with what ranked it."""

    passage: Passage
    rank: int  # the passage's rank in retrieval, 0 = best
    span: tuple[int, int]  # in passage.text
    text: str
    score: float
    dense: float
    lexical: float
    anchors: float
    kind: float = 0.0

    @property
    def language(self) -> str | None:
        return self.passage.meta.language


@dataclass
class SentenceRanker:
    """``run(query, passages)`` -> the passages' sentences, best first."""

    embedder: Embeddings | None
    weight: Weights = uniform
    weights: RankWeights = field(default_factory=RankWeights)
    cache_size: int = 20_000
    _vectors: OrderedDict[str, list[float]] = field(default_factory=OrderedDict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def run(self, query: Query, passages: Sequence[Passage], context: Query | None = None) -> list[RankedSentence]:
        pieces = [
            (rank, passage, span, text)
            for rank, passage in enumerate(passages)
            for span, text in sentences_of(passage.text)
        ]
        if not pieces:
            return []
        # Scored without their web addresses: a URL's slug ("cong-uoc-ha-noi-...") reads like a
        # question's words, so the article's "published by" line outranked its answers.
        texts = [_URL.sub(" ", text) for *_, text in pieces]
        words = [words_of(text) for text in texts]
        own = self._signals(query, pieces, texts, words, self._dense(query.text, texts))
        if context is not None:
            leaned = self._signals(context, pieces, texts, words, self._dense(context.text, texts))
            lean = 0.25
            own = [
                tuple(a + lean * b for a, b in zip(mine, theirs, strict=True))
                for mine, theirs in zip(own, leaned, strict=True)
            ]
        wants = answer_kind(query.text)
        w = self.weights
        ranked = []
        for (rank, passage, span, text), scored, (similarity, lexical, anchored) in zip(
            pieces, texts, own, strict=True
        ):
            kind = 1.0 if wants and holds_kind(scored, wants) else 0.0
            score = (
                w.dense * similarity
                + w.lexical * lexical
                + w.anchors * anchored
                + w.kind * kind
                + w.passage * passage.score
            )
            ranked.append(RankedSentence(passage, rank, span, text, score, similarity, lexical, anchored, kind))
        ranked.sort(key=lambda s: (-s.score, s.rank, s.span))
        return ranked

    def _signals(
        self,
        query: Query,
        pieces: list[tuple[int, Passage, tuple[int, int], str]],
        texts: list[str],
        words: list[set[str]],
        dense: list[float],
    ) -> list[tuple[float, ...]]:
        """(dense, lexical, anchors) of each sentence for ``query``."""
        wanted = _distinctive(query.anchors, words)
        found: list[tuple[float, ...]] = []
        for (_, passage, _, _), text, similarity, found_words in zip(pieces, texts, dense, words, strict=True):
            same = passage.meta.language in (query.language, None)
            lexical = overlap(query.token_set, text, self.weight) if same else 0.0
            anchored = len(wanted & found_words) / len(wanted) if wanted else 0.0
            found.append((similarity, lexical, anchored))
        return found

    def _dense(self, question: str, texts: list[str]) -> list[float]:
        if self.embedder is None:
            return [0.0] * len(texts)
        target = self.embedder.embed_query(question)
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            vectors = self.embedder.embed_documents(missing)
            with self._lock:
                for text, vector in zip(missing, vectors, strict=True):
                    self._vectors[text] = vector
                while len(self._vectors) > self.cache_size:
                    self._vectors.popitem(last=False)
        with self._lock:
            found = [self._vectors.get(t) for t in texts]
        # A vector evicted between the two holds of the lock (another thread's burst) is made again.
        redo = [t for t, v in zip(texts, found, strict=True) if v is None]
        if redo:
            again = dict(zip(redo, self.embedder.embed_documents(redo), strict=True))
            found = [v if v is not None else again[t] for t, v in zip(texts, found, strict=True)]
        return [sum(a * b for a, b in zip(v, target, strict=True)) for v in found if v is not None]


_KINDS = {
    "date": re.compile(
        r"\b(kapan|when|what date|what year|which year|tanggal berapa|tahun berapa|khi nào|bao giờ|ngày nào|năm nào|"
        r"ngày bao nhiêu|thời gian nào)\b",
        re.IGNORECASE,
    ),
    "number": re.compile(r"\b(berapa|berapakah|how many|how much|bao nhiêu|mấy|what number|jumlah)\b", re.IGNORECASE),
    "name": re.compile(r"\b(siapa|siapakah|who|whom|whose|ai là|là ai|ai đã|ai)\b", re.IGNORECASE),
}
_MONTHS = re.compile(rf"\b({MONTH_NAMES}|tháng)\b", re.IGNORECASE)
_NUMBER_WORD = re.compile(
    r"\d|\b(satu|dua|tiga|empat|lima|enam|tujuh|delapan|sembilan|sepuluh|sebelas|puluh|ratus|ribu|juta|miliar)\b",
    re.IGNORECASE,
)
_LATER_NAME = re.compile(r"(?<=\S)\s+[A-ZÀ-Ỹ][\w'-]+")


def answer_kind(question: str) -> str | None:
    """What a question asks for: "date", "number", "name", or None (read in id, en and vi)."""
    for kind, pattern in _KINDS.items():
        if pattern.search(question):
            return kind
    return None


def holds_kind(sentence: str, kind: str) -> bool:
    """Whether a sentence holds something of that kind."""
    if kind == "date":
        return bool(re.search(r"\b\d{4}\b", sentence) or _MONTHS.search(sentence))
    if kind == "number":
        return bool(_NUMBER_WORD.search(sentence))
    return bool(_LATER_NAME.search(sentence))


def sentences_of(text: str) -> list[tuple[tuple[int, int], str]]:
    """The sentences of a passage worth reading: spans in ``text`` and their cleaned text."""
    found = []
    for line in re.finditer(r"[^\n]+", text):  # a caption or a list item ends at its line
        for start, end in split_sentences(line.group(), line.start()):
            clean = _NOISE.sub(" ", text[start:end]).strip(" |")
            if len(clean.split()) >= _MIN_WORDS:
                found.append(((start, end), clean))
    return found


def _distinctive(anchors: AbstractSet[str], words: list[set[str]]) -> set[str]:
    """The question's anchors that pick sentences out: one found in most sentences does not."""
    limit = max(1, len(words) // 3)
    return {a for a in anchors if sum(a in w for w in words) <= limit}
