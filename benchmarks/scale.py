"""A newsroom archive: retrieval and BM25 at 10,000 and 100,000 chunks, and the ingest rate.

    python benchmarks/scale.py [--chunks 10000 100000] [--questions 60] [--chroma-server]
                               [--passages ../shared/eval-data] [--ingest 120] [--embedding-server]

For each size it builds an index of that many chunks of real text (the shared eval passages'
sentences, mixed into ~1,000-character chunks, each with its own archive number) with random
unit vectors (search cost does not depend on what vectors mean), in the embedded Chroma store,
and with ``--chroma-server`` also in a Chroma server started here on 127.0.0.1. Then:

- BM25: build time and peak memory (tracemalloc, numpy's arrays included);
- retrieval p50/p95 over real questions: BM25 alone, dense alone (the store's search) and hybrid
  (``Retriever.retrieve``, the real e5 embedding of the question included);
- during a rebuild: one chunk is added, so the next question finds the index stale; what the
  questions asked while the new index is built wait, and how long the rebuild takes beside them.

``--ingest N`` embeds N real chunks in-process (the bundled e5) and prints chunks/s; with
``--embedding-server`` also through llama-cpp-python's server on this machine (the bundled GGUF,
mean pooling) at 1 and 4 requests in flight. Figures vary with the machine's load.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from _servers import free_port, running

from convention_qa.answering.retrieval import Retriever
from convention_qa.config import Settings
from convention_qa.contract import ChunkMeta
from convention_qa.corpus.embeddings import make_embedder, model_id
from convention_qa.corpus.index import open_store
from convention_qa.text import Query

ROOT = Path(__file__).resolve().parents[1]
DIM = 384


def sentences_of(folder: Path) -> tuple[list[str], list[str]]:
    """Every sentence of the shared passages, and every question."""
    sentences, questions = [], []
    for split in sorted(p for p in folder.iterdir() if p.is_dir()):
        for line in (split / "passages.jsonl").open(encoding="utf-8"):
            sentences += [s for s in re.split(r"(?<=[.!?])\s+", json.loads(line)["text"]) if len(s) > 20]
        for line in (split / "questions.jsonl").open(encoding="utf-8"):
            questions.append(json.loads(line)["question"])
    return sorted(set(sentences)), questions


def chunk_texts(sentences: list[str], n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for i in range(n):
        parts, size = [f"Arsip {i}."], 0
        while size < 900:
            sentence = rng.choice(sentences)
            parts.append(sentence)
            size += len(sentence) + 1
        texts.append(" ".join(parts))
    return texts


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def ms(values: list[float]) -> str:
    return f"p50 {1000 * statistics.median(values):6.1f} ms  p95 {1000 * percentile(values, 95):6.1f} ms"


def build_store(settings: Settings, texts: list[str], embedder_id: str) -> tuple[object, float]:
    store = open_store(settings, embedder_id)
    vectors = np.random.default_rng(0).normal(size=(len(texts), DIM)).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.perf_counter()
    for start in range(0, len(texts), 1000):
        ids = [f"c{i}" for i in range(start, min(len(texts), start + 1000))]
        metas = [
            ChunkMeta(doc_id=f"d{i // 15}", doc_hash="h", n_chunks=15, language="id", title=f"Arsip {i // 15}")
            for i in range(start, start + len(ids))
        ]
        store.upsert(ids, texts[start : start + len(ids)], vectors[start : start + len(ids)].tolist(), metas)
    return store, time.perf_counter() - started


def measure(label: str, settings: Settings, texts: list[str], questions: list[str], embedder: object) -> None:
    store, added = build_store(settings, texts, model_id(embedder))  # type: ignore[arg-type]
    retriever = Retriever(store, embedder)  # type: ignore[arg-type]
    tracemalloc.start()  # a first build for its memory (tracing slows it down) ...
    retriever.refresh()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    started = time.perf_counter()  # ... and a second for its time
    retriever.refresh()
    build = time.perf_counter() - started
    lexical = retriever._lexical
    assert lexical is not None
    print(f"\n{label}: {len(texts):,} chunks stored in {added:.0f} s")
    print(f"  BM25 build       {build:6.1f} s, peak {peak / 2**20:6.0f} MiB traced")
    rng = random.Random(1)
    asked = [rng.choice(questions) for _ in range(len(questions))]
    reads = [Query.read(q) for q in asked]
    vectors = [embedder.embed_query(q) for q in asked]  # type: ignore[attr-defined]
    bm25, dense, hybrid = [], [], []
    for read, vector in zip(reads, vectors, strict=True):
        t = time.perf_counter()
        lexical.bm25.search(list(read.tokens), 30)
        bm25.append(time.perf_counter() - t)
        t = time.perf_counter()
        store.query(vector, 30)
        dense.append(time.perf_counter() - t)
    for read in reads:
        t = time.perf_counter()
        retriever.retrieve(read, 4)
        hybrid.append(time.perf_counter() - t)
    print(f"  BM25 search      {ms(bm25)}")
    print(f"  dense search     {ms(dense)}")
    print(f"  hybrid retrieve  {ms(hybrid)}  (question embedding included)")
    extra = ChunkMeta(doc_id="new", doc_hash="h", n_chunks=1, language="id", title="Arsip baru")
    store.upsert(["new-0"], ["Candi Borobudur ada di Magelang."], [[1.0] + [0.0] * (DIM - 1)], [extra])
    during = []
    started = time.perf_counter()
    for read in reads[:20]:
        t = time.perf_counter()
        retriever.retrieve(read, 4)
        during.append(time.perf_counter() - t)
    retriever.settle()
    rebuilt = time.perf_counter() - started
    print(f"  during a rebuild {ms(during)}  (rebuild done {rebuilt:.1f} s after the change, beside the questions)")


@contextmanager
def chroma_server(path: Path) -> Iterator[int]:
    """A Chroma server on 127.0.0.1 keeping its data in ``path``; its port."""
    port = free_port()
    chroma = str(Path(sys.executable).with_name("chroma"))
    command = [chroma, "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path)]
    with running(command, f"http://127.0.0.1:{port}/api/v2/heartbeat", what="the Chroma server", seconds=60):
        yield port


def ingest_rate(texts: list[str], embedding_server: bool) -> None:
    embedder = make_embedder("multilingual-e5-small")
    started = time.perf_counter()
    embedder.embed_documents(texts)
    rate = len(texts) / (time.perf_counter() - started)
    print(f"\ningest, embedding {len(texts)} chunks: in-process e5  {rate:6.1f} chunks/s")
    if not embedding_server:
        return
    from convention_qa.answering.llm import bundled_model_path
    from convention_qa.corpus.remote_embeddings import RemoteEmbeddings

    port = free_port()
    model = bundled_model_path(ROOT / "data" / "models")
    command = [sys.executable, "-m", "convention_qa.answering.model_server", "--model", str(model), "--host",
               "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--embedding", "true", "--pooling", "mean",
               "--model_alias", "bundled"]  # fmt: skip
    with running(command, f"http://127.0.0.1:{port}/v1/models", what="the embeddings server"):
        for concurrency in (1, 4):
            remote = RemoteEmbeddings(f"http://127.0.0.1:{port}/v1", "bundled", batch=8, concurrency=concurrency)
            started = time.perf_counter()
            remote.embed_documents(texts)
            rate = len(texts) / (time.perf_counter() - started)
            print(f"  llama-cpp-python server here (bundled 1.5B GGUF), {concurrency} in flight  {rate:6.1f} chunks/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--passages", type=Path, default=ROOT.parent / "shared" / "eval-data")
    parser.add_argument("--chroma-server", action="store_true", help="also in a Chroma server on 127.0.0.1")
    parser.add_argument("--ingest", type=int, default=0, help="embed this many chunks to time the ingest rate")
    parser.add_argument("--embedding-server", action="store_true", help="with --ingest: also through a server")
    args = parser.parse_args()
    sentences, questions = sentences_of(args.passages)
    questions = random.Random(0).sample(questions, min(args.questions, len(questions)))
    embedder = make_embedder("multilingual-e5-small")
    for n in args.chunks:
        texts = chunk_texts(sentences, n)
        with tempfile.TemporaryDirectory() as tmp:
            measure("embedded Chroma", Settings(data_dir=Path(tmp)), texts, questions, embedder)
        if args.chroma_server:
            with tempfile.TemporaryDirectory() as tmp, chroma_server(Path(tmp)) as port:
                settings = Settings(data_dir=Path(tmp), chroma_host="127.0.0.1", chroma_port=port)
                measure("Chroma server", settings, texts, questions, embedder)
    if args.ingest:
        ingest_rate(chunk_texts(sentences, args.ingest, seed=2), args.embedding_server)


if __name__ == "__main__":
    main()
