from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from convention_qa.answering.retrieval import BM25, Retriever
from convention_qa.config import Settings
from convention_qa.corpus.index import Store
from convention_qa.corpus.ingest import ingest
from convention_qa.text import guess_language, tokenize

from .fakes import HashingEmbeddings


def test_tokenizer_stems_indonesian_and_drops_stop_words() -> None:
    assert tokenize("Para delegasi mengambil foto tersebut") == ["delegasi", "ambil", "foto"]
    assert "the" not in tokenize("The countries signed the convention")


def test_language_guess_on_short_questions() -> None:
    assert guess_language("Berapa negara yang menandatangani?") == "id"
    assert guess_language("How many countries signed it?") == "en"
    assert guess_language("Có bao nhiêu quốc gia đã ký?") == "vi"


def test_bm25_ranks_the_document_with_rare_terms_first() -> None:
    docs = [tokenize(t) for t in ["kucing makan ikan", "anjing makan tulang", "konvensi hanoi 68 pasal"]]
    index = BM25(docs)
    assert index.search(tokenize("berapa pasal konvensi"), 3)[0][0] == 2
    assert index.search(tokenize("zzz"), 3) == []


def test_hybrid_finds_a_passage_by_its_rare_word(store: Store, embedder: HashingEmbeddings, settings: Settings) -> None:
    ingest(store, embedder, settings)
    top = Retriever(store, embedder).retrieve("Siapa fotografer Jackie Chan?", k=3)
    assert "Jackie Chan" in top[0].text
    assert top[0].score >= top[-1].score


def test_bm25_side_is_refreshed_in_the_background_when_the_index_changes(
    store: Store, embedder: HashingEmbeddings, settings: Settings, corpus: Path
) -> None:
    ingest(store, embedder, settings)
    retriever = Retriever(store, embedder, bm25_weight_same=1.0)  # lexical only
    assert not any("Borobudur" in p.text for p in retriever.retrieve("candi Borobudur", k=3))
    (corpus / "new.md").write_text("---\nlanguage: id\n---\nCandi Borobudur ada di Magelang.\n", encoding="utf-8")
    ingest(store, embedder, settings)
    retriever.retrieve("candi Borobudur", k=3)  # answered from the index it has; a rebuild starts
    retriever.settle(30)
    top = retriever.retrieve("candi Borobudur", k=3)[0]
    assert "Borobudur" in top.text and top.lexical > 0, "the rebuilt index has the new article"


def test_bm25_is_not_rebuilt_for_every_question(
    store: Store, embedder: HashingEmbeddings, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest(store, embedder, settings)
    reads = []
    original = store.texts
    monkeypatch.setattr(store, "texts", lambda: reads.append(1) or original())
    retriever = Retriever(store, embedder)
    for question in ("Konvensi Hanoi", "Berapa pasal?", "Siapa fotografernya?"):
        retriever.retrieve(question, k=2)
    assert len(reads) == 1


def test_no_question_waits_for_a_bm25_rebuild(
    store: Store, embedder: HashingEmbeddings, settings: Settings, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild that takes seconds (as at 100,000 chunks) runs beside the questions: they keep the
    index they have, and never get a passage deleted since it was built."""
    from convention_qa.answering import retrieval

    (corpus / "gone.md").write_text("---\nlanguage: id\n---\nCandi Prambanan ada di Sleman.\n", encoding="utf-8")
    ingest(store, embedder, settings)
    retriever = Retriever(store, embedder, bm25_weight_same=1.0)
    assert "Prambanan" in retriever.retrieve("candi Prambanan", k=3)[0].text
    release = threading.Event()

    class SlowBM25(retrieval.BM25):
        def __init__(self, docs: Any) -> None:
            release.wait(30)  # a long rebuild, until the test lets it finish
            super().__init__(docs)

    monkeypatch.setattr(retrieval, "BM25", SlowBM25)
    (corpus / "gone.md").unlink()
    (corpus / "new.md").write_text("---\nlanguage: id\n---\nCandi Borobudur ada di Magelang.\n", encoding="utf-8")
    ingest(store, embedder, settings)
    started = time.monotonic()
    for question in ("candi Prambanan", "candi Borobudur", "Konvensi Hanoi"):
        assert not any("Prambanan" in p.text for p in retriever.retrieve(question, k=5)), "deleted: never returned"
    assert time.monotonic() - started < 5, "the questions did not wait for the rebuild"
    release.set()
    retriever.settle(30)
    top = retriever.retrieve("candi Borobudur", k=3)[0]
    assert "Borobudur" in top.text and top.lexical > 0


def test_near_duplicates_are_collapsed(
    store: Store, embedder: HashingEmbeddings, settings: Settings, corpus: Path
) -> None:
    text = "Konvensi Hanoi ditandatangani oleh 69 negara pada 25 Oktober di Hanoi, Vietnam."
    for name in ("copy-a.md", "copy-b.md"):
        (corpus / name).write_text(f"---\nlanguage: id\n---\n{text}\n", encoding="utf-8")
    ingest(store, embedder, settings)
    hits = Retriever(store, embedder).retrieve("69 negara 25 Oktober Hanoi", k=5)
    assert sum(p.text == text for p in hits) == 1


def test_cross_language_questions_ignore_bm25_by_default(
    store: Store, embedder: HashingEmbeddings, settings: Settings
) -> None:
    ingest(store, embedder, settings)
    retriever = Retriever(store, embedder)
    hits = retriever.retrieve("How many countries signed the Hanoi convention?", k=3)
    assert all(p.score == p.dense for p in hits)  # passages are Indonesian, the question English
    same = retriever.retrieve("Berapa negara menandatangani Konvensi Hanoi?", k=3)
    assert any(p.score != p.dense for p in same)
