"""Load article files (.md, .txt, .html, .pdf) and clean scraped-news noise out of them.

``load_article(path, root)`` returns an :class:`Article` whose ``text`` is the cleaned article and
whose ``blocks`` are the character spans of its paragraphs and photo captions. Anything that makes
a file unusable raises :class:`DocumentError` with the reason, so a caller can report it and go on.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from convention_qa.config import DEFAULT_MAX_FILE_BYTES
from convention_qa.corpus.article_header import article_header, photo_credits
from convention_qa.errors import DocumentError
from convention_qa.text import valid_text

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Article",
    "Block",
    "clean_lines",
    "detect_language",
    "load_article",
    "parse_article",
    "read_file",
    "size_problem",
]

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf")


@dataclass(frozen=True)
class Block:
    """A paragraph or a photo caption: a span of the cleaned article text."""

    start: int
    end: int
    kind: str = "paragraph"  # "paragraph", "caption" or "header" (what the article says about itself)
    page: int | None = None  # 1-based page number, PDFs only


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    text: str
    blocks: tuple[Block, ...]
    language: str
    source: str | None = None
    date: str | None = None
    path: str | None = None


# --- cleaning ---------------------------------------------------------------------------------

# Bounded repeats keep these linear in the line's length: unbounded ones backtrack over the
# rest of the line at every "[" (a 40 kB line of "![" took seconds, growing 4x per doubling).
_IMAGE = re.compile(r"!\[[^\]\n]{0,300}\]\([^)\n]{0,600}\)")
_LINK = re.compile(r"\[([^\]\n]{0,300})\]\([^)\n]{0,600}\)")
_ONLY_PIPES_OR_RULES = re.compile(r"^[\s|:\-=_*]*$")
_TABLE_ROW = re.compile(r"^\|(.*)\|?$")
_SOURCE_LINE = re.compile(r"^(?:sumber|source|nguồn|theo)\s*:\s*<?(https?://\S+?)>?\s*$", re.IGNORECASE)
_BOILERPLATE = re.compile(
    r"^(?:"
    r"(?:komentar|comments?|bình luận|ý kiến)\s*\(\d+\)"
    r"|(?:baca juga|lihat juga|read (?:also|more)|see also|xem thêm|tin liên quan)\b.*"
    r"|(?:bagikan|share(?: this)?|chia sẻ)\s*:?"
    r"|(?:tags?|topik|từ khóa)\s*:.*"
    r"|(?:advertisement|iklan|quảng cáo)"
    r")$",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?…:;\"'”’)\]]$")
_MIN_DEDUP_CHARS = 30


def _strip_inline_markup(line: str) -> str:
    line = _IMAGE.sub("", line)
    line = _LINK.sub(r"\1", line)
    line = re.sub(r"^#{1,6}\s+", "", line)
    line = line.replace("**", "").replace("__", "")
    return re.sub(r"\s+", " ", line).strip()


def clean_lines(lines: list[str]) -> tuple[list[tuple[str, str]], str | None]:
    """Turn raw lines into (text, kind) paragraphs and the "Sumber: URL" source, if any.

    Drops image markup, table rules, comment counters, "read also" lines and paragraphs that
    repeat an earlier one; keeps each table cell (a photo caption in scraped news) as a caption.
    """
    paragraphs: list[tuple[str, str]] = []
    source: str | None = None
    pending: list[str] = []

    def flush() -> None:
        if pending:
            paragraphs.append((" ".join(pending), "paragraph"))
            pending.clear()

    for raw in lines:
        line = raw.strip()
        if not line:
            flush()
            continue
        match = _SOURCE_LINE.match(line)
        if match:
            flush()
            source = source or match.group(1)
            continue
        row = _TABLE_ROW.match(line)
        if row or _ONLY_PIPES_OR_RULES.match(_IMAGE.sub("", line)):
            flush()
            if row:
                for cell in row.group(1).split("|"):
                    text = _strip_inline_markup(cell)
                    if text and not _ONLY_PIPES_OR_RULES.match(text):
                        paragraphs.append((text, "caption"))
            continue
        text = _strip_inline_markup(line)
        if not text or _BOILERPLATE.match(text):
            flush()
            continue
        # A hard-wrapped paragraph continues on the next line when the line does not end a
        # sentence and the next one starts in lower case.
        if pending and not _SENTENCE_END.search(pending[-1]) and text[:1].islower():
            pending.append(text)
        else:
            flush()
            pending.append(text)
    flush()
    return _drop_repeats(paragraphs), source


def _drop_repeats(paragraphs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    kept = []
    for text, kind in paragraphs:
        key = re.sub(r"\s+", " ", text).casefold()
        if len(key) >= _MIN_DEDUP_CHARS:
            if key in seen:
                log.debug("dropping repeated paragraph: %.60s", text)
                continue
            seen.add(key)
        kept.append((text, kind))
    return kept


def _assemble(
    paragraphs: list[tuple[str, str, int | None]],
) -> tuple[str, tuple[Block, ...]]:
    parts: list[str] = []
    blocks: list[Block] = []
    pos = 0
    for text, kind, page in paragraphs:
        if parts:
            pos += 2  # the "\n\n" separator
        blocks.append(Block(pos, pos + len(text), kind, page))
        parts.append(text)
        pos += len(text)
    return "\n\n".join(parts), tuple(blocks)


# --- language -------------------------------------------------------------------------------


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language ("id", "en", "vi", ...), or "und"."""
    from langdetect import DetectorFactory, LangDetectException, detect

    DetectorFactory.seed = 0  # deterministic
    try:
        return str(detect(text[:5000]))
    except LangDetectException:
        return "und"


# --- file formats ---------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise DocumentError("binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); re-save the file as UTF-8"
        ) from None


def _front_matter(text: str) -> tuple[dict[str, object], str]:
    match = re.match(r"^---[ \t]*\n(.*?)\n---[ \t]*(?:\n|$)", text, re.DOTALL)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise DocumentError(f"front matter is not valid YAML: {exc}".splitlines()[0]) from None
    if not isinstance(meta, dict):
        raise DocumentError("front matter must be a YAML mapping (key: value lines)")
    return meta, text[match.end() :]


def _first_heading(text: str) -> str | None:
    match = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
    return _strip_inline_markup(match.group(1)) if match else None


def _read_pdf(data: bytes) -> list[tuple[str, str, int | None]]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentError("PDF is encrypted; save an unencrypted copy")
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise DocumentError(f"not a readable PDF ({exc})") from None
    paragraphs: list[tuple[str, str, int | None]] = []
    for number, page_text in enumerate(pages, start=1):
        cleaned, _ = clean_lines(page_text.splitlines())
        paragraphs.extend((text, kind, number) for text, kind in cleaned)
    return paragraphs


def _stringify_date(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def size_problem(size: int, max_bytes: int) -> str | None:
    """Why a file of ``size`` bytes is refused, or None."""
    if size > max_bytes:
        return f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit (CONVENTION_QA_MAX_FILE_MB)"
    return None


def read_file(path: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """The file's bytes; DocumentError when it is too big (checked before reading), unreadable or empty."""
    try:
        problem = size_problem(path.stat().st_size, max_bytes)
        if problem:
            raise DocumentError(problem)
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read file: {exc.strerror or exc}") from None
    if not data.strip():
        raise DocumentError("empty file")
    return data


def load_article(path: Path, root: Path | None = None, *, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Article:
    """Read and clean one file. Raises DocumentError with the reason when it cannot be used."""
    return parse_article(read_file(path, max_bytes), path, root)


def parse_article(data: bytes, path: Path, root: Path | None = None) -> Article:
    """Clean the bytes of the file at ``path`` (its suffix says the format) into an Article.

    Whatever goes wrong inside a parser (an invalid date in front matter, a PDF that makes
    pypdf raise, HTML nested too deep) is a DocumentError naming the file's problem, so one bad
    file is reported and skipped and never stops an ingest.
    """
    try:
        return _parse(data, path, root)
    except DocumentError:
        raise
    except RecursionError:
        raise DocumentError("cannot be parsed: nested too deeply") from None
    except Exception as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise DocumentError(f"cannot be parsed ({type(exc).__name__}{': ' + detail if detail else ''})") from None


def _parse(data: bytes, path: Path, root: Path | None) -> Article:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(f"unsupported file type {suffix or '(none)'}; use one of {', '.join(SUPPORTED_SUFFIXES)}")

    meta: dict[str, object] = {}
    paragraphs: list[tuple[str, str, int | None]]
    title: str | None = None
    date: object = None
    source: str | None = None
    if suffix == ".pdf":
        paragraphs = _read_pdf(data)
    elif suffix in (".html", ".htm"):
        import trafilatura

        extracted = trafilatura.bare_extraction(
            _decode(data), with_metadata=True, include_comments=False, include_tables=False
        )
        body = getattr(extracted, "text", None) or ""
        title, date, source = (getattr(extracted, k, None) for k in ("title", "date", "url"))
        cleaned, line_source = clean_lines(body.splitlines())
        source = source or line_source
        paragraphs = [(text, kind, None) for text, kind in cleaned]
    else:
        meta, body = _front_matter(_decode(data))
        title = _first_heading(body)
        cleaned, source = clean_lines(body.splitlines())
        paragraphs = [(text, kind, None) for text, kind in cleaned]

    if not any(text.strip() for text, _, _ in paragraphs):
        raise DocumentError("no text left after cleaning (empty, or only markup)")
    relative = path.relative_to(root) if root is not None else Path(path.name)
    body = "\n\n".join(text for text, _, _ in paragraphs)
    title = str(meta.get("title") or title or relative.stem.replace("-", " ").replace("_", " "))
    language = str(meta.get("language") or meta.get("lang") or detect_language(body))
    source = str(meta.get("source") or meta.get("url") or source or "") or None
    date_text = _stringify_date(meta.get("date") or date)
    header = article_header(title, language, source, date_text, photo_credits(paragraphs))
    paragraphs[:0] = [(line, "header", None) for line in header]
    text, blocks = _assemble([(valid_text(t), kind, page) for t, kind, page in paragraphs])
    return Article(
        id=valid_text(str(meta.get("id") or relative.with_suffix("").as_posix())),
        title=valid_text(title),
        text=text,
        blocks=blocks,
        language=valid_text(language),
        source=valid_text(source) if source else None,
        date=valid_text(date_text) if date_text else None,
        path=relative.as_posix(),
    )
