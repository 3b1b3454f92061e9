"""Fit the answer check on evaluation runs, and choose its operating points on others.

    # 1. runs on training questions, every written answer given and measured:
    CONVENTION_QA_STRICTNESS=off convention-qa eval SET --sample N --seed S --out runs/train/SET
    # 2. fit P(the answer is right) on them; choose the thresholds on dev runs (made the same way):
    .venv/bin/python benchmarks/fit_verdict.py --fit runs/train/* --choose runs/dev/* [--write]

Each run's report.json holds, per question, the answer check's values (``check``) and whether
the written answer is right (``candidate_right``). A logistic regression (scikit-learn) learns
P(right) over the answer signals (the near-miss model's logit, fitted by
``benchmarks/fit_support.py``, is one of them); a second one adds the model's own signals
(P(NOT_FOUND), answer-token log-probabilities) for backends that give them. Prints the 5-fold
cross-validated ROC AUC with each signal left out (what each earns), the coefficients, and on
the ``--choose`` runs: ROC AUC, expected calibration error, and answered precision and coverage
at each named operating point. ``--write`` stores the models and thresholds in
``src/convention_qa/verdict.json`` and draws ``docs/verdict-tradeoff.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from _common import folds
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from convention_qa.answering.linear import Linear
from convention_qa.answering.verdict import ANSWER_FEATURES, DEFAULT_VERDICT_FILE, MODEL_FEATURES, NearMiss, Verdict
from convention_qa.evaluation.selective import calibration_error, risk_coverage

TARGETS = {"strict": 0.8, "balanced": 0.7, "helpful": 0.6}  # pooled answered precision each point aims at


def load_runs(paths: list[Path], support: NearMiss) -> list[tuple[str, list[dict[str, float]], list[int]]]:
    """Per run: its name, the check values of every written answer (with the support logit),
    and whether each is right."""
    runs = []
    for path in paths:
        report = path / "report.json" if path.is_dir() else path
        data = json.loads(report.read_text(encoding="utf-8"))
        rows, labels = [], []
        for q in data["questions"]:
            check = q.get("check")
            if not check or q.get("candidate_right") is None:
                continue
            if "values" not in check:
                raise SystemExit(
                    f"{report}: not a run of the free reader (its answer check is what this fits): "
                    "run eval with CONVENTION_QA_READER=free; the focused reader's points come from "
                    "`convention-qa calibrate`"
                )
            values = dict(check["values"])
            values["support"] = support.logit(values, check.get("lacking") or ())
            rows.append(values)
            labels.append(int(bool(q["candidate_right"])))
        runs.append((report.parent.name, rows, labels))
    return runs


def matrix(rows: list[dict[str, float]], features: tuple[str, ...]) -> np.ndarray:
    return np.array([[r.get(f, 0.0) for f in features] for r in rows], dtype=float)


def regression() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))


def as_linear(fitted: Any, features: tuple[str, ...]) -> Linear:
    scaler, model = fitted.steps[0][1], fitted.steps[1][1]
    return Linear(
        features,
        tuple(round(float(c), 6) for c in model.coef_[0]),
        round(float(model.intercept_[0]), 6),
        tuple(round(float(m), 6) for m in scaler.mean_),
        tuple(round(float(s) or 1.0, 6) for s in scaler.scale_),
    )


def cv_auc(x: np.ndarray, y: np.ndarray) -> float:
    p = cross_val_predict(regression(), x, y, cv=folds(y), method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p))


def fit(rows: list[dict[str, float]], labels: list[int], features: tuple[str, ...]) -> Linear:
    y = np.array(labels)
    x = matrix(rows, features)
    print(f"\n{len(rows)} answers ({sum(labels)} right); features: {', '.join(features)}")
    whole = cv_auc(x, y)
    print(f"| left out | CV ROC AUC |\n|---|---:|\n| (none) | {whole:.3f} |")
    for index, name in enumerate(features):
        kept = [i for i in range(len(features)) if i != index]
        print(f"| {name} | {cv_auc(x[:, kept], y):.3f} |")
    model = as_linear(regression().fit(x, y), features)
    print(
        "coefficients (per standard deviation): "
        + ", ".join(
            f"{f} {c:+.2f}" for f, c in sorted(zip(features, model.coef, strict=True), key=lambda p: -abs(p[1]))
        )
    )
    return model


Runs = list[tuple[str, list[dict[str, float]], list[int]]]


def scores(verdict: Verdict, runs: Runs) -> dict[str, list[tuple[float, bool]]]:
    return {
        name: [(verdict_p(verdict, r), bool(y)) for r, y in zip(rows, labels, strict=True)]
        for name, rows, labels in runs
    }


def choose(verdict: Verdict, runs: Runs) -> dict[str, float]:
    """Per named target: the lowest threshold at which the answered precision of the runs pooled
    reaches it (so the most questions get an answer at that precision)."""
    pairs = [pair for scored in scores(verdict, runs).values() for pair in scored]
    curve = risk_coverage(pairs, len(pairs))  # highest threshold first
    points = {}
    for name, target in TARGETS.items():
        reaching = [t for t, _, precision in curve if precision >= target]
        points[name] = round(min(reaching), 4) if reaching else round(curve[0][0], 4)
    return points


def report(verdict: Verdict, runs: Runs, totals: dict[str, int]) -> None:
    """Per run: ROC AUC, ECE, and answered precision / coverage at each of the verdict's thresholds."""
    points = verdict.thresholds
    heads = " | ".join(f"{n} (t={t:.3f}) precision / coverage" for n, t in points.items())
    print(f"\n| run | ROC AUC | ECE (written answers) | {heads} |\n|---|---:|---:|" + "---:|" * len(points))
    for name, pairs in scores(verdict, runs).items():
        labels = [ok for _, ok in pairs]
        auc = roc_auc_score(labels, [p for p, _ in pairs]) if 0 < sum(labels) < len(labels) else float("nan")
        cells = []
        for t in points.values():
            given = [ok for p, ok in pairs if p >= t]
            cells.append(f"{(sum(given) / len(given)) if given else 0:.3f} / {len(given) / totals[name]:.3f}")
        print(f"| {name} | {auc:.3f} | {calibration_error(pairs) or 0:.3f} | " + " | ".join(cells) + " |")


def verdict_p(verdict: Verdict, values: dict[str, float]) -> float:
    """As Verdict.probability, on values whose near-miss logit ("support") is already worked out."""
    return verdict.calibrated(verdict.logit(values))


def calibrate(verdict: Verdict, runs: Runs) -> tuple[float, float]:
    """Platt scaling of the answer model's logit on the runs pooled: P(right) = sigmoid(a * logit + b)."""
    x = np.array([[verdict.logit(r)] for _, rows, _ in runs for r in rows])
    y = np.array([v for _, _, labels in runs for v in labels])
    fitted = LogisticRegression(C=100.0).fit(x, y)
    return round(float(fitted.coef_[0][0]), 6), round(float(fitted.intercept_[0]), 6)


def draw(
    verdict: Verdict, runs: list[tuple[str, list[dict[str, float]], list[int]]], totals: dict[str, int], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, rows, labels in runs:
        pairs = [(verdict_p(verdict, r), bool(y)) for r, y in zip(rows, labels, strict=True)]
        curve = risk_coverage(pairs, totals[name])
        ax.plot([c for _, c, _ in curve], [p for _, _, p in curve], label=name)
        for point, t in verdict.thresholds.items():
            given = [ok for p, ok in pairs if p >= t]
            if given:
                ax.scatter([len(given) / totals[name]], [sum(given) / len(given)], color="black", s=12)
                ax.annotate(point, (len(given) / totals[name], sum(given) / len(given)), fontsize=7)
    ax.set_xlabel("coverage (share of questions answered)")
    ax.set_ylabel("answered precision (share of answers right)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title("Answer check: precision against coverage (dev runs)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fit", type=Path, nargs="+", required=True, help="run folders to fit on (training questions)")
    parser.add_argument(
        "--choose", type=Path, nargs="*", default=[], help="run folders to choose the thresholds on (dev)"
    )
    parser.add_argument("--write", action="store_true", help=f"store the models in {DEFAULT_VERDICT_FILE}")
    args = parser.parse_args()

    data = json.loads(DEFAULT_VERDICT_FILE.read_text(encoding="utf-8"))
    support = NearMiss.from_dict(data["support"])
    fit_runs = load_runs(args.fit, support)
    rows = [r for _, rs, _ in fit_runs for r in rs]
    labels = [y for _, _, ys in fit_runs for y in ys]
    answer = fit(rows, labels, ANSWER_FEATURES)
    with_model = [(r, y) for r, y in zip(rows, labels, strict=True) if all(f in r for f in MODEL_FEATURES)]
    answer_model = None
    if len(with_model) >= 50:
        answer_model = fit([r for r, _ in with_model], [y for _, y in with_model], (*ANSWER_FEATURES, *MODEL_FEATURES))
    verdict = Verdict(support, answer, answer_model, {}, {})
    thresholds: dict[str, float] = {}
    totals: dict[str, int] = {}
    dev_runs = load_runs(args.choose, support) if args.choose else []
    for path in args.choose:
        file = path / "report.json" if path.is_dir() else path
        totals[file.parent.name] = len(json.loads(file.read_text(encoding="utf-8"))["questions"])
    calibration = (1.0, 0.0)
    if dev_runs:
        print("\nbefore calibration:")
        report(Verdict(support, answer, answer_model, {"none": 0.0}), dev_runs, totals)
        calibration = calibrate(verdict, dev_runs)
        verdict = Verdict(support, answer, answer_model, {}, {}, calibration)
        thresholds = choose(verdict, dev_runs)
        print(f"\ncalibrated on the dev runs pooled (a, b = {calibration}):")
        report(Verdict(support, answer, answer_model, thresholds, {}, calibration), dev_runs, totals)
        if answer_model is not None:
            print("\nthe same, without the model's own signals (backends that give no log-probabilities):")
            report(Verdict(support, answer, None, thresholds, {}, calibration), dev_runs, totals)
    verdict = Verdict(
        support,
        answer,
        answer_model,
        thresholds,
        {"fitted_on": [str(p) for p in args.fit], "chosen_on": [str(p) for p in args.choose], "targets": TARGETS},
        calibration,
    )
    if args.write:
        out = verdict.to_dict()
        out["support"] = data["support"]  # as fit_support.py wrote it (with what it was fitted on)
        DEFAULT_VERDICT_FILE.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {DEFAULT_VERDICT_FILE}")
        if dev_runs:
            figure = Path(__file__).resolve().parents[1] / "docs" / "verdict-tradeoff.png"
            draw(verdict, dev_runs, totals, figure)
            print(f"drew {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
