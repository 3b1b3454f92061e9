"""Fit the answer policy (src/convention_qa/policy.json) from evaluation runs made with the policy off.

    CONVENTION_QA_POLICY=off convention-qa eval ../shared/eval-data/idk_mrc_valid --sample 150 --seed 1 --out runs/idk
    ... (the same for facqa_valid, xling_en_dev and eval/seed.yaml)
    python benchmarks/calibrate.py runs/idk runs/facqa runs/xling runs/seed [--write] [--chart docs/policy.png]

Every question of those reports carries the signals the policy sees (retrieval score and margin,
shared language, question coverage, anchors, the model's NOT_FOUND probability) and whether it
is answerable. This fits two logistic regressions of "answerable" on them (one with the model's
refusal probability, one without it, for backends that cannot give it), prints per set the ROC
AUC (5-fold cross-validated, and of the old score threshold for comparison) and the answer rate
and abstention recall at the chosen operating point, draws the trade-off as the threshold moves,
and with --write stores the policy. The operating point maximises the mean, over the sets, of
answer rate on answerable questions plus abstention recall on unanswerable ones, among the
thresholds that keep every set's answer rate at --min-answer-rate or above (if any do).

The off-corpus floors are set below every answerable question's best score in the reports, by
--margin, within a language and across languages: they stop only what is clearly elsewhere.
With --off-corpus EVAL_DATA, the questions of the shared sets are also asked against the shipped
corpus (retrieval only) to show how many of those the floors stop.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from _common import folds
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from convention_qa.answering.policy import DEFAULT_POLICY_FILE, LogisticModel, Policy, feature_values
from convention_qa.contract import Signals

ROOT = Path(__file__).resolve().parent.parent
WITH_REFUSAL = ("score", "margin", "same_language", "coverage", "coverage_any", "missing", "anchors", "log_refusal")
WITHOUT_REFUSAL = WITH_REFUSAL[:-1]


def read_runs(folders: list[Path]) -> list[dict[str, Any]]:
    rows = []
    for folder in folders:
        path = folder / "report.json" if folder.is_dir() else folder
        data = json.loads(path.read_text(encoding="utf-8"))
        for q in data["questions"]:
            if q.get("signals"):
                rows.append({"set": folder.name, "answerable": bool(q["answerable"]), **q})
        print(f"{folder.name}: {sum(1 for r in rows if r['set'] == folder.name)} questions with signals")
    return rows


def matrix(rows: list[dict[str, Any]], features: tuple[str, ...]) -> np.ndarray:
    return np.array([[feature_values(Signals.from_dict(r["signals"]))[f] for f in features] for r in rows], dtype=float)


def _model() -> Any:
    """L2-regularised logistic regression on standardised features, classes weighted to count equally."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000))


def fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """The fitted model as (coef, intercept, mean, scale): what policy.json stores."""
    model = _model().fit(x, y)
    scaler, regression = model.named_steps["standardscaler"], model.named_steps["logisticregression"]
    return regression.coef_[0], float(regression.intercept_[0]), scaler.mean_, scaler.scale_


def predict(x: np.ndarray, coef: np.ndarray, intercept: float, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(intercept + ((x - mean) / scale) @ coef, -50, 50)))


def auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    return float(roc_auc_score(labels, scores)) if len(set(labels.tolist())) == 2 else None


def cross_validated(x: np.ndarray, y: np.ndarray, wanted: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold P(answerable) for every row (stratified folds)."""
    return np.asarray(cross_val_predict(_model(), x, y, cv=folds(y, wanted, seed), method="predict_proba")[:, 1])


def rates(
    p: np.ndarray, y: np.ndarray, sets: np.ndarray, threshold: float
) -> dict[str, tuple[float | None, float | None]]:
    """Per set: (answer rate on answerable, abstention recall on unanswerable)."""
    out = {}
    for name in sorted(set(sets)):
        mask = sets == name
        pos, neg = mask & (y == 1), mask & (y == 0)
        answer_rate = float((p[pos] >= threshold).mean()) if pos.any() else None
        recall = float((p[neg] < threshold).mean()) if neg.any() else None
        out[name] = (answer_rate, recall)
    return out


def choose(p: np.ndarray, y: np.ndarray, sets: np.ndarray, min_answer_rate: float) -> float:
    best, best_value, fallback, fallback_value = 0.5, -1.0, 0.5, -1.0
    for threshold in np.unique(np.round(p, 4)):
        per_set = rates(p, y, sets, threshold)
        terms = [v for pair in per_set.values() for v in pair if v is not None]
        value = sum(terms) / len(terms)
        if value > fallback_value:
            fallback, fallback_value = float(threshold), value
        answer_rates = [a for a, _ in per_set.values() if a is not None]
        if min(answer_rates) >= min_answer_rate and value > best_value:
            best, best_value = float(threshold), value
    return best if best_value >= 0 else fallback


def floors(rows: list[dict[str, Any]], margin: float) -> tuple[float, float]:
    same = [r["signals"]["score"] for r in rows if r["answerable"] and r["signals"]["same_language"]]
    cross = [r["signals"]["score"] for r in rows if r["answerable"] and not r["signals"]["same_language"]]
    if not same or not cross:
        print("no answerable question", "in the passages' language" if not same else "across languages", "in the runs:",
              "its floor is 0 (it stops nothing)")  # fmt: skip
    return (round(min(same) - margin, 3) if same else 0.0), (round(min(cross) - margin, 3) if cross else 0.0)


def off_corpus_check(eval_data: Path, policy: Policy) -> None:
    """Retrieval only: shared-set questions against the shipped corpus, and how many the floors stop."""
    import tempfile

    from convention_qa.config import Settings
    from convention_qa.corpus.ingest import ingest
    from convention_qa.evaluation.datasets import read_jsonl_set
    from convention_qa.factory import Factory
    from convention_qa.text import guess_language

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), corpus_dir=ROOT / "corpus", llm="extractive", policy="off")
        factory = Factory(settings)
        ingest(factory.store(), factory.embedder(), settings)
        retriever = factory.assistant().retriever
        stopped = {True: [0, 0], False: [0, 0]}
        for name in ("idk_mrc_valid", "facqa_valid", "xling_en_dev"):
            for q in read_jsonl_set(eval_data / name)[1]:
                hits = retriever.retrieve(q.question, 1)
                same = bool(hits) and hits[0].meta.language == guess_language(q.question)
                stopped[same][1] += 1
                stopped[same][0] += int(not hits or policy.off_corpus(hits[0].score, same))
    for same, (count, total) in stopped.items():
        label = "same language" if same else "across languages"
        print(f"off-corpus questions stopped by the floor ({label}): {count}/{total} = {count / max(total, 1):.3f}")


def chart(p: np.ndarray, y: np.ndarray, sets: np.ndarray, threshold: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    grid = np.linspace(0, 1, 201)
    for name in sorted(set(sets)):
        mask = sets == name
        pos, neg = mask & (y == 1), mask & (y == 0)
        if not pos.any():
            continue
        answered = [float((p[pos] >= t).mean()) for t in grid]
        if neg.any():
            recall = [float((p[neg] < t).mean()) for t in grid]
            ax.plot(recall, answered, label=f"{name} (answer rate vs abstention recall)")
            at = rates(p, y, sets, threshold)[name]
            ax.scatter([at[1]], [at[0]], color="black", zorder=3)
        else:
            ax.plot(grid, answered, linestyle=":", label=f"{name} (answer rate vs threshold)")
    ax.set_xlabel("abstention recall on unanswerable questions (or threshold)")
    ax.set_ylabel("answer rate on answerable questions")
    ax.set_title(f"Answer policy trade-off (dots: chosen threshold {threshold:.2f})")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="eval --out folders (or report.json files)")
    parser.add_argument("--write", action="store_true", help=f"write the policy to {DEFAULT_POLICY_FILE}")
    parser.add_argument("--out", type=Path, default=DEFAULT_POLICY_FILE, help="where --write puts it")
    parser.add_argument("--chart", type=Path, default=ROOT / "docs" / "policy-tradeoff.png")
    parser.add_argument("--min-answer-rate", type=float, default=0.9)
    parser.add_argument("--margin", type=float, default=0.03, help="off-corpus floors: below the lowest answerable")
    parser.add_argument("--off-corpus", type=Path, help="shared eval-data folder: check the floors on it")
    args = parser.parse_args()

    rows = read_runs(args.runs)
    y = np.array([1.0 if r["answerable"] else 0.0 for r in rows])
    sets = np.array([r["set"] for r in rows])
    floor_same, floor_cross = floors(rows, args.margin)
    models: dict[str, LogisticModel | None] = {}
    summary: dict[str, Any] = {}
    for key, features in (("with_refusal", WITH_REFUSAL), ("without_refusal", WITHOUT_REFUSAL)):
        usable = [i for i, r in enumerate(rows) if key == "without_refusal" or r["signals"].get("refusal") is not None]
        if not usable or len({y[i] for i in usable}) < 2:
            models[key] = None
            continue
        x, yy, ss = matrix([rows[i] for i in usable], features), y[usable], sets[usable]
        cv = cross_validated(x, yy)
        threshold = choose(cv, yy, ss, args.min_answer_rate)
        coef, intercept, mean, scale = fit(x, yy)
        models[key] = LogisticModel(
            features, tuple(round(float(c), 5) for c in coef), round(intercept, 5),
            tuple(round(float(m), 5) for m in mean), tuple(round(float(s), 5) for s in scale), round(threshold, 4),
        )  # fmt: skip
        print(
            f"\n## {key}: {len(usable)} questions, threshold {threshold:.3f} (chosen on 5-fold cross-validated scores)"
        )
        print("| feature | coefficient (per standard deviation) |\n|---|---:|")
        for name, c in zip(features, coef, strict=True):
            print(f"| {name} | {c:+.3f} |")
        print("\n| set | n | ROC AUC (policy, 5-fold CV) | ROC AUC (score) | answer rate | abstention recall |")
        print("|---|---:|---:|---:|---:|---:|")
        per_set = rates(cv, yy, ss, threshold)
        scores = x[:, features.index("score")]
        for name in sorted(set(ss)):
            mask = ss == name
            a, r = per_set[name]
            shown = [
                f"{v:.3f}" if v is not None else "n/a"
                for v in (auc(cv[mask], yy[mask]), auc(scores[mask], yy[mask]), a, r)
            ]
            print(f"| {name} | {int(mask.sum())} | " + " | ".join(shown) + " |")
        pooled = [f"{v:.3f}" if v is not None else "n/a" for v in (auc(cv, yy), auc(scores, yy))]
        print(f"| all | {len(yy)} | {pooled[0]} | {pooled[1]} | | |")
        summary[key] = {"questions": len(usable), "auc_cv": auc(cv, yy), "per_set": per_set}
        if key == "with_refusal":
            chart(cv, yy, ss, threshold, args.chart)
    policy = Policy(
        floor_same,
        floor_cross,
        models.get("with_refusal"),
        models.get("without_refusal"),
        {"fitted_on": [str(p) for p in args.runs], "min_answer_rate": args.min_answer_rate, "figures": summary},
    )
    print(f"\noff-corpus floors: {floor_same} within a language, {floor_cross} across languages")
    if args.off_corpus:
        off_corpus_check(args.off_corpus, policy)
    if args.write:
        args.out.write_text(json.dumps(policy.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
