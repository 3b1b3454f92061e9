"""Run an ingest with the slow fake embedder in a child process, so a test can kill -9 it.

Usage: python -m tests.ingest_runner DATA_DIR CORPUS_DIR
Prints "progress CHUNKS DESCRIPTION" after each written batch.
"""

from __future__ import annotations

import sys
from pathlib import Path

from convention_qa.config import Settings
from convention_qa.corpus.index import open_store
from convention_qa.corpus.ingest import ingest

from .fakes import HashingEmbeddings


def main() -> None:
    data_dir, corpus_dir = Path(sys.argv[1]), Path(sys.argv[2])
    settings = Settings(data_dir=data_dir, corpus_dir=corpus_dir, embed_batch_size=4)
    embedder = HashingEmbeddings(delay=0.15)
    store = open_store(settings, embedder.model_id)
    ingest(
        store, embedder, settings, on_progress=lambda now: print(f"progress {now.chunks} {now.describe()}", flush=True)
    )
    print("finished", flush=True)


if __name__ == "__main__":
    main()
