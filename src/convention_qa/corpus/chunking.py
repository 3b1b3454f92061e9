"""Split a cleaned article into chunks along paragraph and sentence boundaries.

Each :class:`Chunk` is an exact span of ``Article.text``: ``article.text[chunk.start:chunk.end]
== chunk.text``. Whole paragraphs are packed together up to ``size`` characters; a paragraph too
long for one chunk is split between sentences, and the next chunk then repeats the last sentences
of the previous one (up to ``overlap`` characters). A sentence is cut only when it alone is longer
than ``size``. Photo captions and the article's header always stay chunks of their own.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from convention_qa.corpus.documents import Article, Block

__all__ = ["CHUNKER_VERSION", "Chunk", "split", "split_sentences"]

# Bump when the chunking rules change, so that existing indexes re-chunk their articles.
CHUNKER_VERSION = 3  # 3: articles open with header paragraphs (title, outlet, date, credits)

_ABBREVIATIONS = {
    "dr", "mr", "mrs", "ms", "prof", "no", "vs", "etc", "jl", "bpk", "ir", "drs", "st",
    "tn", "ny", "sdr", "dkk", "dll", "dsb", "u.s", "e.g", "i.e", "jr", "sr", "gen", "lt",
}  # fmt: skip
_SENTENCE_BREAK = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘]?[A-ZÀ-Ỹ0-9])")


@dataclass(frozen=True)
class Chunk:
    id: str
    doc_id: str
    text: str
    start: int  # character span in the cleaned article text
    end: int
    position: int  # 0-based order within the article
    kind: str = "paragraph"  # "paragraph", "caption" or "header"
    page: int | None = None


def split_sentences(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Sentence spans of ``text``, shifted by ``offset``."""
    spans = []
    start = 0
    for match in _SENTENCE_BREAK.finditer(text):
        before = text[start : match.start()].rstrip("\"'”’)]")
        last_word = before.rsplit(None, 1)[-1].rstrip(".").lower() if before.split() else ""
        if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
            continue
        end = len(text[: match.start()].rstrip())
        spans.append((offset + start, offset + end))
        start = match.end()
    if start < len(text.rstrip()):
        spans.append((offset + start, offset + len(text.rstrip())))
    return spans


def _cut_long(start: int, end: int, text: str, size: int) -> list[tuple[int, int]]:
    """Cut a span longer than ``size`` at whitespace, into pieces of at most ``size``."""
    pieces = []
    while end - start > size:
        cut = text.rfind(" ", start + 1, start + size + 1)
        if cut <= start:
            cut = start + size
        pieces.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        pieces.append((start, end))
    return pieces


def _units(article: Article, block: Block, size: int) -> list[tuple[int, int]]:
    if block.end - block.start <= size:
        return [(block.start, block.end)]
    units = []
    for start, end in split_sentences(article.text[block.start : block.end], block.start):
        units.extend(_cut_long(start, end, article.text, size))
    return units


def _chunk_id(doc_id: str, text: str) -> str:
    digest = hashlib.sha256(f"{doc_id}\x00{text}".encode()).hexdigest()[:16]
    return f"{doc_id}::{digest}"


def split(article: Article, size: int = 1000, overlap: int = 150) -> list[Chunk]:
    """Chunks of ``article``, in reading order, with stable content-derived ids."""
    if overlap >= size:
        raise ValueError("overlap must be smaller than size")
    spans: list[tuple[int, int, str, int | None]] = []
    current: list[tuple[int, int]] = []
    current_page: int | None = None

    def emit() -> None:
        if current:
            spans.append((current[0][0], current[-1][1], "paragraph", current_page))

    for block in article.blocks:
        if block.kind in ("caption", "header"):
            emit()
            current = []
            spans.extend((s, e, block.kind, block.page) for s, e in _units(article, block, size))
            continue
        units = _units(article, block, size)
        for index, unit in enumerate(units):
            if current and unit[1] - current[0][0] > size:
                emit()
                # Within a paragraph, carry the last sentences over; at a paragraph break, don't.
                carried: list[tuple[int, int]] = []
                if index > 0:
                    for prev in reversed(current[1:] if len(current) > 1 else []):
                        too_long = unit[1] - prev[0] > size or current[-1][1] - prev[0] > overlap
                        if too_long or prev[0] < block.start:
                            break
                        carried.insert(0, prev)
                current = carried
            if not current:
                current_page = block.page
            current.append(unit)
    emit()

    chunks = []
    seen: set[str] = set()
    for position, (start, end, kind, page) in enumerate(spans):
        text = article.text[start:end]
        chunk_id = _chunk_id(article.id, text)
        if chunk_id in seen:  # same text twice in one article: keep both, distinctly
            chunk_id = f"{chunk_id}-{position}"
        seen.add(chunk_id)
        chunks.append(Chunk(chunk_id, article.id, text, start, end, position, kind, page))
    return chunks
