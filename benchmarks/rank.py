"""Answer-sentence recall of the sentence ranking, per signal and for the mix; and the weights' fit.

    # measure on shared sets (their own index, as `convention-qa eval` builds it; retrieval top-k):
    python benchmarks/rank.py measure ../shared/eval-data/xling_en_dev ... --sample 150 --seed 7
    # choose the weights on training splits (the gold passage and its 3 closest passages by BM25):
    python benchmarks/rank.py fit ../shared/train-data/tydiqa_id_train ../shared/train-data/facqa_train

Answer-sentence recall@n: the share of answerable questions whose accepted answer (in the
question's language or the passage's) is written in one of the n best-ranked sentences.
No model is run; only the embedder.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from pathlib import Path

from convention_qa.answering.ranking import RankedSentence, RankWeights, SentenceRanker
from convention_qa.answering.retrieval import BM25
from convention_qa.config import get_settings
from convention_qa.contract import ChunkMeta, Passage
from convention_qa.evaluation.datasets import EvalQuestion, read_jsonl_set
from convention_qa.evaluation.metrics import normalize_answer as normalize
from convention_qa.evaluation.suite import prepare
from convention_qa.factory import Factory
from convention_qa.text import Query, tokenize

CUTS = (1, 3, 5)
SIGNALS = {
    "dense only": RankWeights(1.0, 0.0, 0.0, 0.0, 0.0),
    "lexical only": RankWeights(0.0, 1.0, 0.3, 0.0, 0.0),
    "passage order": RankWeights(0.0, 0.0, 0.0, 1.0, 0.0),
}


def holds_answer(sentence: RankedSentence, q: EvalQuestion) -> bool:
    text = f" {normalize(sentence.text)} "
    return any(f" {normalize(a)} " in text for a in q.answers + q.alt_answers if normalize(a))


def recall(ranked: list[list[RankedSentence]], questions: list[EvalQuestion]) -> dict[int, float]:
    found = {n: 0 for n in CUTS}
    for sentences, q in zip(ranked, questions, strict=True):
        for n in CUTS:
            found[n] += any(holds_answer(s, q) for s in sentences[:n])
    return {n: found[n] / max(1, len(questions)) for n in CUTS}


def rerank(weights: RankWeights, sentences: list[RankedSentence]) -> list[RankedSentence]:
    """The same sentences under other weights (the signals do not change)."""
    w = weights

    def score(s: RankedSentence) -> float:
        return (
            w.dense * s.dense
            + w.lexical * s.lexical
            + w.anchors * s.anchors
            + w.kind * s.kind
            + w.passage * s.passage.score
        )

    return sorted(sentences, key=lambda s: (-score(s), s.rank, s.span))


def _answerable(questions: list[EvalQuestion]) -> list[EvalQuestion]:
    return [q for q in questions if q.answerable and (q.answers or q.alt_answers)]


def measure(args: argparse.Namespace) -> None:
    factory = Factory(get_settings())
    print("| set | questions | ranking | R@1 | R@3 | R@5 | seconds/question |")
    print("|---|---:|---|---:|---:|---:|---:|")
    every: list[tuple[list[list[RankedSentence]], list[EvalQuestion]]] = []
    for path in args.sets:
        assistant, questions = prepare(Path(path), factory, sample=args.sample, seed=args.seed)
        questions = _answerable(questions)
        retriever = assistant.retriever
        retriever.refresh()
        ranker = SentenceRanker(retriever.embedder, retriever.idf)
        ranked, started = [], time.perf_counter()
        for q in questions:
            query = Query.read(q.question, q.lang if q.lang in ("id", "en", "vi") else None)
            ranked.append(ranker.run(query, retriever.retrieve(query, args.k)))
        per_question = (time.perf_counter() - started) / max(1, len(questions))
        every.append((ranked, questions))
        rows = {"mix (shipped)": ranked}
        rows |= {name: [rerank(w, r) for r in ranked] for name, w in SIGNALS.items()}
        for name, rows_ranked in rows.items():
            r = recall(rows_ranked, questions)
            timing = f"{per_question:.2f}" if name == "mix (shipped)" else ""
            print(
                f"| {Path(path).name} | {len(questions)} | {name} | {r[1]:.3f} | {r[3]:.3f} | {r[5]:.3f} | {timing} |"
            )
        sys.stdout.flush()
    if args.grid:
        _search(every)


def _search(runs: list[tuple[list[list[RankedSentence]], list[EvalQuestion]]]) -> None:
    """The weights with the best mean recall@3 (then @1) over the runs, each set counting alike."""
    grid = itertools.product(
        (1.0,), (0.0, 0.15, 0.35, 0.6, 1.0), (0.0, 0.15, 0.3), (0.0, 0.15, 0.3), (0.0, 0.05, 0.1, 0.2)
    )
    results = []
    for dense, lexical, anchor, passage, kind in grid:
        w = RankWeights(dense, lexical, anchor, passage, kind)
        scores = [recall([rerank(w, s) for s in ranked], qs) for ranked, qs in runs]
        mean = {n: sum(r[n] for r in scores) / len(scores) for n in CUTS}
        results.append((mean[3], mean[1], mean[5], w))
    results.sort(key=lambda item: (-item[0], -item[1]))
    print(f"{sum(len(qs) for _, qs in runs)} questions in {len(runs)} sets; best weights by mean R@3 (then R@1):")
    for r3, r1, r5, w in results[:8]:
        print(f"  R@1 {r1:.3f}  R@3 {r3:.3f}  R@5 {r5:.3f}  {json.dumps(w.__dict__)}")


def _neighbours(questions: list[EvalQuestion], passages: dict[str, str], extra: int) -> list[list[Passage]]:
    """The gold passage and the ``extra`` passages closest to the question by BM25, each scored by
    its BM25 score over the best one's (the gold passage is not always first)."""
    ids = list(passages)
    bm25 = BM25([tokenize(passages[i]) for i in ids])
    found = []
    for q in questions:
        hits = dict((ids[i], score) for i, score in bm25.search(tokenize(q.question), len(ids)))
        near = [pid for pid in hits if pid != q.gold_pid][:extra]
        chosen = [q.gold_pid, *near] if q.gold_pid else near
        best = max((hits.get(pid, 0.0) for pid in chosen), default=0.0) or 1.0
        scored = sorted(chosen, key=lambda pid: -hits.get(pid, 0.0))
        found.append(
            [
                Passage(pid, passages[pid], ChunkMeta(doc_id=pid, title=pid, language="id"), hits.get(pid, 0.0) / best)
                for pid in scored
            ]
        )
    return found


def fit(args: argparse.Namespace) -> None:
    factory = Factory(get_settings())
    ranker = SentenceRanker(factory.embedder())
    ranked: list[list[RankedSentence]] = []
    questions: list[EvalQuestion] = []
    for path in args.sets:
        corpus, qs = read_jsonl_set(Path(path))
        qs = _answerable(qs)
        qs = random.Random(args.seed).sample(qs, min(args.sample, len(qs)))
        passages = {p.pid: p.text for p in corpus}
        for q, chosen in zip(qs, _neighbours(qs, passages, 3), strict=True):
            ranked.append(ranker.run(Query.read(q.question, "id"), chosen))
            questions.append(q)
        print(f"{Path(path).name}: {len(qs)} questions ranked", file=sys.stderr)
    _search([(ranked, questions)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure")
    m.add_argument("sets", nargs="+")
    m.add_argument("--sample", type=int, default=150)
    m.add_argument("--seed", type=int, default=7)
    m.add_argument("--k", type=int, default=5)
    m.add_argument("--grid", action="store_true", help="also search the weights on these sets")
    f = sub.add_parser("fit")
    f.add_argument("sets", nargs="+")
    f.add_argument("--sample", type=int, default=150)
    f.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    (measure if args.command == "measure" else fit)(args)


if __name__ == "__main__":
    main()
