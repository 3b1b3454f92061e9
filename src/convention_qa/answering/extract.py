"""Answers taken from the evidence itself: the sentence that best answers a question (the
answer when there is no model, and the fallback for a model's answer that is not grounded), and
the citation of the passage an answer comes from."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from convention_qa.answering.evidence import Evidence, append_marker
from convention_qa.answering.ranking import overlap
from convention_qa.answering.retrieval import Retriever
from convention_qa.answering.verdict import AnswerCheck
from convention_qa.text import Query, cited_numbers, strip_markers

__all__ = ["Extractor", "cite_source"]

log = logging.getLogger(__name__)


@dataclass
class Extractor:
    """Picks the evidence sentence that answers; a pick below the thresholds is no answer."""

    retriever: Retriever
    min_overlap: float  # same language: the weighted share of the question's words
    min_similarity: float  # across languages: the embedder's similarity to the question

    def __call__(self, question: Query, query: Query, evidence: list[Evidence]) -> str:
        """The evidence sentence that best answers the question, cited; '' if none does.

        Same language: the sentence sharing most (IDF-weighted) words with the question; the
        words of the standalone query (which, for a follow-up, carries the earlier question)
        count only as a tie-breaker, so that a follow-up gets its own answer, not the last one.
        Across languages words cannot match, so the sentences are compared with the question
        by the multilingual embedder instead.
        """
        language = question.language
        candidates = [
            (item.n, item.passage.text[start:end], item.passage.meta.language)
            for item in evidence
            for start, end in item.sentences
        ]
        if not candidates:
            return ""
        if all(lang not in (language, None) for _, _, lang in candidates):
            vectors = self.retriever.embedder.embed_documents([s for _, s, _ in candidates])
            target = self.retriever.embedder.embed_query(question.text)
            scores = [sum(a * b for a, b in zip(v, target, strict=True)) for v in vectors]
            threshold = self.min_similarity
        else:
            own, context = question.token_set, query.token_set
            scores = [
                overlap(own, s, self.retriever.idf) + 0.25 * overlap(context, s, self.retriever.idf)
                for _, s, _ in candidates
            ]
            threshold = self.min_overlap
        best = max(range(len(candidates)), key=lambda i: scores[i])
        if scores[best] < threshold:
            return ""
        n, sentence, _ = candidates[best]
        return append_marker(sentence.rstrip(), n)


def cite_source(raw: str, check: AnswerCheck, evidence: list[Evidence]) -> str:
    """The answer citing the passage it comes from.

    When the sentence holding all of the answer's numbers and names is in a passage the answer
    does not cite, the answer's markers are replaced by that passage's: a citation must hold
    what it backs (an answer whose numbers or names no passage holds is judged by the verdict).
    """
    values = check.values
    if check.n is None or values.get("anchors_found", 0.0) < 1.0 or not (values.get("found", 0.0) > 0.0):
        return raw
    cited = set(cited_numbers(raw))
    if check.n in cited:
        return raw
    holder = next((e for e in evidence if e.n == check.n), None)
    if holder is None:
        return raw
    stripped = strip_markers(raw)
    log.info("citation of %r moved from %s to [%d]", stripped[:60], sorted(cited), check.n)
    return append_marker(stripped, check.n)
