"""When to answer: one calibrated decision from signals available at answer time.

Every question yields :class:`Signals`: how well the best passage matches (its score and its
margin over the next), whether question and passage share a language, how much of the question
the evidence covers, whether the question's numbers and names occur in it, and, when the model
can say, its probability of replying NOT_FOUND (kept in reports; ``benchmarks/calibrate.py``
refits on them). What decides is only the policy's off-corpus floors below; the logistic models
of ``policy.json`` are kept in the file as the record of that fit, and no longer decide (the
answer check, and then the focused reader's choice, replaced them).

Before any of that, an absolute score gate stops questions that are clearly off-corpus: their
best passage scores below anything an answerable question scored in the calibration data, with a
margin (one floor within a language, one across languages).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convention_qa.answering.linear import Linear, read_fitted
from convention_qa.contract import Signals
from convention_qa.errors import ConfigError
from convention_qa.text import Query, words_of

if TYPE_CHECKING:
    from convention_qa.answering.linear import Linear, read_fitted
from convention_qa.contract import Passage

__all__ = [
    "DEFAULT_POLICY_FILE",
    "FEATURES",
    "LogisticModel",
    "Policy",
    "Signals",
    "feature_values",
    "load_policy",
    "measure",
]

DEFAULT_POLICY_FILE = Path(__file__).with_name("policy.json")


def measure(
    question: Query,
    passages: Sequence[Passage],
    rarity: Callable[[str], float],
    refusal: float | None = None,
) -> Signals:
    """The signals of ``question`` over its retrieved ``passages`` (best first; not empty)."""
    best = passages[0]
    language = question.language
    tokens = question.token_set
    weights = {t: rarity(t) for t in tokens}
    total = sum(weights.values())
    found_best = tokens & best.tokens
    found_any = tokens & {t for p in passages for t in p.tokens}
    missing = [weights[t] for t in tokens - found_any]
    wanted = question.anchors
    found_anchors = len(wanted & words_of(" ".join(p.text for p in passages)))
    return Signals(
        score=best.score,
        margin=best.score - passages[1].score if len(passages) > 1 else 0.0,
        same_language=best.meta.language in (language, None),
        coverage=sum(weights[t] for t in found_best) / total if total else 0.0,
        coverage_any=sum(weights[t] for t in found_any) / total if total else 0.0,
        missing=max(missing, default=0.0),
        anchors=found_anchors / len(wanted) if wanted else 1.0,
        refusal=refusal,
    )


def feature_values(s: Signals) -> dict[str, float]:
    """The features the logistic models read, by name."""
    same = 1.0 if s.same_language else 0.0
    # Word overlap means something only within a language; across languages these are 0 and the
    # same_language term carries the difference.
    return {
        "score": s.score,
        "margin": s.margin,
        "same_language": same,
        "coverage": s.coverage * same,
        "coverage_any": s.coverage_any * same,
        "missing": s.missing * same,
        "anchors": s.anchors,
        "refusal": s.refusal if s.refusal is not None else 0.0,
        "log_refusal": math.log(max(s.refusal, 1e-6)) if s.refusal is not None else 0.0,
    }


FEATURES = tuple(feature_values(Signals(0, 0, True, 0, 0, 0, 1)).keys())


@dataclass(frozen=True)
class LogisticModel(Linear):
    """P(answerable) over the policy's features, and the probability to answer from."""

    threshold: float  # answer when the probability is at least this

    def probability_of(self, signals: Signals) -> float:
        return self.probability(feature_values(signals))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogisticModel:
        linear = Linear.read(data, FEATURES, "policy model")
        try:
            threshold = float(data["threshold"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"policy model is malformed ({exc!r})") from None
        return cls(**{**linear.__dict__, "threshold": threshold})


@dataclass(frozen=True)
class Policy:
    """The off-corpus floors and the fitted models (one uses the model's refusal probability)."""

    floor_same: float = 0.0
    floor_cross: float = 0.0
    with_refusal: LogisticModel | None = None
    without_refusal: LogisticModel | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # what it was fitted on, and its figures

    def off_corpus(self, score: float, same_language: bool) -> bool:
        return score < (self.floor_same if same_language else self.floor_cross)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "floor_same": self.floor_same,
            "floor_cross": self.floor_cross,
            "with_refusal": self.with_refusal.to_dict() if self.with_refusal else None,
            "without_refusal": self.without_refusal.to_dict() if self.without_refusal else None,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        if not isinstance(data, dict) or data.get("version") != 1:
            raise ConfigError("policy file: expected a JSON object with version 1")

        def model(key: str) -> LogisticModel | None:
            value = data.get(key)
            return LogisticModel.from_dict(value) if value else None

        try:
            floors = float(data.get("floor_same", 0.0)), float(data.get("floor_cross", 0.0))
        except (TypeError, ValueError):
            raise ConfigError("policy file: floor_same and floor_cross must be numbers") from None
        return cls(*floors, model("with_refusal"), model("without_refusal"), dict(data.get("meta") or {}))


def load_policy(setting: str) -> Policy | None:
    """The policy named by the ``policy`` setting: "default" (the packaged file), "off" (always
    answer: for measuring, and for fitting a new policy), or the path of a policy JSON file."""
    if setting == "off":
        return None
    path = DEFAULT_POLICY_FILE if setting == "default" else Path(setting)
    return Policy.from_dict(read_fitted(path, "the answer policy"))
