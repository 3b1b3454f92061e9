"""How sure the focused reader is that its answer is right: one probability from what it decided.

The model's probability for the sentence it chose is one signal; alone it tells right from wrong
poorly (ROC AUC 0.66 over the dev splits), because a small model is often sure of a wrong
sentence. What the reader decided holds more:

- ``choice``: the log-probability of the number chosen, among the numbers shown and 0 (NONE);
- ``none``: the log-probability of NONE (0), however the reply went on;
- ``first``: whether the chosen sentence was the best-ranked one;
- ``margin``: how far its ranking score is below the best one's (0 when it is the best).

The ranking score itself is left out: it runs lower across languages (no shared words), so a
model fitted on Indonesian questions held English and Vietnamese answers far too unsure (on the
dev splits, a mean probability of 0.25-0.29 for answers 0.40-0.55 of which were right; ROC AUC
0.61-0.67 with it, 0.65-0.70 without).

A logistic regression over these (:class:`~convention_qa.answering.linear.Linear`) gives the
probability that the answer is right. :func:`fit` fits it on evaluation runs made with
``STRICTNESS=off`` on training splits, weighted to a mix like real use (most questions asked of
one's articles have an answer there: ``answerable_share``); ``convention-qa calibrate --fit``
runs it and ``points.json`` ships its output for the bundled model. The features are read from
the reader's record (:meth:`~convention_qa.answering.reader.Reading.to_dict`), the same record an
eval report keeps, so the model is fitted on exactly what it is served.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from convention_qa.answering.linear import Linear
from convention_qa.errors import ConfigError

__all__ = ["FEATURES", "Example", "features", "fit", "probability"]

FEATURES = ("choice", "none", "first", "margin")
_FLOOR = 1e-4  # of a probability before its log


def features(record: Mapping[str, Any]) -> dict[str, float] | None:
    """The features of a reader's record (live or from a report); None without a model's choice
    (or for a record that is not one)."""
    if not isinstance(record, Mapping):
        return None
    probability, choice = record.get("confidence"), record.get("choice")
    if not isinstance(probability, int | float) or not isinstance(choice, int) or isinstance(choice, bool):
        return None
    sentence, top, none = record.get("sentence_score"), record.get("top_score"), record.get("none_probability")
    if not all(isinstance(x, int | float) or x is None for x in (sentence, top, none)):
        return None
    return {
        "choice": math.log(max(float(probability), _FLOOR)),
        "none": math.log(max(float(none or 0.0), _FLOOR)),
        "first": 1.0 if choice == 1 else 0.0,
        "margin": float(sentence) - float(top) if sentence is not None and top is not None else 0.0,
    }


def probability(record: Mapping[str, Any], model: Linear | None) -> float | None:
    """``model``'s probability that the answer of a reader's record is right: what the check
    compares and ``calibrate`` scores. None without a model, or for a record without its features."""
    values = features(record) if model is not None else None
    return None if model is None or values is None else model.probability(values)


@dataclass(frozen=True)
class Example:
    """One written answer of a training run: its reader's features, whether it is right, whether
    its question has an answer in the articles, and the run it comes from."""

    values: dict[str, float]
    right: bool
    answerable: bool
    run: str


def weights(examples: Sequence[Example], answerable_share: float) -> list[float]:
    """Sample weights: every run counts alike, and answers to answerable questions carry
    ``answerable_share`` of the total (the rest: answers to questions the articles do not answer)."""
    if not 0.0 < answerable_share < 1.0:
        raise ConfigError(f"the answerable share must be between 0 and 1, not {answerable_share}")
    runs = {e.run for e in examples}
    per_run = {r: 1.0 / sum(e.run == r for e in examples) for r in runs}
    raw = [per_run[e.run] for e in examples]
    pairs = list(zip(raw, examples, strict=True))
    totals = {flag: sum(w for w, e in pairs if e.answerable == flag) for flag in (True, False)}
    if not totals[False]:
        return raw  # nothing unanswerable among them: the runs' own mix
    share = {True: answerable_share, False: 1.0 - answerable_share}
    return [w * share[e.answerable] / totals[e.answerable] * len(examples) for w, e in pairs]


def fit(examples: Sequence[Example], answerable_share: float = 0.8) -> Linear:
    """A logistic regression of "the answer is right" on :data:`FEATURES` (scikit-learn)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if len(examples) < 20 or len({e.right for e in examples}) < 2:
        raise ConfigError(
            f"{len(examples)} written answers, {sum(e.right for e in examples)} right: fitting needs at least 20, "
            "some right and some wrong (run `eval` with STRICTNESS=off on more questions)"
        )
    rows = [[e.values[f] for f in FEATURES] for e in examples]
    scaler = StandardScaler().fit(rows)  # Linear stores the same mean and scale
    model = LogisticRegression(C=1.0, max_iter=1000)
    model.fit(scaler.transform(rows), [e.right for e in examples], sample_weight=weights(examples, answerable_share))
    return Linear(
        FEATURES,
        tuple(float(c) for c in model.coef_[0]),
        float(model.intercept_[0]),
        tuple(float(m) for m in scaler.mean_),
        tuple(float(s) for s in scaler.scale_),
    )
