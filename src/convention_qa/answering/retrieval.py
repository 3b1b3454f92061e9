"""Hybrid retrieval: BM25 and dense search, fused on normalized scores, near-duplicates collapsed.

BM25 only helps when the question and the passage share a language: for an English question
over Indonesian passages its matches are noise, so its weight depends on whether the question's
language is the passage's (``bm25_weight_same`` / ``bm25_weight_cross``). The BM25 index is built
on first use and rebuilt only when the store's revision changes.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_core.embeddings import Embeddings

from convention_qa.contract import ChunkMeta, Passage
from convention_qa.corpus.index import Store
from convention_qa.text import Query, tokenize

__all__ = ["BM25", "Passage", "Retriever"]

log = logging.getLogger(__name__)


class BM25:
    """Okapi BM25 over pre-tokenized documents."""

    def __init__(self, docs: Sequence[list[str]], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.lengths = [len(d) for d in docs]
        self.avg_len = (sum(self.lengths) / len(docs)) if docs else 0.0
        for index, tokens in enumerate(docs):
            for token, tf in Counter(tokens).items():
                self.postings[token].append((index, tf))
        n = len(docs)
        self.idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self.postings.items()}
        self.max_idf = math.log(1 + (n + 0.5) / 0.5) if n else 1.0

    def search(self, tokens: list[str], k: int) -> list[tuple[int, float]]:
        scores: dict[int, float] = defaultdict(float)
        for token in set(tokens):
            idf = self.idf.get(token)
            if idf is None:
                continue
            for index, tf in self.postings[token]:
                norm = 1 - self.b + self.b * self.lengths[index] / (self.avg_len or 1)
                scores[index] += idf * tf * (self.k1 + 1) / (tf + self.k1 * norm)
        return sorted(scores.items(), key=lambda item: -item[1])[:k]


@dataclass
class _Lexical:
    revision: str
    ids: list[str]
    texts: list[str]
    metas: list[ChunkMeta]
    token_sets: list[frozenset[str]]
    bm25: BM25
    position: dict[str, int] = field(default_factory=dict)  # chunk id -> its row

    def __post_init__(self) -> None:
        self.position = {cid: row for row, cid in enumerate(self.ids)}


@dataclass
class Retriever:
    """``retrieve(query, k)`` over one store. Thread-safe; share one per process."""

    store: Store
    embedder: Embeddings
    bm25_weight_same: float = 0.02
    bm25_weight_cross: float = 0.0
    candidates: int = 30
    dedup_threshold: float = 0.9
    _lexical: _Lexical | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _lexical_index(self) -> _Lexical:
        revision = self.store.revision()
        with self._lock:
            if self._lexical is None or self._lexical.revision != revision:
                started = time.perf_counter()
                ids, texts, metas = [], [], []
                for row in self.store.chunks():
                    ids.append(row.id)
                    texts.append(row.text)
                    metas.append(row.meta)
                tokens = [tokenize(t) for t in texts]
                self._lexical = _Lexical(revision, ids, texts, metas, [frozenset(t) for t in tokens], BM25(tokens))
                log.info(
                    "BM25 index of %d chunks built in %.2f s",
                    len(ids),
                    time.perf_counter() - started,
                )
            return self._lexical

    def idf(self, token: str) -> float:
        """The token's BM25 inverse document frequency (rare words weigh more); 1.0 if unknown."""
        lexical = self._lexical
        if lexical is None:
            return 1.0
        return lexical.bm25.idf.get(token, lexical.bm25.max_idf)

    def rarity(self, token: str) -> float:
        """The token's IDF over the highest possible IDF, in [0, 1]; 1.0 for a word no passage has."""
        lexical = self._lexical
        if lexical is None or not lexical.bm25.max_idf:
            return 1.0
        return min(1.0, lexical.bm25.idf.get(token, lexical.bm25.max_idf) / lexical.bm25.max_idf)

    def refresh(self) -> None:
        """Build (or rebuild) the BM25 side now rather than on the next question."""
        self._lexical_index()

    def retrieve(self, query: Query | str, k: int = 5, *, language: str | None = None) -> list[Passage]:
        """The ``k`` best passages for ``query``, best first. A plain string is read here (in
        ``language``, by default the one it looks like); the assistant passes a read Query."""
        if isinstance(query, str):
            query = Query.read(query, language)
        lexical = self._lexical_index()
        if not lexical.ids or not query.text.strip():
            return []
        language = query.language
        pool = max(self.candidates, k * 3)
        dense_hits = self.store.query(self.embedder.embed_query(query.text), pool)
        bm25_hits = lexical.bm25.search(list(query.tokens), pool)
        best_bm25 = bm25_hits[0][1] if bm25_hits else 0.0

        dense = {hit.id: hit.similarity for hit in dense_hits}
        found = {hit.id: (hit.text, hit.meta) for hit in dense_hits}
        lex: dict[str, float] = {}
        for index, score in bm25_hits:
            cid = lexical.ids[index]
            lex[cid] = score / best_bm25 if best_bm25 else 0.0
            found.setdefault(cid, (lexical.texts[index], lexical.metas[index]))
        floor = min(dense.values()) if dense else 0.0
        passages = []
        for cid, (text, meta) in found.items():
            same_language = meta.language == language
            weight = self.bm25_weight_same if same_language else self.bm25_weight_cross
            d = dense.get(cid, floor)
            fused = (1 - weight) * d + weight * lex.get(cid, 0.0)
            row = lexical.position.get(cid)
            tokens = lexical.token_sets[row] if row is not None else frozenset()
            passages.append(Passage(cid, text, meta, fused, d, lex.get(cid, 0.0), tokens))
        passages.sort(key=lambda p: -p.score)
        return self._collapse(passages, k)

    def _collapse(self, passages: list[Passage], k: int) -> list[Passage]:
        """Drop passages whose words nearly repeat a better one's (Jaccard over token sets)."""
        kept: list[Passage] = []
        kept_sets: list[frozenset[str]] = []
        for passage in passages:
            words = passage.tokens
            if any(_jaccard(words, other) >= self.dedup_threshold for other in kept_sets):
                continue
            kept.append(passage)
            kept_sets.append(words)
            if len(kept) == k:
                break
        return kept


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)
