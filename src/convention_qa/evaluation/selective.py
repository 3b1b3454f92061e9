"""Figures of answering selectively: how often an answer given is right, and at what coverage.

- answered precision: of the answers given, the share that are right;
- coverage: the share of questions that got an answer;
- SQuAD 2.0 overall F1: token F1 on answerable questions, 1 for an abstention on an
  unanswerable one (0 for an answer to it);
- expected calibration error (ECE): how far the stated confidence is from the share of right
  answers, over equal-width confidence bins, weighted by the answers in each;
- the risk-coverage curve: answered precision and coverage as the confidence threshold moves,
  over every answer that was written (given or withheld).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["calibration_error", "reliability", "risk_coverage"]

Scored = Sequence[tuple[float, bool]]  # (confidence, right)


def reliability(scored: Scored, bins: int = 10) -> list[tuple[float, float, int]]:
    """Per non-empty bin: (mean confidence, share right, answers)."""
    buckets: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for confidence, right in scored:
        buckets[min(bins - 1, max(0, int(confidence * bins)))].append((confidence, right))
    return [(sum(c for c, _ in b) / len(b), sum(1 for _, r in b if r) / len(b), len(b)) for b in buckets if b]


def calibration_error(scored: Scored, bins: int = 10) -> float | None:
    """Expected calibration error over ``bins`` equal-width bins; None for no answers."""
    if not scored:
        return None
    total = len(scored)
    return sum(n / total * abs(conf - right) for conf, right, n in reliability(scored, bins))


def risk_coverage(scored: Scored, questions: int) -> list[tuple[float, float, float]]:
    """(threshold, coverage over ``questions``, answered precision) for each distinct confidence,
    highest threshold first: answering only what scores at least the threshold."""
    ordered = sorted(scored, key=lambda pair: -pair[0])
    points = []
    right = 0
    for index, (confidence, ok) in enumerate(ordered, start=1):
        right += ok
        if index == len(ordered) or ordered[index][0] < confidence:
            points.append((confidence, index / questions if questions else 0.0, right / index))
    return points
