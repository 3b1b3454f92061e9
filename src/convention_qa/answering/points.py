"""The focused reader's operating points: the minimum confidence at which an answer is given,
for each strictness setting, and how they are chosen from evaluation runs.

For a model, the confidence is the probability of the fitted confidence model
(:mod:`convention_qa.answering.confidence`, fitted on training-split runs and stored beside the
points); without one (the extractive backend), the ranking margin. A point is chosen from runs
made with ``STRICTNESS=off`` (every answer given, with its confidence) on development splits:
for each candidate threshold, the answered precision and the coverage of each run;
``strict``, ``balanced`` and ``helpful`` are the lowest thresholds at which the mean answered
precision over the runs (each run counting alike) reaches 0.75, 0.65 and 0.60. A
half-unanswerable set such as IDK-MRC pulls the mean down: on mostly answerable questions the
precision at each point is higher (see the README). The file shipped beside this module is
``convention-qa calibrate``'s output for the bundled model and for the extractive backend; an
operator runs the same command on their own backend and question sets and points
``CONVENTION_QA_OPERATING_POINTS`` at the file it writes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convention_qa.answering.confidence import FEATURES
from convention_qa.answering.linear import Linear
from convention_qa.errors import ConfigError

__all__ = ["DEFAULT_POINTS_FILE", "TARGETS", "Outcome", "Points", "choose_points", "operating_points", "sweep"]

DEFAULT_POINTS_FILE = Path(__file__).with_name("points.json")
TARGETS = {"strict": 0.75, "balanced": 0.65, "helpful": 0.60}  # mean answered precision each aims at
BACKENDS = ("model", "extractive")


@dataclass(frozen=True)
class Outcome:
    """One question of a run: the confidence of the answer written (None: none was written),
    whether that answer is right, and whether the question is answerable."""

    confidence: float | None
    right: bool
    answerable: bool


@dataclass(frozen=True)
class Points:
    """A backend's operating points (strictness -> minimum score) and, for a model, the fitted
    confidence model whose probability they are compared with (None: the choice's own probability)."""

    thresholds: dict[str, float]
    model: Linear | None = None
    fitted_on: Any = None  # what the model says it was fitted on (kept when calibrate rewrites the file)


def operating_points(path: Path | None, *, extractive: bool) -> Points:
    """The points for the model (or, ``extractive``, for answering without one) from ``path``,
    by default the shipped file."""
    source = path or DEFAULT_POINTS_FILE
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the operating points {source}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{source} is not JSON ({exc}): write it with `convention-qa calibrate`") from None
    backend = "extractive" if extractive else "model"
    section = data.get(backend) if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(f"{source} has no {backend!r} points: write it with `convention-qa calibrate`")
    points = {}
    for name in TARGETS:
        value = section.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"{source}: {backend}.{name} must be a number, not {value!r}")
        points[name] = float(value)
    weights = section.get("confidence")
    if extractive or weights is None:
        return Points(points)
    model = Linear.read(weights, FEATURES, f"{source}: {backend}.confidence")
    return Points(points, model, weights.get("fitted_on"))


def sweep(runs: Mapping[str, Sequence[Outcome]], thresholds: Sequence[float]) -> list[dict[str, Any]]:
    """For each threshold, each run's answered precision (right answers of those given), coverage
    (answers given of all questions, as ``eval`` counts it) and answers given."""
    rows = []
    for t in thresholds:
        row: dict[str, Any] = {"threshold": t}
        for name, outcomes in runs.items():
            given = [o for o in outcomes if o.confidence is not None and o.confidence >= t]
            right = sum(o.right for o in given)
            row[name] = {
                "precision": right / len(given) if given else None,
                "coverage": len(given) / len(outcomes) if outcomes else None,
                "given": len(given),
            }
        rows.append(row)
    return rows


def choose_points(runs: Mapping[str, Sequence[Outcome]]) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """The lowest threshold reaching each target's mean answered precision (the highest
    confidence seen when none does), and the sweep it was read from."""
    seen = sorted({o.confidence for r in runs.values() for o in r if o.confidence is not None})
    if not seen:
        raise ConfigError("the runs hold no answer with a confidence: run `eval` with STRICTNESS=off first")
    rows = sweep(runs, seen)

    def mean_precision(row: dict[str, Any]) -> float:
        values = [row[name]["precision"] for name in runs if row[name]["precision"] is not None]
        return sum(values) / len(values) if values else 0.0

    points = {}
    for name, target in TARGETS.items():
        reached = [row["threshold"] for row in rows if mean_precision(row) >= target]
        points[name] = float(min(reached)) if reached else float(seen[-1])
    return points, rows
