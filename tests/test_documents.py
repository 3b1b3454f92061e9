from __future__ import annotations

from pathlib import Path

import pytest

from convention_qa.corpus.documents import clean_lines, detect_language, load_article
from convention_qa.errors import DocumentError

from .conftest import SEED_ARTICLE
from .pdf import make_pdf

SEED_BODY = SEED_ARTICLE.read_text(encoding="utf-8").split("---\n", 2)[2]
SEED_URL = "https://baoquocte.vn/phien-thao-luan-cap-cao-ve-cong-uoc-ha-noi"


def test_shipped_article_metadata_comes_from_front_matter() -> None:
    article = load_article(SEED_ARTICLE, SEED_ARTICLE.parent)
    assert article.id == "hanoi-convention-high-level-session"
    assert article.title.startswith("Sesi diskusi tingkat tinggi tentang Konvensi Hanoi")
    assert article.language == "id"
    assert article.date == "2025-10-26"
    assert article.source is not None and article.source.startswith(SEED_URL)


def test_seed_noise_is_cleaned(tmp_path: Path) -> None:
    raw = tmp_path / "seed.txt"
    raw.write_text(SEED_BODY, encoding="utf-8")  # no front matter: all from the text itself
    article = load_article(raw, tmp_path)
    assert "![" not in article.text and "|" not in article.text
    assert "Komentar" not in article.text
    body = "\n\n".join(article.text[b.start : b.end] for b in article.blocks if b.kind != "header")
    assert "Sumber" not in body and "https://" not in body
    assert article.source is not None and article.source.startswith(SEED_URL)
    assert article.language == "id"
    repeated = "Para delegasi sepakat bahwa adopsi Konvensi Hanoi"
    assert SEED_BODY.count(repeated) == 2
    assert article.text.count(repeated) == 1
    assert article.text.count("Banyak perwakilan internasional menyambut baik") == 1


def test_article_header_states_title_outlet_date_and_photo_credits() -> None:
    article = load_article(SEED_ARTICLE, SEED_ARTICLE.parent)
    lines = [article.text[b.start : b.end] for b in article.blocks if b.kind == "header"]
    assert [b.kind for b in article.blocks[:4]] == ["header"] * 4 and len(lines) == 4, "one fact a paragraph"
    header = "\n".join(lines)
    assert article.title in lines[0]
    assert "baoquocte.vn" in header and SEED_URL in header
    assert "26 Oktober 2025" in header and "2025-10-26" in header
    assert "Jackie Chan, Thanh Long, Gia Vu" in header, "each credited photographer once, in order"
    assert "diterbitkan oleh (published by): baoquocte.vn" in lines[1], "the outlet, then its URL"
    assert "(publication date)" in lines[2] and "(photos by)" in lines[3], "English labels beside Indonesian"


def test_article_without_metadata_gets_no_header(tmp_path: Path) -> None:
    path = tmp_path / "plain.md"
    path.write_text("---\ntitle: Plain\n---\nJust one paragraph of text.\n", encoding="utf-8")
    article = load_article(path, tmp_path)
    assert [b.kind for b in article.blocks] == ["paragraph"]


def test_captions_are_kept_as_their_own_blocks() -> None:
    article = load_article(SEED_ARTICLE, SEED_ARTICLE.parent)
    captions = [article.text[b.start : b.end] for b in article.blocks if b.kind == "caption"]
    assert len(captions) == 4
    assert captions[0].endswith("(Foto: Jackie Chan)")
    assert any("(Foto: Gia Vu)" in c for c in captions)
    paragraphs = [article.text[b.start : b.end] for b in article.blocks if b.kind == "paragraph"]
    assert not any("(Foto:" in p for p in paragraphs)


def test_block_spans_match_text() -> None:
    article = load_article(SEED_ARTICLE, SEED_ARTICLE.parent)
    joined = "\n\n".join(article.text[b.start : b.end] for b in article.blocks)
    assert joined == article.text


def test_hard_wrapped_lines_join_into_one_paragraph() -> None:
    paragraphs, _ = clean_lines(["The convention was signed", "by 69 countries.", "", "Next one."])
    assert paragraphs == [
        ("The convention was signed by 69 countries.", "paragraph"),
        ("Next one.", "paragraph"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sixty-nine countries signed the convention in Hanoi on Saturday morning.", "en"),
        (
            "Enam puluh sembilan negara menandatangani konvensi tersebut di Hanoi pada hari Sabtu.",
            "id",
        ),
        ("Sáu mươi chín quốc gia đã ký công ước tại Hà Nội vào sáng thứ Bảy.", "vi"),
    ],
)
def test_language_is_detected(text: str, expected: str) -> None:
    assert detect_language(text) == expected


def test_html_main_text_without_navigation_or_scripts(tmp_path: Path) -> None:
    page = tmp_path / "news.html"
    page.write_text(
        "<html><head><title>Konvensi Hanoi ditandatangani</title>"
        '<link rel="canonical" href="https://example.org/hanoi"></head><body>'
        "<nav><a href='/'>Beranda</a> | <a href='/x'>Olahraga</a></nav>"
        "<script>var tracking = 'secret';</script><article><h1>Konvensi Hanoi ditandatangani</h1>"
        "<p>Sebanyak 69 negara menandatangani Konvensi Hanoi tentang kejahatan siber "
        "pada 25 Oktober.</p>"
        "<p>Konvensi ini memiliki total 68 pasal yang mendorong kerja sama internasional.</p>"
        "</article><footer>Hak cipta 2025</footer></body></html>",
        encoding="utf-8",
    )
    article = load_article(page, tmp_path)
    assert "69 negara" in article.text and "68 pasal" in article.text
    assert "tracking" not in article.text and "Olahraga" not in article.text
    assert article.title == "Konvensi Hanoi ditandatangani"
    assert article.source == "https://example.org/hanoi"


def test_pdf_text_keeps_page_numbers(tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(
        make_pdf(
            [
                ["The Hanoi Convention was signed by 69 countries."],
                ["It has 68 articles in total."],
            ]
        )
    )
    article = load_article(pdf, tmp_path)
    pages = {article.text[b.start : b.end]: b.page for b in article.blocks}
    assert pages == {
        "The Hanoi Convention was signed by 69 countries.": 1,
        "It has 68 articles in total.": 2,
    }


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.md", b"", "empty file"),
        ("blank.txt", b"  \n\n ", "empty file"),
        ("image.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        ("latin1.txt", "Pernyataan résmi tentang konvensi".encode("latin-1"), "not UTF-8"),
        ("notes.docx", b"PK\x03\x04", "unsupported file type .docx"),
        ("broken.pdf", b"this is not a pdf at all", "not a readable PDF"),
        ("bad-front.md", b"---\ntitle: [unclosed\n---\nBody text here.", "front matter"),
        ("only-markup.md", b"![]() |\n| --- |\n", "no text left"),
    ],
)
def test_bad_files_raise_a_clear_reason(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DocumentError, match=reason):
        load_article(path, tmp_path)


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    path.write_text("Kalimat. " * 2000, encoding="utf-8")
    with pytest.raises(DocumentError, match=r"over the 0\.0 MB limit"):
        load_article(path, tmp_path, max_bytes=1000)


def test_unreadable_path_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "folder.md"
    folder.mkdir()
    with pytest.raises(DocumentError, match="cannot read file"):
        load_article(folder, tmp_path)
