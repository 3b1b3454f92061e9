"""Calibrate the abstention thresholds (``min_score``, ``min_score_cross``) on the shipped corpus.

    python benchmarks/calibrate.py ../shared/eval-data

In-corpus questions: the answerable questions of eval/seed.yaml. Out-of-corpus questions: every
question of the shared sets (Wikipedia and news topics the shipped article does not cover) and
the seed set's out-of-corpus ones, asked against the shipped corpus. Questions are split by
whether they share the article's language (Indonesian) or not (English, Vietnamese), because
cross-language scores run lower. For each threshold: the share of in-corpus questions that pass
(would be answered) and of out-of-corpus questions that are stopped. Retrieval only: the
model's check and NOT_FOUND come on top of this.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from convention_qa.config import Settings
from convention_qa.evaluation.datasets import read_jsonl_set, read_question_file
from convention_qa.factory import Factory
from convention_qa.ingest import ingest
from convention_qa.text import guess_language

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

        def scored(questions: list[str]) -> dict[bool, list[float]]:
            groups: dict[bool, list[float]] = {True: [], False: []}
            for question in questions:
                hits = retriever.retrieve(question, 1)
                groups[guess_language(question) == "id"].append(hits[0].score if hits else 0.0)
            return groups

        in_scores, out_scores = scored(inside), scored(outside)
    for same, label in ((True, "same language (Indonesian questions)"), (False, "across languages (en, vi)")):
        ins, outs = in_scores[same], out_scores[same]
        print(f"\n{label}: {len(ins)} in-corpus, {len(outs)} out-of-corpus questions")
        print("| threshold | in-corpus answered | out-of-corpus abstained |")
        print("|---:|---:|---:|")
        for threshold in [0.76 + 0.01 * i for i in range(8)]:
            answered = sum(s >= threshold for s in ins) / len(ins)
            stopped = sum(s < threshold for s in outs) / len(outs)
            print(f"| {threshold:.2f} | {answered:.3f} | {stopped:.3f} |")


if __name__ == "__main__":
    main()
