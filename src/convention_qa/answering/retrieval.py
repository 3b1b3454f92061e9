"""Hybrid retrieval: BM25 and dense search, fused on normalized scores, near-duplicates collapsed.

BM25 only helps when the question and the passage share a language: for an English question
over Indonesian passages its matches are noise, so its weight depends on whether the question's
language is the passage's (``bm25_weight_same`` / ``bm25_weight_cross``). The BM25 index is built
on first use and rebuilt in the background when the store's revision changes (``Retriever``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from langchain_core.embeddings import Embeddings

from convention_qa.contract import Passage
from convention_qa.corpus.index import Store
from convention_qa.text import Query, tokenize

__all__ = ["BM25", "Passage", "Retriever"]

log = logging.getLogger(__name__)

_YIELD_EVERY = 16  # chunks a background rebuild tokenizes between pauses


class BM25:
    """Okapi BM25 over pre-tokenized documents, in flat arrays: each (word, document) pair's
    weight is computed once, and a question adds up a few array slices. At 100,000 chunks a
    search takes milliseconds and the index a few hundred bytes a chunk (``benchmarks/scale.py``)."""

    def __init__(self, docs: Iterable[list[str]], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        vocabulary: dict[str, int] = {}
        words, owners, counts, lengths = array("i"), array("i"), array("i"), array("i")
        for index, tokens in enumerate(docs):
            lengths.append(len(tokens))
            for token, tf in Counter(tokens).items():
                words.append(vocabulary.setdefault(token, len(vocabulary)))
                owners.append(index)
                counts.append(tf)
        n = len(lengths)
        self.n = n
        length = np.frombuffer(lengths, dtype=np.int32).astype(np.float32)
        avg = float(length.mean()) if n else 0.0
        word = np.frombuffer(words, dtype=np.int32)
        order = np.argsort(word, kind="stable")
        self._docs = np.frombuffer(owners, dtype=np.int32)[order]
        freq = np.frombuffer(counts, dtype=np.int32)[order].astype(np.float32)
        df = np.bincount(word, minlength=len(vocabulary)).astype(np.float32)
        self._starts = np.concatenate(([0], np.cumsum(df))).astype(np.int64)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        norm = 1 - b + b * length[self._docs] / (avg or 1.0)
        self._weights = (idf[word[order]] * freq * (k1 + 1) / (freq + k1 * norm)).astype(np.float32)
        self._vocabulary = vocabulary
        self.idf = {token: float(idf[i]) for token, i in vocabulary.items()}
        self.max_idf = math.log(1 + (n + 0.5) / 0.5) if n else 1.0

    def search(self, tokens: list[str], k: int) -> list[tuple[int, float]]:
        """The ``k`` best documents (index, score) holding any of ``tokens``, best first."""
        scores: np.ndarray | None = None
        for token in set(tokens):
            word = self._vocabulary.get(token)
            if word is None:
                continue
            start, end = self._starts[word], self._starts[word + 1]
            if scores is None:
                scores = np.zeros(self.n, dtype=np.float32)
            scores[self._docs[start:end]] += self._weights[start:end]
        if scores is None:
            return []
        hit = np.flatnonzero(scores > 0)
        if len(hit) > k:
            hit = hit[np.argpartition(-scores[hit], k - 1)[:k]]
        ranked = sorted(((int(i), float(scores[i])) for i in hit), key=lambda item: (-item[1], item[0]))
        return ranked[:k]


@dataclass(frozen=True)
class _Lexical:
    revision: str  # the store's revision it was built from
    ids: list[str]  # chunk id of each BM25 document
    bm25: BM25
    seconds: float  # how long building it took


@dataclass
class Retriever:
    """``retrieve(query, k)`` over one store. Thread-safe; share one per process.

    The BM25 side is built once, on first use (``refresh()`` builds it up front). When the store
    changes, questions keep using the index they have while a new one is built in the background
    and swapped in whole: no question waits for a rebuild. A passage only BM25 found is read back
    from the store, so one deleted since the last build is never returned; during a long ingest a
    rebuild starts at most once per build-time after the last one ended, so rebuilding takes at
    most about half a core.
    """

    store: Store
    embedder: Embeddings
    bm25_weight_same: float = 0.02
    bm25_weight_cross: float = 0.0
    candidates: int = 30
    dedup_threshold: float = 0.9
    _lexical: _Lexical | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _building: threading.Thread | None = field(default=None, init=False, repr=False)
    _next_build: float = field(default=0.0, init=False, repr=False)

    def _lexical_index(self) -> _Lexical:
        revision = self.store.revision()
        current = self._lexical
        if current is None:
            with self._lock:  # the first build: nothing to answer from yet
                if self._lexical is None:
                    self._lexical = self._build(revision)
                return self._lexical
        if current.revision != revision:
            self._rebuild_in_background()
        return current

    def _build(self, revision: str, *, beside_questions: bool = False) -> _Lexical:
        started = time.perf_counter()
        ids: list[str] = []

        def documents() -> Iterator[list[str]]:  # streamed: no list of every chunk's text is kept
            for n, (chunk_id, text) in enumerate(self.store.texts()):
                ids.append(chunk_id)
                if beside_questions and n % _YIELD_EVERY == 0:
                    time.sleep(0.001)  # let go of the GIL often, so a question never queues long for it
                yield tokenize(text)

        bm25 = BM25(documents())
        seconds = time.perf_counter() - started
        log.info("BM25 index of %d chunks built in %.2f s", len(ids), seconds)
        return _Lexical(revision, ids, bm25, seconds)

    def _rebuild_in_background(self) -> None:
        with self._lock:
            if (self._building is not None and self._building.is_alive()) or time.monotonic() < self._next_build:
                return
            self._building = threading.Thread(target=self._rebuild, name="bm25-rebuild", daemon=True)
            self._building.start()

    def _rebuild(self) -> None:
        try:
            # The revision first: a change while building rebuilds again.
            built = self._build(self.store.revision(), beside_questions=True)
        except Exception:  # the store is unreachable for now: the next question tries again
            log.exception("rebuilding the BM25 index failed; questions keep the previous one")
            return
        self._lexical = built
        self._next_build = time.monotonic() + built.seconds

    def settle(self, timeout: float | None = None) -> None:
        """Wait for a background rebuild in progress (tests, and tools that just changed the store)."""
        building = self._building
        if building is not None:
            building.join(timeout)

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
        """Build the BM25 side now (the caller waits), rather than on the next question."""
        built = self._build(self.store.revision())
        with self._lock:
            self._lexical = built

    def refresh_soon(self) -> None:
        """Rebuild the BM25 side in the background (after the store was changed here)."""
        self._next_build = 0.0
        self._rebuild_in_background()

    def retrieve(self, query: Query | str, k: int = 5, *, language: str | None = None) -> list[Passage]:
        """The ``k`` best passages for ``query``, best first. A plain string is read here (in
        ``language``, by default the one it looks like); the assistant passes a read Query."""
        if isinstance(query, str):
            query = Query.read(query, language)
        if not query.text.strip():
            return []
        lexical = self._lexical_index()
        language = query.language
        pool = max(self.candidates, k * 3)
        dense_hits = self.store.query(self.embedder.embed_query(query.text), pool)
        bm25_hits = lexical.bm25.search(list(query.tokens), pool)
        best_bm25 = bm25_hits[0][1] if bm25_hits else 0.0

        dense = {hit.id: hit.similarity for hit in dense_hits}
        found = {hit.id: (hit.text, hit.meta) for hit in dense_hits}
        lex = {lexical.ids[index]: (score / best_bm25 if best_bm25 else 0.0) for index, score in bm25_hits}
        read_back = {row.id: row for row in self.store.rows([cid for cid in lex if cid not in found])}
        for cid in lex:  # in BM25's order (ties keep it); one deleted since the build is left out
            if cid in read_back:
                found[cid] = (read_back[cid].text, read_back[cid].meta)
        floor = min(dense.values()) if dense else 0.0
        scored = []
        for cid, (text, meta) in found.items():
            same_language = meta.language == language
            weight = self.bm25_weight_same if same_language else self.bm25_weight_cross
            d = dense.get(cid, floor)
            scored.append(((1 - weight) * d + weight * lex.get(cid, 0.0), cid, text, meta, d))
        scored.sort(key=lambda s: -s[0])
        # Passages are made (and their words read) only as far down the ranking as collapsing goes.
        passages = (Passage(cid, text, meta, fused, d, lex.get(cid, 0.0)) for fused, cid, text, meta, d in scored)
        return self._collapse(passages, k)

    def _collapse(self, passages: Iterable[Passage], k: int) -> list[Passage]:
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
