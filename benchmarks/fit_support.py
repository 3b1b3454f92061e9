"""Fit the near-miss (support) model on the training splits; print what each signal is worth.

    .venv/bin/python benchmarks/fit_support.py ../shared/train-data [--dev ../shared/eval-data] [--write]

For every training question, the sentence of its gold passage that shares most words with the
question (where an answer, right or invented, is usually taken from) is measured against the question
(:func:`convention_qa.answering.support.measure_support`), and a logistic regression (scikit-learn)
learns P(the sentence answers the question). IDK-MRC's near misses are the negatives; TyDi QA
and FacQA add answerable questions. Prints, per feature group, the 5-fold cross-validated ROC
AUC on IDK-MRC train and the AUC on the dev splits' IDK-MRC, and the coefficients. ``--write``
stores the model in the ``support`` section of ``src/convention_qa/verdict.json``, which
``benchmarks/fit_verdict.py`` then builds on.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from _common import folds
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from convention_qa.answering.support import best_sentence, measure_support
from convention_qa.answering.verdict import DEFAULT_VERDICT_FILE, SUPPORT_FEATURES
from convention_qa.corpus.chunking import split_sentences
from convention_qa.evaluation.datasets import read_jsonl_set
from convention_qa.text import Query, tokenize

SETS = ("idk_mrc_train", "tydiqa_id_train", "facqa_train")
DEV = "idk_mrc_valid"


def _idf(texts: list[str]) -> dict[str, float]:
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(set(tokenize(text)))
    n = len(texts)
    return {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in counts.items()}


Example = tuple[dict[str, float], tuple[str, ...]]  # support values, the question words the passage lacks


def examples(folder: Path, limit: int | None = None) -> tuple[list[Example], list[int], list[str]]:
    passages, questions = read_jsonl_set(folder)
    texts = {p.pid: p.text for p in passages}
    idf = _idf(list(texts.values()))
    top = max(idf.values(), default=1.0)

    def weight(token: str) -> float:
        return idf.get(token, top)

    rows, labels, groups = [], [], []
    for q in questions[:limit] if limit else questions:
        passage = texts.get(q.gold_pid or "")
        if not passage:
            continue
        sentences = [passage[a:b] for a, b in split_sentences(passage)]
        if not sentences:
            continue
        # The same rule for both classes: the sentence sharing most words with the question.
        # (Taking the gold answer's sentence for answerable questions only taught the model that
        # high coverage means a near miss: a bias of the selection, not of the questions.)
        question = Query.read(q.question, "id")
        index = best_sentence(question, sentences, weight)
        answer_tokens = frozenset(t for a in q.answers for t in tokenize(a))
        signals = measure_support(question, sentences[index], passage, weight, exclude=answer_tokens)
        rows.append((signals.values(), signals.lacking))
        labels.append(int(q.answerable))
        groups.append(folder.name)
    return rows, labels, groups


def matrix(rows: list[Example], features: tuple[str, ...], vocabulary: list[str] = ()) -> np.ndarray:  # type: ignore[assignment]
    """Standardised later: the numeric signals, then one 0/1 column per lexicon word."""
    index = {w: i for i, w in enumerate(vocabulary)}
    words = np.zeros((len(rows), len(vocabulary)))
    for row, (_, lacking) in enumerate(rows):
        for word in lacking:
            if word in index:
                words[row, index[word]] = 1.0
    numeric = np.array([[values[f] for f in features] for values, _ in rows], dtype=float)
    return np.hstack([numeric, words])


class Model:
    """Standardised numeric signals and raw 0/1 lexicon columns, one logistic regression."""

    def __init__(self, n_numeric: int) -> None:
        self.n = n_numeric
        self.scaler = StandardScaler()
        self.regression = LogisticRegression(C=0.5, class_weight="balanced", max_iter=3000)

    def _x(self, x: np.ndarray, fit: bool = False) -> np.ndarray:
        numeric = self.scaler.fit_transform(x[:, : self.n]) if fit else self.scaler.transform(x[:, : self.n])
        return np.hstack([numeric, x[:, self.n :]])

    def fit(self, x: np.ndarray, y: np.ndarray) -> Model:
        self.regression.fit(self._x(x, fit=True), y)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.regression.predict_proba(self._x(x))  # type: ignore[no-any-return]


def cross_validated(x: np.ndarray, y: np.ndarray, n_numeric: int) -> np.ndarray:
    p = np.zeros(len(y))
    for train, test in folds(y).split(x, y):
        p[test] = Model(n_numeric).fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    return p


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("train", type=Path, help="the train-data folder (idk_mrc_train, tydiqa_id_train, facqa_train)")
    parser.add_argument("--dev", type=Path, help="the eval-data folder, for the AUC on idk_mrc_valid")
    parser.add_argument("--limit", type=int, help="questions per set (for a quick run)")
    parser.add_argument("--words", type=int, default=150, help="lexicon size: the most often missing question words")
    parser.add_argument(
        "--with-answerable", action="store_true", help="add TyDi QA and FacQA as answerable examples (measured: worse)"
    )
    parser.add_argument("--write", action="store_true", help=f"store the model in {DEFAULT_VERDICT_FILE}")
    args = parser.parse_args()

    rows: list[Example] = []
    labels: list[int] = []
    groups: list[str] = []
    for name in SETS if args.with_answerable else SETS[:1]:
        if (args.train / name).is_dir():
            r, y_, g = examples(args.train / name, args.limit)
            rows += r
            labels += y_
            groups += g
            print(f"{name}: {len(r)} questions, {sum(y_)} answerable")
    y = np.array(labels)
    idk = np.array([g == "idk_mrc_train" for g in groups])
    dev_rows, dev_y = examples(args.dev / DEV)[:2] if args.dev else ([], [])
    counts = Counter(w for _, lacking in rows for w in lacking)
    vocabulary = [w for w, n in counts.most_common(args.words) if n >= 5]

    variants = {
        "coverage only": (("coverage",), []),
        "sentence signals": (("coverage", "missing_sentence", "rarest_missing", "anchors", "negation", "length"), []),
        "all signals": (SUPPORT_FEATURES, []),
        f"all signals + lexicon of {len(vocabulary)} words": (SUPPORT_FEATURES, vocabulary),
    }
    print("\n| features | CV ROC AUC, IDK-MRC train | ROC AUC, IDK-MRC dev |\n|---|---:|---:|")
    for label, (features, words) in variants.items():
        x = matrix(rows, features, words)
        p = cross_validated(x, y, len(features))
        dev_auc = "n/a"
        if dev_rows:
            fitted = Model(len(features)).fit(x, y)
            dev_auc = f"{roc_auc_score(dev_y, fitted.predict_proba(matrix(dev_rows, features, words))[:, 1]):.3f}"
        print(f"| {label} | {roc_auc_score(y[idk], p[idk]):.3f} | {dev_auc} |")

    final = Model(len(SUPPORT_FEATURES)).fit(matrix(rows, SUPPORT_FEATURES, vocabulary), y)
    coef = final.regression.coef_[0]
    print("\ncoefficients (signals per standard deviation):")
    for name, c in sorted(zip(SUPPORT_FEATURES, coef, strict=False), key=lambda p: -abs(p[1])):
        print(f"  {name:18s} {c:+.3f}")
    lexicon = dict(zip(vocabulary, coef[len(SUPPORT_FEATURES) :], strict=True))
    strongest = sorted(lexicon.items(), key=lambda p: p[1])
    print("lexicon, most near-miss-like: " + ", ".join(f"{w} {c:+.2f}" for w, c in strongest[:12]))
    print("lexicon, most answerable-like: " + ", ".join(f"{w} {c:+.2f}" for w, c in strongest[-6:]))
    if args.write:
        path = DEFAULT_VERDICT_FILE
        data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"version": 1}
        data["support"] = {
            "features": list(SUPPORT_FEATURES),
            "coef": [round(float(c), 6) for c in coef[: len(SUPPORT_FEATURES)]],
            "intercept": round(float(final.regression.intercept_[0]), 6),
            "mean": [round(float(m), 6) for m in final.scaler.mean_],
            "scale": [round(float(s), 6) for s in final.scaler.scale_],
            "lexicon": {w: round(float(c), 4) for w, c in lexicon.items()},
            "fitted_on": {name: sum(1 for g in groups if g == name) for name in SETS},
        }
        # Until benchmarks/fit_verdict.py fits the answer models, an answer's probability of being
        # right is the near-miss model's own.
        data.setdefault(
            "answer", {"features": ["support"], "coef": [1.0], "intercept": 0.0, "mean": [0.0], "scale": [1.0]}
        )
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
