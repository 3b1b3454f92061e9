"""Checks on a generated answer: is it a refusal, is it grounded in the evidence, is it in the
language asked for. The assistant repairs answers that fail (see ``Writer.repair``)."""

from __future__ import annotations

import re
from typing import Literal

from convention_qa.answering.evidence import Evidence
from convention_qa.answering.prompts import NOT_FOUND
from convention_qa.text import LANGUAGES, Query, anchors, answer_language, numbers, strip_markers, tokenize, words_of

__all__ = ["answer_problem", "is_refusal", "may_be_refusal"]

_CODES = {name: code for code, name in LANGUAGES.items()}
_REFUSALS = re.compile(
    r"NOT[_ ]FOUND|not (?:contain|mention|provide)|tidak (?:memuat|menyebutkan|ada informasi)|"
    r"không (?:có thông tin|chứa)",
    re.IGNORECASE,
)


def answer_problem(
    raw: str, question: Query, evidence: list[Evidence], language_name: str
) -> Literal["grounding", "language"] | None:
    """Why an answer cannot stand as it is, or None.

    "grounding": a number in it is in neither the evidence nor the question; it brings in names
    (capitalised words not in the question) none of which the evidence has; within the
    evidence's language, most of its words are not in the evidence or the question; or it only
    repeats the question. "language": it is written in another of the supported languages than
    the one asked for.
    """
    claim = strip_markers(raw)
    said = " ".join(e.text() for e in evidence)
    if not numbers(claim) <= numbers(said) | question.numbers:
        return "grounding"
    evidence_words = words_of(said)
    names = anchors(claim) - numbers(claim) - question.words  # names the answer brings in
    if names and not names & evidence_words:
        return "grounding"
    words = {w for w in tokenize(claim) if not w.isdigit()}  # numbers were checked above
    if words and words <= question.token_set and numbers(claim) <= question.numbers:
        return "grounding"  # an echo of the question answers nothing
    same = [e for e in evidence if e.passage.meta.language in (None, _CODES.get(language_name))]
    if same and len(same) == len(evidence) and words:
        known = set(tokenize(said)) | question.token_set
        if len(words & known) / len(words) < 0.5:
            return "grounding"
    written = answer_language(claim)
    wanted = _CODES.get(language_name)
    if written in LANGUAGES and wanted and written != wanted:
        return "language"
    return None


def is_refusal(raw: str) -> bool:
    return not raw.strip() or bool(_REFUSALS.search(raw) and len(raw.strip()) < 160)


def may_be_refusal(text: str) -> bool:
    """True while the text so far could still be, or already is, the NOT_FOUND reply."""
    head = text.lstrip()
    return NOT_FOUND.startswith(head) or head.startswith(NOT_FOUND)
