from __future__ import annotations

import pytest

from convention_qa.answering.assistant import Assistant
from convention_qa.answering.policy import Policy
from convention_qa.answering.retrieval import Retriever
from convention_qa.config import Settings
from convention_qa.corpus.index import Store
from convention_qa.corpus.uploads import add_files, safe_name
from convention_qa.web.ui_render import chat_text as _text
from convention_qa.web.ui_render import render_sources

from .fakes import HashingEmbeddings

BOROBUDUR = b"---\ntitle: Candi Borobudur\nlanguage: id\n---\nCandi Borobudur terletak di Magelang.\n"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd.md", "passwd.md"),
        ("..\\..\\win.txt", "win.txt"),
        (".hidden.md", "hidden.md"),
        ("Berita Hari Ini!.HTML", "Berita Hari Ini_.html"),
        ("/", "upload"),
    ],
)
def test_upload_names_cannot_escape_the_upload_folder(name: str, expected: str) -> None:
    assert safe_name(name) == expected


def test_upload_saves_good_files_rejects_bad_ones_and_indexes(
    settings: Settings, store: Store, embedder: HashingEmbeddings
) -> None:
    files = [
        ("borobudur.md", BOROBUDUR),
        ("notes.docx", b"PK\x03\x04"),
        ("empty.txt", b"   "),
        ("latin.txt", "caf\xe9".encode("latin-1")),
        ("../escape.md", b"Trying to get out of the folder, with enough text to index."),
    ]
    result = add_files(files, settings, store, embedder)
    assert sorted(result.saved) == ["uploads/borobudur.md", "uploads/escape.md"]
    reasons = {f.path: f.error for f in result.rejected}
    assert "unsupported file type .docx" in reasons["notes.docx"]
    assert reasons["empty.txt"] == "empty file"
    assert "UTF-8" in reasons["latin.txt"]
    assert not (settings.corpus_dir / "uploads" / "latin.txt").exists(), "an unreadable upload is taken back out"
    assert not (settings.corpus_dir.parent / "escape.md").exists()
    assert "uploads/borobudur" in store.documents()
    hits = Retriever(store, embedder).retrieve("Candi Borobudur Magelang", k=1)
    assert "Magelang" in hits[0].text


def test_same_name_different_content_keeps_both(settings: Settings, store: Store, embedder: HashingEmbeddings) -> None:
    add_files([("a.md", BOROBUDUR)], settings, store, embedder)
    again = add_files([("a.md", BOROBUDUR)], settings, store, embedder)
    other = add_files(
        [("a.md", b"Danau Toba ada di Sumatera Utara, danau vulkanik terbesar.")], settings, store, embedder
    )
    assert again.saved == ["uploads/a.md"] and other.saved == ["uploads/a-1.md"]
    assert (settings.corpus_dir / "uploads" / "a.md").read_bytes() == BOROBUDUR


def test_oversized_upload_is_refused(settings: Settings, store: Store, embedder: HashingEmbeddings) -> None:
    small = settings.model_copy(update={"max_file_mb": 0.001})
    result = add_files([("big.txt", b"kata " * 1000)], small, store, embedder)
    assert result.saved == [] and "MB limit" in result.rejected[0].error


def test_gradio_message_content_in_any_shape() -> None:
    assert _text("plain") == "plain"
    assert _text([{"type": "text", "text": "Berapa"}, {"type": "text", "text": "pasal?"}]) == "Berapa pasal?"
    assert _text(None) == ""


def test_sources_panel_highlights_the_supporting_sentence(
    store: Store, embedder: HashingEmbeddings, settings: Settings
) -> None:
    from convention_qa.corpus.ingest import ingest

    ingest(store, embedder, settings)
    answer = Assistant(Retriever(store, embedder)).ask("Berapa negara yang menandatangani Konvensi Hanoi?")
    panel = render_sources(answer)
    assert "<mark>" in panel and "69 negara menandatangani" in panel.split("<mark>")[1]
    assert "href='https://baoquocte.vn/" in panel
    abstained = Assistant(Retriever(store, embedder), policy=Policy(floor_same=1.1, floor_cross=1.1)).ask(
        "Siapa juara dunia?"
    )
    assert "No answer in the articles" in render_sources(abstained)
    assert "Confidence" not in panel, "an answer no check has judged states no confidence"
    assert "Confidence 82%" in render_sources(answer.model_copy(update={"confidence": 0.82}))
