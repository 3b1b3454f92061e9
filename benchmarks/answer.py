"""Answer latency per stage with the configured model, and retrieval latency at 10k chunks.

    python benchmarks/answer.py [--questions 12] [--llm local] [--chunks 10000]

Part 1 asks questions from eval/seed.yaml (single questions and follow-up conversations) on the
shipped corpus and prints median and p95 seconds for condense, retrieve, first token and
generate. Part 2 builds a 10,000-chunk index (texts from the seed vocabulary, random unit
vectors: search cost does not depend on what the vectors mean), then times hybrid retrieval
(query embedding, dense search, BM25, fusion) with the real multilingual embedder.
Not a test: figures vary with the machine's load.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from convention_qa.config import Settings
from convention_qa.documents import load_article
from convention_qa.embeddings import make_embedder, model_id
from convention_qa.evaluation.datasets import read_question_file
from convention_qa.evaluation.metrics import percentile
from convention_qa.factory import Factory
from convention_qa.index import open_store
from convention_qa.ingest import ingest
from convention_qa.retrieval import Retriever

ROOT = Path(__file__).resolve().parent.parent


def stage_table(timings: list[dict[str, float]]) -> None:
    print("| stage | median s | p95 s | n |")
    print("|---|---:|---:|---:|")
    for stage in ("condense", "retrieve", "check", "first_token", "generate"):
        values = [t[stage] for t in timings if stage in t]
        if values:
            print(f"| {stage} | {statistics.median(values):.3f} | {percentile(values, 95):.3f} | {len(values)} |")


def bench_answers(llm: str, count: int, models_dir: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), corpus_dir=ROOT / "corpus", llm=llm, models_dir=models_dir)
        factory = Factory(settings)
        ingest(factory.store(), factory.embedder(), settings)
        assistant = factory.assistant()
        questions = read_question_file(ROOT / "eval" / "seed.yaml")
        single = [q for q in questions if not q.turns and q.answerable][:count]
        follow = [q for q in questions if q.turns][: max(1, count // 4)]
        assistant.ask(single[0].question)  # warm-up: loads the model, builds BM25
        timings = []
        for q in single:
            timings.append(assistant.ask(q.question).timings)
        for q in follow:
            history = []
            for turn in q.turns:
                history += [{"role": "user", "content": turn}, {"role": "assistant", "content": "..."}]
            timings.append(assistant.ask(q.question, history).timings)
        print(f"\nanswers with llm={llm} ({len(single)} questions, {len(follow)} follow-ups):")
        stage_table(timings)


def bench_retrieval(chunks: int, runs: int = 50) -> None:
    import numpy as np

    words = load_article(ROOT / "corpus" / "hanoi-convention-high-level-session.md").text.split()
    rng = random.Random(0)
    embedder = make_embedder("multilingual-e5-small")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        store = open_store(settings, model_id(embedder))
        vectors = np.random.default_rng(0).normal(size=(chunks, 384)).astype("float32")
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        for start in range(0, chunks, 1000):
            ids = [f"c{i}" for i in range(start, min(chunks, start + 1000))]
            texts = [" ".join(rng.choice(words) for _ in range(120)) for _ in ids]
            metas = [
                {"doc_id": f"d{i // 4}", "doc_hash": "h", "n_chunks": 4, "language": "id"} for i in range(len(ids))
            ]
            store.upsert(ids, texts, vectors[start : start + len(ids)].tolist(), metas)
        retriever = Retriever(store, embedder)
        started = time.perf_counter()
        retriever.refresh()
        build = time.perf_counter() - started
        questions = ["Berapa negara yang menandatangani Konvensi Hanoi?", "How many articles does it have?"]
        latencies = []
        for i in range(runs):
            started = time.perf_counter()
            retriever.retrieve(questions[i % 2] + f" {i}", k=4)
            latencies.append(time.perf_counter() - started)
    print(f"\nretrieval at {chunks} chunks (BM25 built once in {build:.2f} s), {runs} questions:")
    print(f"median {1000 * statistics.median(latencies):.1f} ms, p95 {1000 * percentile(latencies, 95):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--llm", default="local")
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--chunks", type=int, default=10_000)
    args = parser.parse_args()
    bench_answers(args.llm, args.questions, args.models_dir)
    bench_retrieval(args.chunks)


if __name__ == "__main__":
    main()
