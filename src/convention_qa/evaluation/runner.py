"""Run a question set through ``Assistant.answer`` and score every question."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from convention_qa.answering.assistant import Assistant
from convention_qa.chat import Chat
from convention_qa.conversations.memory import InMemoryChats
from convention_qa.conversations.owners import LOCAL
from convention_qa.evaluation.datasets import EvalQuestion
from convention_qa.evaluation.metrics import contains_answer, exact_match, percentile, token_f1
from convention_qa.evaluation.selective import calibration_error
from convention_qa.factory import exchanges_for
from convention_qa.text import LANGUAGES, answer_language

__all__ = ["QuestionResult", "evaluate", "is_right", "summarize"]


@dataclass
class QuestionResult:
    qid: str
    question: str
    language: str
    answerable: bool
    answer: str
    abstained: bool
    gold: str | None
    expected: list[str]
    retrieved: list[str]  # doc ids, best first (top 10)
    hit_rank: int | None  # 1-based rank of the gold passage (right article, quote inside) in the top 10
    exact_match: float
    f1: float
    contains: float
    citations: int
    correct_citations: int
    unsupported: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    abstain_reason: str | None = None
    confidence: float | None = None
    signals: dict[str, Any] | None = None  # what the answer policy saw (benchmarks/calibrate.py refits on these)
    repair: str | None = None
    answer_language: str = "und"  # "und": language-neutral (a name, a number)
    language_ok: bool | None = None  # answered in the question's language (None when abstained)
    cited: list[dict[str, Any]] = field(default_factory=list)  # each citation: n, doc_id, title, text
    candidate: str | None = None  # the answer written, given or withheld (None: none was written)
    candidate_right: bool | None = None  # whether that answer is right (see ``is_right``)
    check: dict[str, Any] | None = None  # what the answer check measured (benchmarks/fit_verdict.py refits on it)
    translation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_right(text: str, q: EvalQuestion) -> bool:
    """An answer is right when the question is answerable and it matches an accepted answer
    (token F1 of at least 0.5) or contains one whole."""
    expected = q.answers + q.alt_answers
    if not q.answerable or not expected:
        return False
    return token_f1(text, expected) >= 0.5 or contains_answer(text, expected) == 1.0


def _run_one(assistant: Assistant, q: EvalQuestion, k: int) -> QuestionResult:
    # One conversation per question, in memory, answered as any chat turn is.
    chat = Chat(assistant, InMemoryChats(1, exchanges_for(assistant.config.history_messages)))
    conversation: str | None = None
    for earlier in q.turns:  # replay the conversation so follow-ups have their context
        turn = chat.turn(earlier, LOCAL, conversation_id=conversation, k=k)
        chat.answer(turn)
        conversation = turn.conversation_id
    started = time.perf_counter()
    answer = chat.answer(chat.turn(q.question, LOCAL, conversation_id=conversation, k=k))
    seconds = time.perf_counter() - started

    top = assistant.retriever.retrieve(answer.query, 10)
    ranked = [p.doc_id for p in top]
    gold_flags = [q.is_gold(p.doc_id, p.text) for p in top]
    hit_rank = gold_flags.index(True) + 1 if True in gold_flags else None
    expected = q.answers + q.alt_answers
    correct = sum(
        1 for c in answer.citations if q.is_gold(c.doc_id, c.text) or (expected and contains_answer(c.text, expected))
    )
    scored = not answer.abstained and q.answerable
    written = answer_language(answer.text) if not answer.abstained else "und"
    candidate = answer.text if not answer.abstained else answer.withheld
    wanted = q.lang if q.lang in LANGUAGES else answer.question_language
    return QuestionResult(
        qid=q.qid,
        expected=expected,
        question=q.question,
        exact_match=exact_match(answer.text, expected) if scored else 0.0,
        language=q.lang,
        answerable=q.answerable,
        f1=token_f1(answer.text, expected) if scored else 0.0,
        answer=answer.text,
        retrieved=ranked,
        contains=contains_answer(answer.text, expected) if scored else 0.0,
        abstained=answer.abstained,
        gold=q.gold_pid,
        hit_rank=hit_rank,
        citations=len(answer.citations),
        correct_citations=correct,
        unsupported=len(answer.unsupported),
        seconds=seconds,
        timings=answer.timings,
        tags=q.tags,
        abstain_reason=answer.abstain_reason,
        confidence=answer.confidence,
        signals=answer.signals.to_dict() if answer.signals else None,
        repair=answer.repair,
        answer_language=written,
        language_ok=None if answer.abstained else written in (wanted, "und"),
        cited=[{"n": c.n, "doc_id": c.doc_id, "title": c.title, "text": c.text[:400]} for c in answer.citations],
        candidate=candidate,
        candidate_right=None if candidate is None else is_right(candidate, q),
        check=answer.check,
        translation=answer.translation,
    )


def evaluate(
    assistant: Assistant,
    questions: list[EvalQuestion],
    *,
    k: int = 5,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[QuestionResult]:
    results = []
    for index, question in enumerate(questions, start=1):
        results.append(_run_one(assistant, question, k))
        if on_progress:
            on_progress(index, len(questions))
    return results


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _selective(results: list[QuestionResult]) -> dict[str, Any]:
    """Answered precision, coverage, SQuAD 2.0 F1 and calibration (see evaluation.selective)."""
    given = [r for r in results if not r.abstained]
    right = [r for r in given if r.candidate_right]
    figures: dict[str, Any] = {
        "answered_precision": _ratio(len(right), len(given)),
        "coverage": _ratio(len(given), len(results)),
    }
    if any(not r.answerable for r in results):
        squad = [(1.0 if r.abstained else 0.0) if not r.answerable else r.f1 for r in results]
        figures["squad2_f1"] = _ratio(sum(squad), len(squad))
    scored_given = [(r.confidence, bool(r.candidate_right)) for r in given if r.confidence is not None]
    written = [(r.confidence, bool(r.candidate_right)) for r in results if r.candidate and r.confidence is not None]
    error, error_all = calibration_error(scored_given), calibration_error(written)
    figures["ece"] = None if error is None else round(error, 4)
    figures["ece_written"] = None if error_all is None else round(error_all, 4)
    return figures


def summarize(results: list[QuestionResult], k: int) -> dict[str, Any]:
    """Every figure of a run; None where a figure has nothing to measure."""
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    with_gold = [r for r in answerable if r.gold]
    answered = [r for r in answerable if not r.abstained]
    abstained = [r for r in results if r.abstained]
    true_abstentions = sum(1 for r in abstained if not r.answerable)
    precision = _ratio(true_abstentions, len(abstained))
    recall = _ratio(true_abstentions, len(unanswerable))
    f1 = None
    if precision is not None and recall is not None and precision + recall:
        f1 = round(2 * precision * recall / (precision + recall), 4)
    citations = sum(r.citations for r in results)
    latencies = [r.seconds for r in results]
    judged = [r for r in results if r.language_ok is not None]
    reasons: dict[str, int] = {}
    for r in abstained:
        reasons[r.abstain_reason or "unknown"] = reasons.get(r.abstain_reason or "unknown", 0) + 1
    return {
        "questions": len(results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        f"recall@{k}": _ratio(sum(1 for r in with_gold if r.hit_rank and r.hit_rank <= k), len(with_gold)),
        "recall@1": _ratio(sum(1 for r in with_gold if r.hit_rank == 1), len(with_gold)),
        "mrr@10": _ratio(sum(1 / r.hit_rank for r in with_gold if r.hit_rank), len(with_gold)),
        "ndcg@10": _ratio(sum(1 / math.log2(r.hit_rank + 1) for r in with_gold if r.hit_rank), len(with_gold)),
        "answer_rate": _ratio(len(answered), len(answerable)),
        "exact_match": _ratio(sum(r.exact_match for r in answerable), len(answerable)),
        "f1": _ratio(sum(r.f1 for r in answerable), len(answerable)),
        "f1_answered": _ratio(sum(r.f1 for r in answered), len(answered)),
        "contains": _ratio(sum(r.contains for r in answerable), len(answerable)),
        "citation_precision": _ratio(sum(r.correct_citations for r in results), citations),
        "abstention_precision": precision,
        "abstention_recall": recall,
        "abstention_f1": f1,
        "answer_language_accuracy": _ratio(sum(1 for r in judged if r.language_ok), len(judged)),
        **_selective(results),
        "repaired": sum(1 for r in results if r.repair),
        "abstentions": dict(sorted(reasons.items())),
        "latency_p50": round(percentile(latencies, 50), 3),
        "latency_p95": round(percentile(latencies, 95), 3),
    }
