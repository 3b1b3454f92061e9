from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from convention_qa.cli import Wiring, main
from convention_qa.config import Settings
from convention_qa.corpus.index import Store, open_store
from convention_qa.corpus.ingest import ingest
from convention_qa.errors import StoreError

from .conftest import ROOT, SEED_ARTICLE
from .fakes import HashingEmbeddings

WORDS = SEED_ARTICLE.read_text(encoding="utf-8").split()


def write_articles(folder: Path, count: int, seed: int = 0, paragraphs: int = 6) -> None:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        body = "\n\n".join(
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 120))) + "." for _ in range(paragraphs)
        )
        (folder / f"article-{i:03d}.md").write_text(f"# Article {i}\n\n{body}\n", encoding="utf-8")


def snapshot(store: Store) -> list[tuple[str, str, dict[str, Any]]]:
    return sorted(store.chunks())


def test_first_ingest_adds_the_corpus(store: Store, embedder: HashingEmbeddings, settings: Settings) -> None:
    report = ingest(store, embedder, settings)
    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 0, 0, 0)
    assert report.failed == []
    assert report.chunks == store.count() == len(embedder.embedded) > 5
    docs = store.documents()
    assert list(docs) == ["hanoi-convention-high-level-session"]
    meta = docs["hanoi-convention-high-level-session"].meta
    assert meta.source and meta.source.startswith("https://baoquocte.vn/")
    assert meta.language == "id"


def test_unchanged_corpus_embeds_nothing(store: Store, embedder: HashingEmbeddings, settings: Settings) -> None:
    ingest(store, embedder, settings)
    before = snapshot(store)
    embedder.embedded.clear()
    report = ingest(store, embedder, settings)
    assert embedder.embedded == []
    assert (report.added, report.updated, report.unchanged, report.embedded) == (0, 0, 1, 0)
    assert snapshot(store) == before


def test_changed_file_reembeds_only_new_chunks_and_drops_old(
    store: Store, embedder: HashingEmbeddings, settings: Settings, corpus: Path
) -> None:
    ingest(store, embedder, settings)
    old_ids = {cid for cid, _, _ in store.chunks()}
    path = next(corpus.iterdir())
    text = path.read_text(encoding="utf-8")
    edited = text.replace("lebih dari 60 delegasi", "lebih dari 70 delegasi")
    assert edited != text
    path.write_text(edited, encoding="utf-8")
    embedder.embedded.clear()
    report = ingest(store, embedder, settings)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 0)
    assert len(embedder.embedded) == 1 and "70 delegasi" in embedder.embedded[0]
    texts = [t for _, t, _ in store.chunks()]
    assert any("70 delegasi" in t for t in texts)
    assert not any("60 delegasi" in t for t in texts)
    assert len({cid for cid, _, _ in store.chunks()} - old_ids) == 1
    assert store.count() == len(old_ids)


def test_deleted_file_is_removed(store: Store, embedder: HashingEmbeddings, settings: Settings, corpus: Path) -> None:
    write_articles(corpus, 2)
    ingest(store, embedder, settings)
    (corpus / "article-000.md").unlink()
    report = ingest(store, embedder, settings)
    assert report.removed == 1
    assert "article-000" not in store.documents()
    assert set(store.documents()) == {"article-001", "hanoi-convention-high-level-session"}


def test_bad_files_are_reported_and_the_rest_ingested(
    store: Store, embedder: HashingEmbeddings, corpus: Path, tmp_path: Path
) -> None:
    (corpus / "empty.md").write_bytes(b"")
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02binary")
    (corpus / "latin1.txt").write_bytes("résumé of the convention".encode("latin-1"))
    (corpus / "huge.txt").write_text("x " * 600_000, encoding="utf-8")
    (corpus / "dangling.md").symlink_to(corpus / "missing-target.md")  # inside the corpus, but gone
    (corpus / ".hidden.md").write_text("ignored", encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=corpus, max_file_mb=1)
    report = ingest(store, embedder, settings)
    reasons = {f.path: f.error for f in report.failed}
    assert set(reasons) == {"empty.md", "binary.txt", "latin1.txt", "huge.txt", "dangling.md"}
    assert reasons["empty.md"] == "empty file"
    assert "binary" in reasons["binary.txt"]
    assert "UTF-8" in reasons["latin1.txt"]
    assert "MB limit" in reasons["huge.txt"]
    assert "cannot read" in reasons["dangling.md"]
    assert report.added == 1 and report.chunks > 0


def test_a_file_that_turns_bad_keeps_its_previous_chunks(
    store: Store, embedder: HashingEmbeddings, settings: Settings, corpus: Path
) -> None:
    ingest(store, embedder, settings)
    before = snapshot(store)
    next(corpus.iterdir()).write_bytes(b"\xff\xfe broken now")
    report = ingest(store, embedder, settings)
    assert len(report.failed) == 1 and report.removed == 0
    assert snapshot(store) == before


def test_rebuild_starts_over(settings: Settings, embedder: HashingEmbeddings) -> None:
    ingest(open_store(settings, embedder.model_id), embedder, settings)
    embedder.embedded.clear()
    store = open_store(settings, embedder.model_id, reset=True)
    assert store.count() == 0
    report = ingest(store, embedder, settings)
    assert report.added == 1 and len(embedder.embedded) == report.chunks


def test_two_embedders_never_share_a_collection(settings: Settings) -> None:
    first, second = (
        HashingEmbeddings(model_id="test/a"),
        HashingEmbeddings(dim=32, model_id="test/b"),
    )
    store_a = open_store(settings, first.model_id)
    ingest(store_a, first, settings)
    store_b = open_store(settings, second.model_id)
    assert store_b.name != store_a.name and store_b.count() == 0
    ingest(store_b, second, settings)
    assert store_a.count() == store_b.count()


def test_collection_built_by_another_embedder_is_refused(settings: Settings) -> None:
    from convention_qa.corpus.index import collection_name, make_client

    client = make_client(settings)
    client.create_collection(collection_name(settings.collection, "test/a"), metadata={"embedder": "other"})
    with pytest.raises(StoreError, match="ingest --rebuild"):
        open_store(settings, "test/a", client=client)


def test_duplicate_article_ids_are_reported(
    store: Store, embedder: HashingEmbeddings, settings: Settings, corpus: Path
) -> None:
    for name in ("a.md", "b.md"):
        (corpus / name).write_text("---\nid: same\n---\nSome text about the convention.\n", encoding="utf-8")
    report = ingest(store, embedder, settings)
    assert [f.path for f in report.failed] == ["b.md"]
    assert "already used by a.md" in report.failed[0].error


# --- crash safety ---------------------------------------------------------------------------


def _run_and_kill(data_dir: Path, corpus: Path, after_batches: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.ingest_runner", str(data_dir), str(corpus)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert proc.stdout is not None
    seen = 0
    for line in proc.stdout:
        assert line != "finished\n", "the ingest finished before it could be killed"
        seen += line.startswith("progress")
        if seen >= after_batches:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _full_snapshot(settings: Settings) -> tuple[list[Any], dict[str, list[float]]]:
    store = open_store(settings, HashingEmbeddings().model_id)
    return snapshot(store), store.vectors()


@pytest.mark.integration  # kills a real ingest process midway
@pytest.mark.parametrize("phase", ["first build", "update"])
def test_ingest_killed_midway_then_rerun_equals_a_clean_build(tmp_path: Path, phase: str) -> None:
    corpus = tmp_path / "corpus"
    write_articles(corpus, 24, seed=1)
    crashed = Settings(data_dir=tmp_path / "crashed", corpus_dir=corpus)
    if phase == "update":
        ingest(open_store(crashed, "test/hashing-64"), HashingEmbeddings(), crashed)
        write_articles(corpus, 24, seed=2)  # every article changes
        (corpus / "article-023.md").unlink()
    _run_and_kill(crashed.data_dir, corpus, after_batches=3)

    interrupted = open_store(crashed, "test/hashing-64").documents()
    assert any(not doc.is_complete("") for doc in interrupted.values())  # it really was mid-way

    report = ingest(open_store(crashed, "test/hashing-64"), HashingEmbeddings(), crashed)
    assert report.failed == []
    clean = Settings(data_dir=tmp_path / "clean", corpus_dir=corpus)
    ingest(open_store(clean, "test/hashing-64"), HashingEmbeddings(), clean)

    crashed_rows, crashed_vectors = _full_snapshot(crashed)
    clean_rows, clean_vectors = _full_snapshot(clean)
    assert crashed_rows == clean_rows
    assert crashed_vectors == clean_vectors
    ids = [row[0] for row in crashed_rows]
    assert len(ids) == len(set(ids))


# --- command line ---------------------------------------------------------------------------


def run_cli(args: list[str], settings: Settings, embedder: HashingEmbeddings) -> Any:
    wiring = Wiring(settings=settings, make_embedder=lambda name: embedder)
    return CliRunner().invoke(main, args, obj=wiring, catch_exceptions=False)


def test_cli_json_summary(settings: Settings, embedder: HashingEmbeddings, corpus: Path) -> None:
    (corpus / "empty.txt").write_text("", encoding="utf-8")
    result = run_cli(["ingest", "--json"], settings, embedder)
    assert result.exit_code == 1, "some files failed"
    summary = json.loads(result.stdout)
    assert set(summary) >= {
        "added",
        "updated",
        "removed",
        "unchanged",
        "failed",
        "chunks",
        "seconds",
    }
    assert summary["added"] == 1
    assert summary["failed"] == [{"path": "empty.txt", "error": "empty file"}]

    (corpus / "empty.txt").unlink()
    result = run_cli(["ingest"], settings, embedder)
    assert result.exit_code == 0
    assert "unchanged 1" in result.stdout and "removed 0" in result.stdout


def test_cli_rebuild_and_corpus_option(settings: Settings, embedder: HashingEmbeddings, tmp_path: Path) -> None:
    other = tmp_path / "other"
    write_articles(other, 3)
    result = run_cli(["ingest", "--corpus", str(other), "--json"], settings, embedder)
    assert json.loads(result.stdout)["added"] == 3
    result = run_cli(["ingest", "--corpus", str(other), "--rebuild", "--json"], settings, embedder)
    assert json.loads(result.stdout)["added"] == 3


def test_cli_missing_corpus_is_a_clear_error(settings: Settings, embedder: HashingEmbeddings, tmp_path: Path) -> None:
    result = run_cli(["ingest", "--corpus", str(tmp_path / "nope")], settings, embedder)
    assert result.exit_code == 2
    assert "corpus folder" in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.output


# --- at scale: pipelined, streamed, with progress ----------------------------------------------


def test_progress_says_chunks_rate_and_time_left(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write_articles(corpus, 12, seed=3)
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=corpus, embed_batch_size=8)
    heard: list[Any] = []
    report = ingest(
        open_store(settings, "test/hashing-64"), HashingEmbeddings(delay=0.02), settings, on_progress=heard.append
    )
    assert len(heard) >= 3
    assert [p.chunks for p in heard] == sorted(p.chunks for p in heard) and heard[-1].chunks == report.chunks
    last = heard[-1]
    assert last.files_done == last.files_total == 12 and last.bytes_done == last.bytes_total > 0
    assert last.embedded == report.embedded and last.rate > 0 and last.eta == 0
    middle = heard[len(heard) // 2]
    assert middle.eta is not None and middle.eta > 0
    assert "chunks/s" in middle.describe() and "left" in middle.describe() and "files" in middle.describe()


def test_files_are_read_while_the_previous_batch_embeds_and_only_a_few_batches_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader runs beside the embedder (pipelined) but never far ahead of it (memory stays
    flat in the corpus size, however many files there are)."""
    import importlib

    ingest_module = importlib.import_module("convention_qa.corpus.ingest")  # the module, not the function

    corpus = tmp_path / "corpus"
    write_articles(corpus, 300, seed=4, paragraphs=1)
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=corpus, embed_batch_size=2)
    reads: list[float] = []
    original = ingest_module.read_file
    monkeypatch.setattr(ingest_module, "read_file", lambda *a: reads.append(time.monotonic()) or original(*a))
    embedding = threading.Event()
    release = threading.Event()
    read_while_blocked: list[int] = []

    class Blocking(HashingEmbeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            if not embedding.is_set():  # the first batch waits until the reader has gone ahead
                embedding.set()
                release.wait(10)
                read_while_blocked.append(len(reads))
            return super().embed_documents(texts)

    def let_go() -> None:
        embedding.wait(10)
        time.sleep(1.0)  # time enough for the reader to read everything, were it unbounded
        release.set()

    threading.Thread(target=let_go, daemon=True).start()
    report = ingest(open_store(settings, "test/hashing-64"), Blocking(), settings)
    assert report.added == 300 and not report.failed
    assert read_while_blocked and 2 < read_while_blocked[0] < 300, f"read ahead: {read_while_blocked}"
    assert read_while_blocked[0] <= ingest_module._AHEAD * settings.embed_batch_size + 4
