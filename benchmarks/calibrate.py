"""Calibrate the abstention threshold (``min_score``) on the shipped corpus.

    python benchmarks/calibrate.py ../shared/eval-data

In-corpus questions: the answerable questions of eval/seed.yaml. Out-of-corpus questions: every
question of the shared sets (Wikipedia and news topics the shipped article does not cover),
asked against the shipped corpus. For each threshold, prints the share of in-corpus questions
that pass (would be answered) and of out-of-corpus questions that are stopped (abstained).
Retrieval only: the model's own NOT_FOUND comes on top of this.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from convention_qa.config import Settings
from convention_qa.evaluation.datasets import read_jsonl_set, read_question_file
from convention_qa.factory import Factory
from convention_qa.ingest import ingest

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("eval_data", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), corpus_dir=ROOT / "corpus", llm="extractive")
        factory = Factory(settings)
        ingest(factory.store(), factory.embedder(), settings)
        retriever = factory.assistant().retriever
        seed = read_question_file(ROOT / "eval" / "seed.yaml")
        inside = [q.question for q in seed if q.answerable and not q.turns]
        outside = [
            q.question
            for name in ("idk_mrc_valid", "facqa_valid", "xling_en_dev")
            for q in read_jsonl_set(args.eval_data / name)[1]
        ]
        outside += [q.question for q in seed if "out-of-corpus" in q.tags]

        def top(question: str) -> float:
            hits = retriever.retrieve(question, 1)
            return hits[0].score if hits else 0.0

        in_scores = [top(q) for q in inside]
        out_scores = [top(q) for q in outside]
    print(f"{len(inside)} in-corpus questions, {len(outside)} out-of-corpus questions")
    print("| min_score | in-corpus answered | out-of-corpus abstained |")
    print("|---:|---:|---:|")
    for threshold in [0.76 + 0.01 * i for i in range(10)]:
        answered = sum(s >= threshold for s in in_scores) / len(in_scores)
        stopped = sum(s < threshold for s in out_scores) / len(out_scores)
        print(f"| {threshold:.2f} | {answered:.3f} | {stopped:.3f} |")


if __name__ == "__main__":
    main()
