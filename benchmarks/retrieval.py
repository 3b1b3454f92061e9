"""Retrieval quality on the shared eval sets: BM25, dense (each bundled embedder), hybrid, and the
pipeline a newcomer would copy from the LangChain docs, side by side in one run.

    python benchmarks/retrieval.py ../shared/eval-data [--sets idk_mrc_valid ...] [--cache DIR]

Each set's passages become a corpus (one article per passage) ingested with the project's own
code; the indexes are kept under --cache (default data/bench) so a second run embeds nothing.
Answerable questions only. A hit is the gold passage among the top-k distinct articles.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from convention_qa.answering.retrieval import Retriever
from convention_qa.config import Settings
from convention_qa.corpus.embeddings import make_embedder, model_id
from convention_qa.corpus.index import open_store
from convention_qa.corpus.ingest import ingest
from convention_qa.evaluation.datasets import EvalQuestion, read_jsonl_set, write_corpus

Ranker = Callable[[str], list[str]]  # question -> ranked distinct doc ids


def metrics(questions: list[EvalQuestion], rank: Ranker) -> dict[str, float]:
    r1 = r5 = mrr = 0.0
    for q in questions:
        ranked = rank(q.question)
        if ranked[:1] == [q.gold_pid]:
            r1 += 1
        if q.gold_pid in ranked[:5]:
            r5 += 1
        if q.gold_pid in ranked[:10]:
            mrr += 1 / (ranked.index(q.gold_pid) + 1)
    n = len(questions) or 1
    return {"R@1": r1 / n, "R@5": r5 / n, "MRR@10": mrr / n}


def distinct_docs(doc_ids: list[str]) -> list[str]:
    return list(dict.fromkeys(doc_ids))


def langchain_docs_ranker(corpus: Path) -> Ranker:
    """Chroma + MiniLM + RecursiveCharacterTextSplitter(1000, 200) + similarity_search(k=...)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_core.documents import Document

    try:
        from langchain_chroma import Chroma
        from langchain_text_splitters import RecursiveCharacterTextSplitter
    except ImportError:
        raise SystemExit("the baseline needs the bench extra: pip install -e '.[bench]'") from None

    docs = []
    for path in sorted(corpus.glob("*.md")):
        text = path.read_text(encoding="utf-8").split("---\n", 2)[2]
        docs.append(Document(page_content=text, metadata={"doc_id": path.stem}))
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    client = chromadb.EphemeralClient(settings=ChromaSettings(anonymized_telemetry=False))
    store = Chroma.from_documents(
        splits, make_embedder("all-MiniLM-L6-v2"), client=client, collection_name=f"lc-{corpus.parent.name}"
    )
    return lambda q: distinct_docs([d.metadata["doc_id"] for d in store.similarity_search(q, k=10)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("eval_data", type=Path)
    parser.add_argument("--sets", nargs="+", default=["idk_mrc_valid", "facqa_valid", "xling_en_dev"])
    parser.add_argument("--cache", type=Path, default=Path("data/bench"))
    parser.add_argument("--weights", type=float, nargs="+", default=[0.3], help="BM25 weights to try")
    args = parser.parse_args()

    print("| set | method | R@1 | R@5 | MRR@10 | ms/question |")
    print("|---|---|---:|---:|---:|---:|")
    for name in args.sets:
        passages, questions = read_jsonl_set(args.eval_data / name)
        questions = [q for q in questions if q.answerable]
        corpus = write_corpus(passages, args.cache / name / "corpus")
        rankers: dict[str, Ranker] = {}
        for embedder_name in ("multilingual-e5-small", "all-MiniLM-L6-v2"):
            embedder = make_embedder(embedder_name)
            settings = Settings(data_dir=args.cache / name / "data", corpus_dir=corpus)
            store = open_store(settings, model_id(embedder))
            report = ingest(store, embedder, settings)
            assert not report.failed, report.failed

            def ranker(retriever: Retriever) -> Ranker:
                def ranked_docs(question: str) -> list[str]:
                    return distinct_docs([p.doc_id for p in retriever.retrieve(question, k=10)])

                return ranked_docs

            short = "e5" if "e5" in embedder_name else "minilm"
            dense = Retriever(store, embedder, bm25_weight_same=0.0, bm25_weight_cross=0.0)
            rankers[f"dense {short}"] = ranker(dense)
            if short == "e5":
                rankers["bm25"] = ranker(Retriever(store, embedder, 1.0, 1.0))
                for weight in args.weights:
                    rankers[f"hybrid e5 (bm25 weight {weight})"] = ranker(Retriever(store, embedder, weight))
        rankers["langchain docs (minilm, 1000/200, k=5)"] = langchain_docs_ranker(corpus)
        for method, rank in rankers.items():
            rank(questions[0].question)  # warm-up: builds BM25, loads models
            started = time.perf_counter()
            result = metrics(questions, rank)
            ms = 1000 * (time.perf_counter() - started) / len(questions)
            print(
                f"| {name} | {method} | {result['R@1']:.3f} | {result['R@5']:.3f} | "
                f"{result['MRR@10']:.3f} | {ms:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
