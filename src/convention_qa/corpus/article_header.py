"""The article's header: one paragraph stating its title, outlet, URL, date and photo credits.

Metadata kept only on chunks is invisible to retrieval and to the model; as a paragraph of its
own (a chunk of kind "header") it can be retrieved, quoted and cited like any other fact.
"""

from __future__ import annotations

import datetime as dt
import re

from convention_qa.text import MONTHS

__all__ = ["article_header", "photo_credits"]

_CREDIT = re.compile(r"\((?:foto|photo|ảnh|image|gambar)\s*:\s*([^()]{1,80})\)", re.IGNORECASE)
# The header's labels: in the article's language, with English beside them, so that questions in
# either language (and, through the multilingual embedder, in Vietnamese) find the header.
_HEADER_LABELS = {
    "id": ("Judul artikel", "Artikel ini diterbitkan oleh", "Tanggal terbit artikel", "Foto dalam artikel oleh"),
    "vi": ("Tiêu đề bài báo", "Bài báo được đăng trên", "Ngày đăng bài báo", "Ảnh trong bài báo"),
}
_HEADER_EN = ("article title", "published by", "publication date", "photos by")


def photo_credits(paragraphs: list[tuple[str, str, int | None]]) -> list[str]:
    """Names credited for the photos ("(Foto: Thanh Long)"), in order of first appearance."""
    names: list[str] = []
    for text, _, _ in paragraphs:
        for match in _CREDIT.finditer(text):
            name = match.group(1).strip()
            if name and name not in names:
                names.append(name)
    return names


def _outlet(source: str) -> str:
    from urllib.parse import urlsplit

    host = urlsplit(source).hostname if "://" in source else None
    return host.removeprefix("www.") if host else source


def _spoken_date(value: str, language: str) -> str:
    try:
        day = dt.date.fromisoformat(value[:10])
    except ValueError:
        return value
    months = [name.capitalize() for name in MONTHS.get(language, MONTHS["en"])]
    if language == "vi":
        return f"ngày {day.day} tháng {day.month} năm {day.year} ({value})"
    return f"{day.day} {months[day.month - 1]} {day.year} ({value})"


def article_header(title: str, language: str, source: str | None, date: str | None, credits: list[str]) -> list[str]:
    """Short paragraphs that state the article's title, outlet and URL, date and photo credits.

    One fact a paragraph, each its own chunk, so a question about one of them finds a short,
    focused passage, and the header never crowds the body out of the evidence. Articles with
    nothing to say beyond their title (no source, date or credits) get none.
    """
    if not (source or date or credits):
        return []
    local = _HEADER_LABELS.get(language)

    def label(index: int) -> str:
        english = _HEADER_EN[index]
        return f"{local[index]} ({english})" if local else english[0].upper() + english[1:]

    lines = [f'{label(0)}: "{title}".']
    if source:
        outlet = _outlet(source)
        lines.append(f"{label(1)}: {outlet}" + (f", {source}." if outlet != source else "."))
    if date:
        lines.append(f"{label(2)}: {_spoken_date(date, language)}.")
    if credits:
        lines.append(f"{label(3)}: {', '.join(credits)}.")
    return lines
