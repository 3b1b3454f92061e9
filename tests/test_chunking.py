from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convention_qa.corpus.chunking import split, split_sentences
from convention_qa.corpus.documents import Article, Block, load_article

from .conftest import SEED_ARTICLE


def make_article(paragraphs: list[str], doc_id: str = "doc", kinds: list[str] | None = None) -> Article:
    text = "\n\n".join(paragraphs)
    blocks, pos = [], 0
    for i, paragraph in enumerate(paragraphs):
        blocks.append(Block(pos, pos + len(paragraph), (kinds or [])[i] if kinds else "paragraph"))
        pos += len(paragraph) + 2
    return Article(doc_id, "Title", text, tuple(blocks), "en")


SENTENCES = [f"Sentence number {i} says something about the convention." for i in range(40)]


def test_chunks_are_exact_spans_of_the_article() -> None:
    article = load_article(SEED_ARTICLE, SEED_ARTICLE.parent)
    for size in (200, 500, 1000, 3000):
        for chunk in split(article, size, min(150, size // 2)):
            assert article.text[chunk.start : chunk.end] == chunk.text
            assert len(chunk.text) <= size


def test_long_paragraph_splits_between_sentences_with_overlap() -> None:
    article = make_article([" ".join(SENTENCES)])
    chunks = split(article, size=300, overlap=120)
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.text.startswith("Sentence number ")
        assert chunk.text.endswith("convention.")
    for before, after in pairwise(chunks):
        assert after.start < before.end, "consecutive chunks of one paragraph overlap"
        assert before.end - after.start <= 120


def test_no_overlap_across_paragraph_breaks() -> None:
    article = make_article(SENTENCES[:10])  # ten one-sentence paragraphs
    chunks = split(article, size=200, overlap=100)
    for before, after in pairwise(chunks):
        assert after.start > before.end


def test_only_an_oversized_sentence_is_cut() -> None:
    long_sentence = "word " * 150 + "end."
    article = make_article([f"Short one. {long_sentence.strip()} Last one."])
    chunks = split(article, size=200, overlap=0)
    assert chunks[0].text.startswith("Short one.")
    assert all(len(c.text) <= 200 for c in chunks)
    assert chunks[-1].text.endswith("Last one.")


def test_captions_stay_alone() -> None:
    article = make_article(
        ["First paragraph.", "A photo caption. (Photo: Someone)", "Second paragraph."],
        kinds=["paragraph", "caption", "paragraph"],
    )
    chunks = split(article, size=1000, overlap=0)
    assert [c.kind for c in chunks] == ["paragraph", "caption", "paragraph"]
    assert chunks[1].text == "A photo caption. (Photo: Someone)"


def test_ids_are_stable_and_depend_on_article_and_content() -> None:
    article = load_article(SEED_ARTICLE, SEED_ARTICLE.parent)
    first = [c.id for c in split(article)]
    assert first == [c.id for c in split(load_article(SEED_ARTICLE, SEED_ARTICLE.parent))]
    assert len(set(first)) == len(first)
    other = Article("other", article.title, article.text, article.blocks, "id")
    assert not set(first) & {c.id for c in split(other)}
    assert [c.position for c in split(article)] == list(range(len(first)))


def test_sentence_splitter_keeps_abbreviations_together() -> None:
    text = "Dr. Tung spoke first. Then Mr. Vu spoke. The end."
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "Dr. Tung spoke first.",
        "Then Mr. Vu spoke.",
        "The end.",
    ]


def test_overlap_must_be_smaller_than_size() -> None:
    with pytest.raises(ValueError, match="overlap"):
        split(make_article(["x"]), size=100, overlap=100)


words = st.sampled_from(["Konvensi", "Hanoi", "negara", "siber.", "pasal", "kerja", "sama.", "Vietnam!"])
paragraph = st.lists(words, min_size=1, max_size=120).map(" ".join)


@settings(max_examples=60, deadline=None)
@given(st.lists(paragraph, min_size=1, max_size=8), st.integers(100, 600))
def test_every_word_lands_in_some_chunk(paragraphs: list[str], size: int) -> None:
    article = make_article(paragraphs)
    chunks = split(article, size=size, overlap=size // 4)
    covered = [False] * len(article.text)
    for chunk in chunks:
        assert article.text[chunk.start : chunk.end] == chunk.text
        assert 0 < len(chunk.text) <= size
        for i in range(chunk.start, chunk.end):
            covered[i] = True
    assert all(covered[i] for i, ch in enumerate(article.text) if not ch.isspace())
