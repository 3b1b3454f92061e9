"""Add uploaded files to the corpus folder and index them with the ingest code (UI and API alike)."""

from __future__ import annotations

import logging
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.embeddings import Embeddings

from convention_qa.config import Settings
from convention_qa.corpus.documents import SUPPORTED_SUFFIXES, parse_article, size_problem
from convention_qa.corpus.index import Store
from convention_qa.corpus.ingest import UPLOAD_FOLDER, Failure, IngestReport, ingest, ingest_lock
from convention_qa.corpus.progress import Progress
from convention_qa.errors import DocumentError

__all__ = ["UPLOAD_FOLDER", "UploadResult", "add_files", "remove_document", "safe_name"]

log = logging.getLogger(__name__)

MAX_NAME_BYTES = 120  # file systems allow 255 bytes a name; leave room for "-N" and a suffix


@dataclass
class UploadResult:
    saved: list[str] = field(default_factory=list)  # paths relative to the corpus folder
    rejected: list[Failure] = field(default_factory=list)
    report: IngestReport | None = None


def safe_name(name: str) -> str:
    """A file name that stays inside the upload folder: no folders, no dots in front, plain chars."""
    base = unicodedata.normalize("NFKC", name).replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[^\w.\- ]+", "_", base).strip(" .")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = stem.encode("utf-8")[:MAX_NAME_BYTES].decode("utf-8", "ignore").strip(" .") or "upload"
    suffix = suffix.encode("utf-8")[:16].decode("utf-8", "ignore")
    return f"{stem}.{suffix.lower()}" if suffix else stem


def _check(name: str, data: bytes, max_bytes: int) -> str | None:
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        return f"unsupported file type {suffix or '(none)'}; upload {', '.join(SUPPORTED_SUFFIXES)}"
    if not data.strip():
        return "empty file"
    problem = size_problem(len(data), max_bytes)
    if problem:
        return problem
    try:  # a file that cannot be read is refused before it is ever written into the corpus
        parse_article(data, Path(name))
    except DocumentError as exc:
        return str(exc)
    return None


def _write_new(folder: Path, name: str, data: bytes) -> tuple[Path, bool]:
    """Write under a name not taken by another file (same content: reuse it); (path, created)."""
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in range(1000):
        candidate = folder / (name if n == 0 else f"{stem}-{n}{suffix}")
        if candidate.exists():
            if candidate.read_bytes() == data:
                return candidate, False
            continue
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, candidate)
        return candidate, True
    raise OSError(f"too many files named like {name}")


def add_files(
    files: list[tuple[str, bytes]],
    settings: Settings,
    store: Store,
    embedder: Embeddings,
    *,
    on_progress: Progress | None = None,
) -> UploadResult:
    """Save acceptable files into CORPUS_DIR/uploads and ingest the corpus; report the rest
    (``on_progress`` hears how the ingest goes)."""
    result = UploadResult()
    folder = settings.corpus_dir / UPLOAD_FOLDER
    max_bytes = settings.max_file_bytes
    accepted = []
    for original, data in files:
        name = safe_name(original)
        problem = _check(name, data, max_bytes)
        if problem:
            result.rejected.append(Failure(original, problem))
        else:
            accepted.append((name, data))
    if not accepted:
        return result
    with ingest_lock(settings.data_dir):
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        try:
            for name, data in accepted:
                path, created = _write_new(folder, name, data)
                if created:
                    written.append(path)
                result.saved.append(path.relative_to(settings.corpus_dir).as_posix())
            result.report = ingest(store, embedder, settings, on_progress=on_progress)
        except BaseException:  # nothing half-added stays behind in the corpus
            for path in written:
                path.unlink(missing_ok=True)
            raise
    failed = {f.path: f.error for f in result.report.failed}
    for saved in list(result.saved):
        if saved in failed:  # saved but unreadable: take it back out of the corpus
            (settings.corpus_dir / saved).unlink(missing_ok=True)
            result.saved.remove(saved)
            result.rejected.append(Failure(Path(saved).name, failed[saved]))
    return result


def remove_document(doc_id: str, settings: Settings, store: Store) -> bool:
    """Take an article out of the index and its file out of the corpus; False if there is none.

    The file is moved to DATA_DIR/trash/ rather than deleted, so a mistake can be undone by moving
    it back and running ingest.
    """
    with ingest_lock(settings.data_dir):
        doc = store.documents().get(doc_id)
        if doc is None:
            return False
        relative = doc.meta.path
        entry = settings.corpus_dir / relative  # a symlink is moved itself, never its target
        corpus = settings.corpus_dir.resolve()
        if relative and entry.parent.resolve().is_relative_to(corpus) and (entry.is_file() or entry.is_symlink()):
            trash = settings.data_dir / "trash" / relative
            trash.parent.mkdir(parents=True, exist_ok=True)
            os.replace(entry, _free_path(trash))  # gone from the corpus, so the next ingest keeps it gone
        store.delete(sorted(doc.chunk_ids))
    return True


def _free_path(path: Path) -> Path:
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate
