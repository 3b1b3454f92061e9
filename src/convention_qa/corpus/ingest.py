"""Bring the store in line with the corpus folder: incremental, batch-embedded, pipelined, crash-safe.

For each file, a content hash (of its bytes and the chunking settings) is compared with the
hash stored on its chunks. Unchanged articles are skipped without being parsed; changed ones are
re-chunked, only chunks whose text is new are embedded, and chunks that are gone are deleted;
articles whose file is gone are removed. Every step is idempotent and an article counts as done
only when all its chunks carry the new hash, so a run killed at any point and run again resumes:
what was written is kept, and it ends in the same index as a clean build.

Files are read and split in a thread while the previous batch is embedded, a few batches ahead
at most, so memory stays flat in the corpus size; with an embeddings server a batch holds enough
chunks to keep ``EMBEDDER_CONCURRENCY`` requests in flight. Progress (``IngestProgress``) says
the chunks embedded, their rate, and an ETA from the share of the corpus's bytes read.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from convention_qa.config import Settings
from convention_qa.contract import ChunkMeta
from convention_qa.corpus.chunking import CHUNKER_VERSION, Chunk, split
from convention_qa.corpus.documents import Article, parse_article, read_file
from convention_qa.corpus.index import Store, StoredDoc
from convention_qa.corpus.progress import IngestProgress, Progress
from convention_qa.errors import ConfigError, DocumentError, StoreError

__all__ = [
    "UPLOAD_FOLDER",
    "Failure",
    "IngestReport",
    "ingest",
    "ingest_lock",
    "outside_problem",
    "scan_corpus",
]

UPLOAD_FOLDER = "uploads"  # CORPUS_DIR/uploads: files added through the UI and the API

log = logging.getLogger(__name__)

_AHEAD = 4  # batches read and split ahead of the one being embedded


@dataclass(frozen=True)
class Failure:
    path: str
    error: str


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: list[Failure] = field(default_factory=list)
    chunks: int = 0  # chunks in the store after the run
    embedded: int = 0  # chunks embedded by this run
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Pending:
    article: Article
    doc_hash: str
    chunks: list[Chunk]
    stale: set[str]  # stored chunk ids of this article that the new version does not have
    new: bool


def scan_corpus(corpus_dir: Path) -> list[Path]:
    """Every file under ``corpus_dir``, hidden files and folders excluded, in a stable order.

    Files the corpus ships come before uploads, so an upload can never take the article id of a
    corpus file (the later file with an id already in use is the one refused).
    """
    if not corpus_dir.is_dir():
        raise ConfigError(
            f"corpus folder {corpus_dir} does not exist: create it, or point "
            "CONVENTION_QA_CORPUS_DIR / --corpus at your articles"
        )
    found = [
        p
        for p in corpus_dir.rglob("*")
        if (p.is_file() or (p.is_symlink() and not p.is_dir()))
        and not any(part.startswith(".") for part in p.relative_to(corpus_dir).parts)
    ]
    return sorted(found, key=lambda p: (p.relative_to(corpus_dir).parts[0] == UPLOAD_FOLDER, p.as_posix()))


def outside_problem(path: Path, corpus_dir: Path) -> str | None:
    """Why a corpus entry is refused for pointing outside the corpus folder (a symlink), or None."""
    try:
        target = path.resolve(strict=False)
    except (OSError, RuntimeError):  # a symlink loop
        return "a symbolic link that cannot be resolved (a loop?)"
    if not target.is_relative_to(corpus_dir.resolve()):
        return "a symbolic link to a file outside the corpus folder; copy the file into the corpus instead"
    return None


@contextmanager
def ingest_lock(data_dir: Path) -> Iterator[None]:
    """Serialize ingests that share a data directory (CLI, UI and API uploads alike)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "ingest.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _content_hash(data: bytes, settings: Settings) -> str:
    digest = hashlib.sha256(data)
    digest.update(f"|chunker={CHUNKER_VERSION}|{settings.chunk_size}|{settings.chunk_overlap}".encode())
    return digest.hexdigest()


def _metadata(article: Article, chunk: Chunk, doc_hash: str, n_chunks: int) -> ChunkMeta:
    return ChunkMeta(
        doc_id=article.id,
        doc_hash=doc_hash,
        n_chunks=n_chunks,
        path=article.path or "",
        **{name: getattr(article, name) for name in ("title", "language", "source", "date")},
        **{name: getattr(chunk, name) for name in ("position", "start", "end", "kind", "page")},
    )


def _write(store: Store, embedder: Embeddings, group: list[_Pending]) -> int:
    """Embed the group's new chunks, write them, then drop what the new versions no longer have."""
    existing = store.existing([c.id for p in group for c in p.chunks])
    new_ids: list[str] = []
    new_texts: list[str] = []
    new_metas: list[ChunkMeta] = []
    kept_ids: list[str] = []
    kept_metas: list[ChunkMeta] = []
    for pending in group:
        for chunk in pending.chunks:
            meta = _metadata(pending.article, chunk, pending.doc_hash, len(pending.chunks))
            if chunk.id in existing:
                kept_ids.append(chunk.id)
                kept_metas.append(meta)
            else:
                new_ids.append(chunk.id)
                new_texts.append(chunk.text)
                new_metas.append(meta)
    vectors = embedder.embed_documents(new_texts) if new_texts else []
    store.upsert(new_ids, new_texts, vectors, new_metas)
    store.update_metadata(kept_ids, kept_metas)
    store.delete(sorted({cid for p in group for cid in p.stale}))
    return len(new_ids)


def _write_each_or_fail(
    store: Store, embedder: Embeddings, group: list[_Pending], report: IngestReport
) -> list[_Pending]:
    """Write a group in one go; if that fails, article by article, so that the one the store
    refuses is reported as failed (keeping what it had) and the others are written."""
    try:
        report.embedded += _write(store, embedder, group)
        return group
    except StoreError:
        raise  # the store itself is unreachable: nothing can be written
    except Exception:
        if len(group) == 1:
            raise
    written = []
    for item in group:
        try:
            report.embedded += _write(store, embedder, [item])
            written.append(item)
        except StoreError:
            raise
        except Exception as exc:
            path = item.article.path or item.article.id
            log.warning("could not write %s: %s", path, exc)
            report.failed.append(Failure(path, f"cannot be indexed ({type(exc).__name__}: {exc})"))
    return written


def ingest(
    store: Store,
    embedder: Embeddings,
    settings: Settings,
    *,
    corpus_dir: Path | None = None,
    on_progress: Progress | None = None,
) -> IngestReport:
    """Make ``store`` hold exactly the articles of the corpus folder; a bad file never stops it."""
    started = time.perf_counter()
    corpus_dir = corpus_dir or settings.corpus_dir
    report = IngestReport()
    stored = store.documents()
    paths = scan_corpus(corpus_dir)
    sizes = [_size(p) for p in paths]
    total_bytes = sum(sizes)
    reader = _Reader(paths, sizes, corpus_dir, stored, settings, report)
    batch = settings.embed_batch_size
    if settings.embedder_url:  # enough chunks a batch for every request in flight
        batch = max(batch, settings.embedder_batch * settings.embedder_concurrency)
    group: list[_Pending] = []
    state = {"chunks": 0, "bytes": 0, "files": 0}

    def flush() -> None:
        for written in _write_each_or_fail(store, embedder, group, report):
            if written.new:
                report.added += 1
            else:
                report.updated += 1
        state["chunks"] += sum(len(p.chunks) for p in group)
        group.clear()

    def tell() -> None:
        if on_progress:
            done, elapsed = (state["chunks"], report.embedded, state["files"]), time.perf_counter() - started
            on_progress(IngestProgress(*done, len(paths), state["bytes"], total_bytes, elapsed))

    for item, read_bytes in reader.items(ahead=_AHEAD * batch):
        state["files"] += 1
        state["bytes"] += read_bytes
        if item is not None:
            group.append(item)
        if sum(len(p.chunks) for p in group) >= batch:
            flush()
            tell()
    if group:
        flush()
    tell()

    failed_paths = {f.path for f in report.failed}
    for doc in stored.values():
        relative = doc.meta.path
        gone = relative not in reader.seen_paths
        if (gone or doc.doc_id not in reader.claimed) and relative not in failed_paths:
            store.delete(sorted(doc.chunk_ids))
            report.removed += 1 if gone else 0

    report.chunks = store.count()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class _Reader:
    """Reads, hashes and splits the corpus's files in a thread, a few batches ahead of the
    writer; ``items()`` yields each file's pending article (None when it is unchanged or failed)
    with the bytes it accounts for."""

    def __init__(
        self,
        paths: list[Path],
        sizes: list[int],
        corpus_dir: Path,
        stored: dict[str, StoredDoc],
        settings: Settings,
        report: IngestReport,
    ) -> None:
        self.paths, self.sizes, self.corpus_dir = paths, sizes, corpus_dir
        self.stored, self.settings, self.report = stored, settings, report
        self.by_path: dict[str, StoredDoc] = {d.meta.path: d for d in stored.values()}
        self.seen_paths: set[str] = set()
        self.claimed: dict[str, str] = {}  # doc id -> path of the file that has it this run

    def items(self, ahead: int) -> Iterator[tuple[_Pending | None, int]]:
        """Files read at most ``ahead`` ahead of the one the caller takes."""
        done: queue.Queue[tuple[_Pending | None, int] | BaseException | None] = queue.Queue(maxsize=max(1, ahead))
        stop = threading.Event()

        def produce() -> None:
            try:
                for path, size in zip(self.paths, self.sizes, strict=True):
                    if stop.is_set():
                        return
                    done.put((self._read(path), size))
                done.put(None)
            except BaseException as exc:  # handed to the writer, which raises it
                done.put(exc)

        thread = threading.Thread(target=produce, name="ingest-reader", daemon=True)
        thread.start()
        try:
            while (got := done.get()) is not None:
                if isinstance(got, BaseException):
                    raise got
                yield got
        finally:
            stop.set()
            while thread.is_alive():  # unblock a reader waiting on a full queue
                try:
                    done.get_nowait()
                except queue.Empty:
                    thread.join(0.05)

    def _read(self, path: Path) -> _Pending | None:
        rel = path.relative_to(self.corpus_dir).as_posix()
        self.seen_paths.add(rel)
        previous = self.by_path.get(rel)
        try:
            problem = outside_problem(path, self.corpus_dir)
            if problem:
                raise DocumentError(problem)
            data = read_file(path, self.settings.max_file_bytes)
            doc_hash = _content_hash(data, self.settings)
            if previous is not None and previous.is_complete(doc_hash):
                self.report.unchanged += 1
                self.claimed[previous.doc_id] = rel
                return None
            article = parse_article(data, path, self.corpus_dir)
            if article.id in self.claimed:
                raise DocumentError(f"article id {article.id!r} is already used by {self.claimed[article.id]}")
            chunks = split(article, self.settings.chunk_size, self.settings.chunk_overlap)
        except Exception as exc:  # DocumentError, or anything a parser let through: this file only
            reason = str(exc) if isinstance(exc, DocumentError) else f"cannot be ingested ({type(exc).__name__}: {exc})"
            log.warning("skipped %s: %s", rel, reason)
            self.report.failed.append(Failure(rel, reason))
            return None
        self.claimed[article.id] = rel
        ids = {c.id for c in chunks}
        stale: set[str] = set()
        for old in (self.stored.get(article.id), previous):  # same id, or same file under an old id
            if old is not None:
                stale |= old.chunk_ids - ids
        return _Pending(article, doc_hash, chunks, stale, new=previous is None and article.id not in self.stored)
