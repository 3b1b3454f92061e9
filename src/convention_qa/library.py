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
from convention_qa.documents import SUPPORTED_SUFFIXES, size_problem
from convention_qa.index import Store
from convention_qa.ingest import Failure, IngestReport, ingest, ingest_lock

__all__ = ["UPLOAD_FOLDER", "UploadResult", "add_files", "remove_document", "safe_name"]

log = logging.getLogger(__name__)

UPLOAD_FOLDER = "uploads"


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
    stem = stem[:100] or "upload"
    return f"{stem}.{suffix.lower()}" if suffix else stem


def _check(name: str, data: bytes, max_bytes: int) -> str | None:
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        return f"unsupported file type {suffix or '(none)'}; upload {', '.join(SUPPORTED_SUFFIXES)}"
    if not data.strip():
        return "empty file"
    return size_problem(len(data), max_bytes)


def _write_new(folder: Path, name: str, data: bytes) -> Path:
    """Write under a name not taken by another file (same content: reuse it)."""
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in range(1000):
        candidate = folder / (name if n == 0 else f"{stem}-{n}{suffix}")
        if candidate.exists():
            if candidate.read_bytes() == data:
                return candidate
            continue
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, candidate)
        return candidate
    raise OSError(f"too many files named like {name}")


def add_files(files: list[tuple[str, bytes]], settings: Settings, store: Store, embedder: Embeddings) -> UploadResult:
    """Save acceptable files into CORPUS_DIR/uploads and ingest the corpus; report the rest."""
    result = UploadResult()
    folder = settings.corpus_dir / UPLOAD_FOLDER
    max_bytes = int(settings.max_file_mb * 1_000_000)
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
        for name, data in accepted:
            path = _write_new(folder, name, data)
            result.saved.append(path.relative_to(settings.corpus_dir).as_posix())
        result.report = ingest(store, embedder, settings)
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
        relative = str(doc.meta.get("path", ""))
        source = (settings.corpus_dir / relative).resolve()
        corpus = settings.corpus_dir.resolve()
        if relative and source.is_relative_to(corpus) and source.is_file():
            trash = settings.data_dir / "trash" / relative
            trash.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, _free_path(trash))
        store.delete(sorted(doc.chunk_ids))
    return True


def _free_path(path: Path) -> Path:
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate
