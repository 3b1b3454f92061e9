"""Answer latency per stage on fresh prompts, the prompt-processing floor, and retrieval at 10k chunks.

    python benchmarks/answer.py --set ../shared/eval-data/idk_mrc_valid [--questions 20] [--seed 11]
                                [--llm local] [--models-dir DIR] [--chunks 10000]

Part 1 asks a random sample of a question set (its own passages as the corpus, so every prompt
holds passages the model's prompt cache has not seen: what a user's new question costs) and
prints median and p95 seconds per stage: condense, retrieve, translate (questions in another
language than the passages), check (the answer prompt evaluated, P(NOT_FOUND) read), generate
(the whole answer, repairs included), first token (when the checked answer is released) and
total, with the prompt tokens per question. Then two-turn conversations from eval/seed.yaml:
the follow-up turn's total and condensing's share of it. Part 2 measures this machine's
prompt-processing rate (tokens/s on a 300-token prompt nothing has cached): first-token time is
bounded below by prompt tokens / that rate. Part 3 builds a 10,000-chunk index (random unit
vectors: search cost does not depend on what they mean) and times hybrid retrieval with the real
multilingual embedder. Not a test: figures vary with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from convention_qa.answering.llm import load_llama
from convention_qa.answering.retrieval import Retriever
from convention_qa.config import Settings
from convention_qa.contract import ChunkMeta
from convention_qa.corpus.documents import load_article
from convention_qa.corpus.embeddings import make_embedder, model_id
from convention_qa.corpus.index import open_store
from convention_qa.corpus.ingest import ingest
from convention_qa.evaluation.datasets import read_question_file
from convention_qa.evaluation.metrics import percentile
from convention_qa.evaluation.suite import prepare
from convention_qa.factory import Factory

ROOT = Path(__file__).resolve().parent.parent


STAGES = ("condense", "retrieve", "rank", "read", "translate", "check", "generate", "first_token", "total")


def stage_table(timings: list[dict[str, float]]) -> None:
    print("| stage | median s | p95 s | n |")
    print("|---|---:|---:|---:|")
    for stage in STAGES:
        values = [t[stage] for t in timings if stage in t]
        if values:
            print(f"| {stage} | {statistics.median(values):.3f} | {percentile(values, 95):.3f} | {len(values)} |")


def prompt_tokens(assistant: Any, answer: Any) -> int | None:
    """The answer prompt's fresh tokens (what the model's prompt cache has not seen: all but the
    fixed system prompt) in the local model's tokens; None for other backends."""
    model = getattr(assistant.chat_model, "inner", assistant.chat_model)
    if not hasattr(model, "_prompt") or not answer.passages:
        return None
    if assistant.config.reader == "focused":
        from langchain_core.messages import HumanMessage, SystemMessage

        shown = (answer.check or {}).get("shown") or []
        if not shown:
            return None
        numbered = "\n".join(f"[{i}] {text}" for i, text in enumerate(shown, start=1))
        context = (answer.check or {}).get("context") or ""
        user = assistant.prompts.render(
            "read",
            sentences=numbered,
            context=f"Earlier question: {context}\n" if context else "",
            question=answer.question,
        )
        system = SystemMessage(assistant.prompts.render("read_system"))
        whole, _ = model._prompt([system, HumanMessage(user)])
        fixed, _ = model._prompt([system, HumanMessage("")])
        return len(whole) - len(fixed)
    from convention_qa.answering.evidence import format_evidence, select_evidence
    from convention_qa.text import LANGUAGES, Query

    language = answer.passages[0].meta.language if answer.translation else answer.question_language
    reading = Query.read(answer.translation or answer.query, language)
    evidence = select_evidence(reading, answer.passages, assistant.config.evidence_tokens, assistant.retriever.idf)
    values = {
        "evidence": format_evidence(evidence),
        "question": answer.question,
        "language": LANGUAGES[answer.language],
    }
    tokens, _ = model._prompt(assistant._writer.messages(values))
    return len(tokens)


def bench_answers(set_path: Path, llm: str, count: int, seed: int, models_dir: Path | None, data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, corpus_dir=ROOT / "corpus", llm=llm, models_dir=models_dir)
    factory = Factory(settings)
    assistant, questions = prepare(set_path, factory, sample=count + 1, seed=seed)
    assistant.ask(questions[0].question)  # warm-up: loads the model, builds BM25
    timings, lengths = [], []
    for q in questions[1:]:
        started = time.perf_counter()
        answer = assistant.ask(q.question)
        timings.append({**answer.timings, "total": time.perf_counter() - started})
        length = prompt_tokens(assistant, answer)
        if length:
            lengths.append(length)
    print(f"\nanswers with llm={llm}, {len(timings)} questions of {set_path.name} (seed {seed}), fresh prompts:")
    stage_table(timings)
    if lengths:
        print(
            f"fresh prompt tokens per question: median {statistics.median(lengths):.0f}, "
            f"p95 {percentile(lengths, 95):.0f}"
        )

    ingest(factory.store(), factory.embedder(), settings)
    seeded = factory.assistant()
    conversations = [q for q in read_question_file(ROOT / "eval" / "followups.yaml") if q.turns][:count]
    follow_ups = []
    for q in conversations:
        history: list[dict[str, str]] = []
        for turn in q.turns:
            earlier = seeded.ask(turn, history)
            history += [{"role": "user", "content": turn}, {"role": "assistant", "content": earlier.text}]
        started = time.perf_counter()
        answer = seeded.ask(q.question, history)
        follow_ups.append({**answer.timings, "total": time.perf_counter() - started})
    if follow_ups:
        print(f"\nfollow-up turns ({len(follow_ups)} two-turn conversations of eval/followups.yaml, shipped corpus):")
        stage_table(follow_ups)
        share = sum(t["condense"] for t in follow_ups) / sum(t["total"] for t in follow_ups)
        print(f"condensing's share of the follow-up turns' time: {share:.0%}")


def bench_prompt_rate(models_dir: Path | None, data_dir: Path) -> None:
    from convention_qa.answering.llm import bundled_model_path

    model = load_llama(str(bundled_model_path(models_dir or data_dir / "models")), 4096, os.cpu_count() or 2)
    words = load_article(ROOT / "corpus" / "hanoi-convention-high-level-session.md").text.split()
    rates = []
    for run in range(3):
        text = " ".join(random.Random(run).choice(words) for _ in range(400))
        tokens = model.tokenize(text.encode())[:300]
        model.reset()
        started = time.perf_counter()
        model.eval(tokens)
        rates.append(len(tokens) / (time.perf_counter() - started))
    print(f"\nprompt processing (300 uncached tokens, 3 runs): median {statistics.median(rates):.1f} tokens/s")


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
            metas = [ChunkMeta(doc_id=f"d{i // 4}", doc_hash="h", n_chunks=4, language="id") for i in range(len(ids))]
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
    parser.add_argument("--set", type=Path, required=True, help="a question set folder (shared format)")
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--llm", default="local")
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="where the set's index is kept (default: a temporary folder)"
    )
    parser.add_argument("--chunks", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp)
        bench_answers(args.set, args.llm, args.questions, args.seed, args.models_dir, data_dir)
        if args.llm == "local":
            bench_prompt_rate(args.models_dir, data_dir)
    bench_retrieval(args.chunks)


if __name__ == "__main__":
    main()
