"""Evidence for the model and citations for the reader.

``select_evidence`` keeps the sentences of the retrieved passages that matter for the question,
under a token budget, numbered by passage. ``resolve_citations`` turns the [n] markers of an
answer into :class:`Citation` objects (passage, article, span, supporting sentences), drops
markers that point nowhere and flags sentences whose cited passages share nothing with them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from convention_qa.answering.ranking import Weights, overlap, uniform
from convention_qa.contract import Citation, Passage
from convention_qa.corpus.chunking import split_sentences
from convention_qa.text import MARKER, Query, cited_numbers, tokenize, without_single_markers, words_of

__all__ = ["Citation", "Evidence", "citation", "format_evidence", "resolve_citations", "select_evidence"]

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 3.5  # Indonesian and English text with this tokenizer family, measured roughly
CROSS_BUDGET = 1.5  # the budget's multiple when the best passage is in another language than the question


@dataclass
class Evidence:
    n: int
    passage: Passage
    sentences: list[tuple[int, int]] = field(default_factory=list)  # spans in passage.text

    def text(self) -> str:
        return " ".join(self.passage.text[s:e] for s, e in sorted(self.sentences))


def select_evidence(
    question: Query,
    passages: list[Passage],
    budget_tokens: int,
    weight: Weights = uniform,
) -> list[Evidence]:
    """The best sentences of ``passages`` for ``question``, at most ``budget_tokens`` in all.

    In a passage of the question's language, sentences are ranked by the (weighted) words
    they share with the question; the top passage always contributes, other passages only
    sentences that share words. Words cannot be compared across languages, so a passage in
    another language contributes its sentences in order, better-ranked passages first, except
    that sentences holding the question's distinctive numbers and names (which read the same in
    every language; a name found in most sentences is not distinctive) come first. A question
    whose best passage is in another language gets half as much budget again: with no words
    to pick sentences by, more of each passage must go in.
    """
    language = question.language
    cross_best = bool(passages) and passages[0].meta.language not in (language, None)
    budget = int(budget_tokens * CROSS_BUDGET * CHARS_PER_TOKEN if cross_best else budget_tokens * CHARS_PER_TOKEN)
    q_tokens = question.token_set
    sentences = [
        (rank, index, span, passage.text[span[0] : span[1]])
        for rank, passage in enumerate(passages)
        for index, span in enumerate(split_sentences(passage.text))
    ]
    words = [words_of(text) for _, _, _, text in sentences]
    wanted = {a for a in question.anchors if sum(a in w for w in words) <= max(1, len(words) // 3)}
    scored: list[tuple[float, int, tuple[int, int]]] = []
    for (rank, index, span, text), found_words in zip(sentences, words, strict=True):
        passage = passages[rank]
        if passage.meta.language not in (language, None):
            found = len(wanted & found_words) / len(wanted) if wanted else 0.0
            scored.append((0.5 + 0.3 * found - 0.1 * rank - 0.001 * index, rank, span))
            continue
        score = overlap(q_tokens, text, weight)
        if rank == 0 or score > 0:
            scored.append((score + (0.2 if rank == 0 else 0.0) - 0.01 * rank, rank, span))
    scored.sort(key=lambda item: -item[0])
    chosen: dict[int, list[tuple[int, int]]] = {}
    used = 0
    for _, rank, span in scored:
        length = span[1] - span[0] + 1
        if used + length > budget and used > 0:
            continue
        chosen.setdefault(rank, []).append(span)
        used += length
    evidence = []
    for n, rank in enumerate(sorted(chosen), start=1):
        evidence.append(Evidence(n, passages[rank], sorted(chosen[rank])))
    return evidence


def merge_evidence(passages: list[Passage], *selections: list[Evidence]) -> list[Evidence]:
    """The sentences of several selections over the same ``passages``, renumbered in passage order."""
    spans: dict[int, set[tuple[int, int]]] = {}
    for selection in selections:
        for item in selection:
            rank = next(i for i, p in enumerate(passages) if p is item.passage)
            spans.setdefault(rank, set()).update(item.sentences)
    return [Evidence(n, passages[rank], sorted(spans[rank])) for n, rank in enumerate(sorted(spans), start=1)]


def format_evidence(evidence: list[Evidence]) -> str:
    return "\n".join(f"[{e.n}] {e.text()}" for e in evidence)


def _supporting(claim: str, item: Evidence) -> list[str]:
    """The one or two sentences of the cited evidence that back the claim: the best match, and
    a second only when it matches nearly as well (a sentence that merely shares a word with the
    claim is not highlighted as its support)."""
    tokens = set(tokenize(claim))
    sentences = [item.passage.text[s:e] for s, e in item.sentences]
    scored = sorted(((overlap(tokens, s), s) for s in sentences), key=lambda pair: -pair[0])
    if not scored or scored[0][0] <= 0:
        return sentences[:1]
    top = scored[0][0]
    return [s for score, s in scored[:2] if score >= 0.6 * top]


def resolve_citations(
    answer: str, evidence: list[Evidence], weight: Weights = uniform
) -> tuple[str, list[Citation], list[str]]:
    """(cleaned answer, citations in order of first use, claims not supported by what they cite).

    Markers outside 1..len(evidence) are removed. A claim that cites nothing valid gets the
    evidence that shares most words with it, if any does; a claim whose cited evidence shares
    clearly less with it than another piece of evidence is re-pointed to that one.
    """
    by_n = {e.n: e for e in evidence}

    def keep_valid(match: re.Match[str]) -> str:
        numbers = [int(x) for x in re.split(r"[,;]", match.group(1))]
        return "".join(f"[{n}]" for n in dict.fromkeys(numbers) if n in by_n)

    cleaned = MARKER.sub(keep_valid, answer)
    cleaned = re.sub(r"[ \t]+", " ", cleaned).strip()
    cleaned = re.sub(r"\s+([.,;:!?])", r"\1", cleaned)

    sentences = [cleaned[a:b].strip() for a, b in split_sentences(cleaned) if cleaned[a:b].strip()]
    rebuilt, unsupported = [], []
    supporting: dict[int, list[str]] = {}
    order: list[int] = []
    for sentence in sentences:
        cited = cited_numbers(sentence)
        claim = without_single_markers(sentence).strip()
        if not cited and evidence:
            tokens = set(tokenize(claim))
            best = max(evidence, key=lambda e: overlap(tokens, e.text(), weight))
            if overlap(tokens, best.text(), weight) > 0:
                cited = [best.n]
                sentence = append_marker(sentence, best.n)
        if cited:
            cited, sentence = _repair(claim, cited, sentence, evidence, weight)
            if not any(overlap(set(tokenize(claim)), by_n[n].text()) > 0 for n in cited):
                unsupported.append(claim)
        for n in cited:
            if n not in order:
                order.append(n)
            supporting.setdefault(n, [])
            for s in _supporting(claim, by_n[n]):
                if s not in supporting[n]:
                    supporting[n].append(s)
        rebuilt.append(sentence)
    citations = [citation(by_n[n], supporting[n]) for n in order]
    return " ".join(rebuilt), citations, unsupported


def _repair(
    claim: str, cited: list[int], sentence: str, evidence: list[Evidence], weight: Weights
) -> tuple[list[int], str]:
    """Re-point the citations of a claim when another evidence piece clearly supports it better."""
    tokens = set(tokenize(claim))
    scores = {e.n: overlap(tokens, e.text(), weight) for e in evidence}
    best = max(scores, key=lambda n: scores[n])
    if best in cited or scores[best] < max(scores[n] for n in cited) + 0.2:
        return cited, sentence
    log.info("citation of %r moved from %s to [%d]", claim[:60], cited, best)
    stripped = without_single_markers(sentence).strip()
    return [best], append_marker(stripped, best)


def append_marker(sentence: str, n: int) -> str:
    match = re.search(r"[.!?。]+$", sentence)
    if match:
        return f"{sentence[: match.start()]} [{n}]{match.group()}"
    return f"{sentence} [{n}]"


def citation(item: Evidence, supporting: list[str]) -> Citation:
    meta = item.passage.meta
    return Citation(
        n=item.n,
        chunk_id=item.passage.id,
        doc_id=meta.doc_id,
        title=meta.title,
        source=meta.source,
        text=item.passage.text,
        start=meta.start,
        end=meta.end,
        supporting=supporting,
        score=item.passage.score,
    )
