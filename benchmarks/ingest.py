"""Ingest throughput against raw embedding throughput, peak memory, and index reopen time.

    python benchmarks/ingest.py [--sizes 100 1000] [--embedder multilingual-e5-small]

For each N, writes N synthetic articles built from the seed article's vocabulary, ingests them
into a fresh embedded index, then embeds the very same chunk texts with the bare embedder (same
batch size) in the same run, and prints chunks/s for both and the pipeline's overhead. Then
builds a 10,000-chunk index (random unit vectors: reopening does not depend on the embedder) and
times reopening it in a fresh process. Not a test: figures vary with the machine's load.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from convention_qa.config import Settings
from convention_qa.contract import ChunkMeta
from convention_qa.corpus.chunking import split
from convention_qa.corpus.documents import load_article
from convention_qa.corpus.embeddings import make_embedder, model_id
from convention_qa.corpus.index import open_store
from convention_qa.corpus.ingest import ingest, scan_corpus

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "corpus" / "hanoi-convention-high-level-session.md"


def write_corpus(folder: Path, count: int, seed: int = 7) -> None:
    words = load_article(SEED, SEED.parent).text.split()
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    for i in range(count):
        paragraphs = []
        for _ in range(rng.randint(2, 5)):
            sentences = [
                " ".join(rng.choice(words) for _ in range(rng.randint(8, 25))).capitalize() + "."
                for _ in range(rng.randint(2, 5))
            ]
            paragraphs.append(" ".join(sentences))
        body = "\n\n".join(paragraphs)
        (folder / f"article-{i:05d}.md").write_text(f"# Artikel {i}\n\n{body}\n", encoding="utf-8")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_ingest(count: int, embedder_name: str) -> dict[str, float]:
    embedder = make_embedder(embedder_name)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        write_corpus(corpus, count)
        settings = Settings(data_dir=Path(tmp) / "data", corpus_dir=corpus)
        store = open_store(settings, model_id(embedder))
        started = time.perf_counter()
        report = ingest(store, embedder, settings)
        pipeline_s = time.perf_counter() - started
        assert not report.failed, report.failed

        texts = [
            c.text
            for p in scan_corpus(corpus)
            for c in split(load_article(p, corpus), settings.chunk_size, settings.chunk_overlap)
        ]
        batch = settings.embed_batch_size
        started = time.perf_counter()
        for i in range(0, len(texts), batch):
            embedder.embed_documents(texts[i : i + batch])
        raw_s = time.perf_counter() - started
    return {
        "articles": count,
        "chunks": report.chunks,
        "pipeline_cps": report.chunks / pipeline_s,
        "raw_cps": len(texts) / raw_s,
        "overhead_pct": 100 * (pipeline_s - raw_s) / raw_s,
        "peak_rss_mb": peak_rss_mb(),
    }


def bench_long_line(kilobytes: int, embedder_name: str) -> dict[str, float]:
    """One article that is a single line of visible text (no paragraph or line breaks): the time
    to read and split it, and the ingest's chunks/s against bare embedding of the same chunks."""
    words = load_article(SEED, SEED.parent).text.split()
    rng = random.Random(kilobytes)
    line = ""
    while len(line.encode()) < kilobytes * 1000:
        line += " ".join(rng.choice(words) for _ in range(200)) + " "
    embedder = make_embedder(embedder_name)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        path = corpus / "one-line.txt"
        path.write_bytes(line.encode()[: kilobytes * 1000].decode(errors="ignore").encode())
        settings = Settings(data_dir=Path(tmp) / "data", corpus_dir=corpus)
        started = time.perf_counter()
        texts = [c.text for c in split(load_article(path, corpus), settings.chunk_size, settings.chunk_overlap)]
        split_s = time.perf_counter() - started
        store = open_store(settings, model_id(embedder))
        started = time.perf_counter()
        report = ingest(store, embedder, settings)
        pipeline_s = time.perf_counter() - started
        assert not report.failed, report.failed
        started = time.perf_counter()
        for i in range(0, len(texts), settings.embed_batch_size):
            embedder.embed_documents(texts[i : i + settings.embed_batch_size])
        raw_s = time.perf_counter() - started
    return {"kb": kilobytes, "chunks": len(texts), "split_s": split_s, "ingest_s": pipeline_s, "raw_s": raw_s}


REOPEN = textwrap.dedent(
    """
    import sys, time
    t0 = time.perf_counter()
    from convention_qa.config import Settings
    from convention_qa.corpus.index import open_store
    t1 = time.perf_counter()
    store = open_store(Settings(data_dir=sys.argv[1]), "bench/random-384")
    n = store.count()
    hits = store.query([1.0] + [0.0] * 383, k=5)
    t2 = time.perf_counter()
    print(n, len(hits), t1 - t0, t2 - t1)
    """
)


def bench_reopen(chunks: int = 10_000, runs: int = 5) -> dict[str, float]:
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        store = open_store(settings, "bench/random-384")
        rng = np.random.default_rng(0)
        for start in range(0, chunks, 1000):
            size = min(1000, chunks - start)
            vectors = rng.normal(size=(size, 384)).astype("float32")
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            ids = [f"c{start + i}" for i in range(size)]
            metas = [ChunkMeta(doc_id=f"d{(start + i) // 5}", doc_hash="h", n_chunks=5) for i in range(size)]
            store.upsert(ids, ["text " * 100] * size, vectors.tolist(), metas)
        del store
        imports, opens = [], []
        for _ in range(runs):
            out = subprocess.run(
                [sys.executable, "-c", REOPEN, tmp], capture_output=True, text=True, check=True
            ).stdout.split()
            assert int(out[0]) == chunks and int(out[1]) == 5
            imports.append(float(out[2]))
            opens.append(float(out[3]))
    return {"import_s": sorted(imports)[runs // 2], "open_query_s": sorted(opens)[runs // 2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--embedder", default="multilingual-e5-small")
    parser.add_argument("--reopen-chunks", type=int, default=10_000)
    parser.add_argument(
        "--long-line", type=int, nargs="*", default=[], metavar="KB", help="single-line articles of these sizes only"
    )
    args = parser.parse_args()
    if args.long_line:
        print(f"embedder: {args.embedder}")
        print("| single line | chunks | read + split s | ingest s | bare embedding s | ingest / embedding |")
        print("|---:|---:|---:|---:|---:|---:|")
        for kb in args.long_line:
            r = bench_long_line(kb, args.embedder)
            print(
                f"| {kb} kB | {r['chunks']:.0f} | {r['split_s']:.2f} | {r['ingest_s']:.1f} | {r['raw_s']:.1f} | "
                f"{r['ingest_s'] / r['raw_s']:.2f} |",
                flush=True,
            )
        return

    print(f"embedder: {args.embedder}")
    print("| articles | chunks | ingest chunks/s | raw embed chunks/s | overhead | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for count in args.sizes:
        r = bench_ingest(count, args.embedder)
        print(
            f"| {r['articles']:.0f} | {r['chunks']:.0f} | {r['pipeline_cps']:.1f} | "
            f"{r['raw_cps']:.1f} | {r['overhead_pct']:+.1f}% | {r['peak_rss_mb']:.0f} |",
            flush=True,
        )
    reopen = bench_reopen(args.reopen_chunks)
    print(
        f"\nreopen {args.reopen_chunks} chunks (median of 5 fresh processes): "
        f"open + count + first query {reopen['open_query_s']:.3f} s "
        f"(imports before that: {reopen['import_s']:.3f} s)"
    )


if __name__ == "__main__":
    main()
