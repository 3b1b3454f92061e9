"""Hostile and broken files: each one is refused with its reason, and nothing else is disturbed."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from convention_qa.config import Settings
from convention_qa.corpus.documents import clean_lines, parse_article
from convention_qa.corpus.index import Store
from convention_qa.corpus.ingest import ingest
from convention_qa.corpus.uploads import add_files, remove_document, safe_name
from convention_qa.errors import DocumentError

from .fakes import HashingEmbeddings

SEED_ID = "hanoi-convention-high-level-session"


def broken_files() -> dict[str, bytes]:
    """A corpus of files that have broken one parser or another."""
    return {
        "bad-date.md": b"---\ntitle: x\ndate: 2025-02-30\n---\nSome text about the convention.\n",
        "bad-time.md": b"---\ndate: 2025-10-26 25:61:00\n---\nSome text.\n",
        "list-front.md": b"---\n- a\n- b\n---\nText.\n",
        "tab-front.md": b"---\ntitle: [unclosed\n---\nText.\n",
        "typed-front.md": b"---\ntitle: !!python/object:os.system ls\n---\nText.\n",
        "number-id.md": b"---\nid: 12\ntitle: 3.5\nlanguage: 7\n---\nAngka sebagai metadata.\n",
        "surrogate.md": b'---\nid: "surrogate"\ntitle: "\\ud800 judul"\nsource: "\\udfff"\n---\nTeks &#xD800; biasa.\n',
        "binary.txt": bytes(range(256)) * 4,
        "nul.md": b"text\x00more",
        "garbage.pdf": b"%PDF-1.7\n" + os.urandom(2000),
        "truncated.pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Kids [3 0 R",
        "nested.html": b"<html><body>" + b"<div>" * 50_000 + b"deep" + b"</div>" * 50_000 + b"</body></html>",
        "long-line.md": b"![" * 40_000,
        "only-markup.md": b"![]() |\n| |\n",
    }


def test_no_broken_file_stops_an_ingest_or_costs_indexed_articles(
    store: Store, embedder: HashingEmbeddings, settings: Settings, corpus: Path
) -> None:
    ingest(store, embedder, settings)
    before = store.documents()[SEED_ID].chunk_ids
    for name, data in broken_files().items():
        (corpus / name).write_bytes(data)
    (corpus / "good.md").write_text("---\ntitle: Good\n---\nCandi Borobudur di Magelang.\n", encoding="utf-8")
    report = ingest(store, embedder, settings)
    failed = {f.path: f.error for f in report.failed}
    assert store.documents()[SEED_ID].chunk_ids == before, "nothing previously indexed is lost"
    assert "good" in store.documents() and report.added >= 1
    for name in ("bad-date.md", "bad-time.md", "list-front.md", "tab-front.md", "typed-front.md", "binary.txt"):
        assert failed.get(name), f"{name} is reported with a reason"
    assert "day is out of range" in failed["bad-date.md"] or "cannot be parsed" in failed["bad-date.md"]
    assert {"garbage.pdf", "truncated.pdf", "nul.md"} <= failed.keys()
    assert "number-id" not in failed and "12" in store.documents(), "odd but valid metadata is read as text"
    assert store.documents()["surrogate"].meta.title == "\ufffd judul", "escaped lone surrogates become U+FFFD"
    again = ingest(store, embedder, settings)
    assert {f.path for f in again.failed} == set(failed), "the same files fail the same way, nothing else"


def test_parser_crashes_of_any_type_are_per_file_failures(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import convention_qa.corpus.documents as documents

    for error in (AssertionError("x"), AttributeError("y"), NotImplementedError(), RecursionError()):

        def explode(data: bytes, error: BaseException = error) -> list[tuple[str, str, int | None]]:
            raise error

        monkeypatch.setattr(documents, "_read_pdf", explode)
        with pytest.raises(DocumentError, match="cannot be parsed"):
            parse_article(b"%PDF-1.4 whatever", tmp_path / "x.pdf")


def test_cleaning_a_worst_case_line_is_linear() -> None:
    # The old image/link patterns took about 26 s on these 40 kB lines (4x per doubling).
    started = time.perf_counter()
    for line in ("![" * 20_000, "[" * 40_000, "[a](" * 10_000, "![a](" * 8_000):
        clean_lines([line])
    assert time.perf_counter() - started < 5


def test_symlink_out_of_the_corpus_is_refused(
    store: Store, embedder: HashingEmbeddings, settings: Settings, corpus: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "outside" / "secret.md"
    secret.parent.mkdir()
    secret.write_text("Kata sandi server adalah hunter2.", encoding="utf-8")
    (corpus / "link.md").symlink_to(secret)
    report = ingest(store, embedder, settings)
    [failure] = report.failed
    assert failure.path == "link.md" and "outside the corpus" in failure.error
    assert all("hunter2" not in text for _, text, _ in store.chunks())


def test_a_delete_lasts(store: Store, embedder: HashingEmbeddings, settings: Settings, corpus: Path) -> None:
    (corpus / "sub").mkdir()
    (corpus / "sub" / "real.md").write_text("---\nid: real\n---\nDanau Toba di Sumatera.\n", encoding="utf-8")
    ingest(store, embedder, settings)
    assert remove_document("real", settings, store)
    ingest(store, embedder, settings)
    assert "real" not in store.documents(), "the next ingest does not bring it back"
    assert (settings.data_dir / "trash" / "sub" / "real.md").is_file()


def test_upload_cannot_take_a_corpus_article_id(store: Store, embedder: HashingEmbeddings, settings: Settings) -> None:
    squat = f"---\nid: {SEED_ID}\ntitle: Fake\n---\nKonvensi Hanoi ditandatangani oleh 3 negara.\n".encode()
    result = add_files([("aaa.md", squat)], settings, store, embedder)
    assert result.saved == [] and "already used by hanoi-convention-high-level-session.md" in result.rejected[0].error
    assert store.documents()[SEED_ID].meta.title != "Fake"
    assert not (settings.corpus_dir / "uploads" / "aaa.md").exists()


def test_bad_upload_is_refused_before_it_is_written(
    store: Store, embedder: HashingEmbeddings, settings: Settings
) -> None:
    bad = b"---\ndate: 2025-02-30\n---\nText.\n"
    result = add_files([("bad.md", bad)], settings, store, embedder)
    assert result.saved == [] and "cannot be parsed" in result.rejected[0].error
    assert not (settings.corpus_dir / "uploads").exists() or not any((settings.corpus_dir / "uploads").iterdir())
    good = add_files([("good.md", b"Candi Borobudur di Magelang, Jawa Tengah.")], settings, store, embedder)
    assert good.saved == ["uploads/good.md"] and "uploads/good" in store.documents(), "later uploads still work"


def test_upload_names_are_limited_in_bytes() -> None:
    name = safe_name("字" * 100 + ".md")
    assert name.endswith(".md") and len(name.encode("utf-8")) <= 130
    assert safe_name("a" * 300 + "." + "x" * 300).count(".") == 1
