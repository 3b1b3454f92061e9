"""The Chroma collection that holds the chunks, embedded or on a Chroma server.

One collection per embedder: its name carries a slug of the embedder's ``model_id`` and its
metadata records the id itself, so vectors of two embedders never mix. Every chunk's metadata
carries the content hash of its article (``doc_hash``) and the article's chunk count
(``n_chunks``): together they are the manifest, kept in the store itself, so it can never
disagree with what the store holds, even after a crash.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from convention_qa.config import Settings
from convention_qa.contract import ChunkMeta, Hit, Row
from convention_qa.errors import StoreError

__all__ = ["Store", "StoredDoc", "collection_name", "make_client", "open_store"]

log = logging.getLogger(__name__)

_PAGE = 1000  # records per get() call when reading the whole collection


@dataclass
class StoredDoc:
    """What the store holds for one article."""

    doc_id: str
    chunk_ids: set[str] = field(default_factory=set)
    hashes: set[str] = field(default_factory=set)
    n_chunks: int = 0
    meta: ChunkMeta = field(default_factory=ChunkMeta)  # of one of its chunks: title, source, language, ...

    def is_complete(self, doc_hash: str) -> bool:
        """True when every chunk of the article's current version is stored, and nothing else."""
        return self.hashes == {doc_hash} and len(self.chunk_ids) == self.n_chunks


def collection_name(base: str, embedder_id: str) -> str:
    """A valid Chroma collection name (3-512 chars of [a-zA-Z0-9._-]) for base and embedder."""
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", embedder_id).strip("-._")[:40]
    digest = hashlib.sha256(embedder_id.encode()).hexdigest()[:8]
    return f"{re.sub(r'[^a-zA-Z0-9._-]+', '-', base).strip('-._') or 'articles'}-{slug}-{digest}"


def make_client(settings: Settings) -> Any:
    """An embedded PersistentClient, or an HttpClient when ``chroma_host`` is set."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        try:
            client = chromadb.HttpClient(
                host=settings.chroma_host,
                port=settings.chroma_port,
                ssl=settings.chroma_ssl,
                settings=chroma_settings,
            )
            client.heartbeat()
        except Exception as exc:
            raise StoreError(
                f"cannot reach the Chroma server at {settings.chroma_host}:{settings.chroma_port} "
                f"({exc}). Start it (`chroma run --host {settings.chroma_host} --port "
                f"{settings.chroma_port} --path DIR`) or unset CONVENTION_QA_CHROMA_HOST to use "
                "the embedded store."
            ) from None
        return client
    settings.chroma_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings)


class Store:
    """The chunks of one embedder's collection, with the manifest in their metadata."""

    def __init__(self, client: Any, collection: Any, embedder_id: str) -> None:
        self._client = client
        self._collection = collection
        self.embedder_id = embedder_id

    def revision(self) -> str:
        """Changes whenever the chunks change, in this process or another one."""
        fresh = self._client.get_collection(self._collection.name, embedding_function=None)
        return f"{(fresh.metadata or {}).get('revision', '')}:{fresh.count()}"

    def _bump_revision(self) -> None:
        self._collection.modify(metadata={"embedder": self.embedder_id, "revision": uuid.uuid4().hex})

    @property
    def name(self) -> str:
        return str(self._collection.name)

    def count(self) -> int:
        return int(self._collection.count())

    def _iter_records(self, include: list[str]) -> Iterator[Row]:
        offset = 0
        while True:
            page = self._collection.get(include=include, limit=_PAGE, offset=offset)
            if not page["ids"]:
                return
            yield from _rows(page)
            offset += len(page["ids"])

    def documents(self) -> dict[str, StoredDoc]:
        """The manifest: every stored article, with its chunk ids and content hashes."""
        docs: dict[str, StoredDoc] = {}
        for row in self._iter_records(["metadatas"]):
            doc = docs.get(row.meta.doc_id)
            if doc is None:
                doc = docs[row.meta.doc_id] = StoredDoc(row.meta.doc_id, meta=row.meta)
            doc.chunk_ids.add(row.id)
            doc.hashes.add(row.meta.doc_hash)
            doc.n_chunks = row.meta.n_chunks
        return docs

    def chunks(self) -> list[Row]:
        """Every stored chunk."""
        return list(self._iter_records(["metadatas", "documents"]))

    def texts(self) -> Iterator[tuple[str, str]]:
        """Every stored chunk's (id, text), a page at a time (no metadata is parsed)."""
        offset = 0
        while True:
            page = self._collection.get(include=["documents"], limit=_PAGE, offset=offset)
            if not page["ids"]:
                return
            yield from zip(page["ids"], [t or "" for t in page["documents"] or []], strict=True)
            offset += len(page["ids"])

    def rows(self, ids: Sequence[str]) -> list[Row]:
        """The stored chunks among ``ids`` (those deleted are left out), in no particular order."""
        if not ids:
            return []
        return list(_rows(self._collection.get(ids=list(ids), include=["metadatas", "documents"])))

    def vectors(self) -> dict[str, list[float]]:
        """Every stored chunk's vector, by chunk id."""
        result: dict[str, list[float]] = {}
        offset = 0
        while True:
            page = self._collection.get(include=["embeddings"], limit=_PAGE, offset=offset)
            if not page["ids"]:
                return result
            for cid, vector in zip(page["ids"], page["embeddings"], strict=True):
                result[cid] = [float(x) for x in vector]
            offset += len(page["ids"])

    def existing(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        return set(self._collection.get(ids=list(ids), include=[])["ids"])

    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        vectors: Sequence[Sequence[float]],
        metadatas: Sequence[ChunkMeta],
    ) -> None:
        if ids:
            self._collection.upsert(
                ids=list(ids),
                documents=list(texts),
                embeddings=[list(v) for v in vectors],
                metadatas=[m.to_store() for m in metadatas],
            )
            self._bump_revision()

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[ChunkMeta]) -> None:
        if ids:
            self._collection.update(ids=list(ids), metadatas=[m.to_store() for m in metadatas])
            self._bump_revision()

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        for start in range(0, len(ids), _PAGE):
            self._collection.delete(ids=ids[start : start + _PAGE])
        if ids:
            self._bump_revision()

    def query(self, vector: Sequence[float], k: int, where: dict[str, Any] | None = None) -> list[Hit]:
        """The ``k`` nearest chunks, best first."""
        n = min(k, self.count())
        if n <= 0:
            return []
        result = self._collection.query(
            query_embeddings=[list(vector)],
            n_results=n,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            Hit(cid, doc or "", ChunkMeta.model_validate(meta or {}), 1.0 - float(dist))
            for cid, doc, meta, dist in zip(
                result["ids"][0],
                result["documents"][0],
                result["metadatas"][0],
                result["distances"][0],
                strict=True,
            )
        ]


def _rows(page: Any) -> Iterator[Row]:
    """The rows of one ``get()`` reply (metadata or text left out of it read as empty)."""
    ids = page["ids"]
    metas = page.get("metadatas") or [{}] * len(ids)
    docs = page.get("documents") or [None] * len(ids)
    for chunk_id, meta, text in zip(ids, metas, docs, strict=True):
        yield Row(chunk_id, text or "", ChunkMeta.model_validate(meta or {}))


def open_store(settings: Settings, embedder_id: str, *, client: Any = None, reset: bool = False) -> Store:
    """Open (creating if needed) the collection for ``embedder_id``; ``reset`` empties it first."""
    client = client if client is not None else make_client(settings)
    name = collection_name(settings.collection, embedder_id)
    if reset:
        try:
            client.delete_collection(name)
        except Exception:
            log.debug("collection %s did not exist", name)
    collection = client.get_or_create_collection(
        name,
        configuration={"hnsw": {"space": "cosine"}},
        metadata={"embedder": embedder_id},
        embedding_function=None,
    )
    recorded = (collection.metadata or {}).get("embedder")
    if recorded != embedder_id:
        raise StoreError(
            f"collection {name!r} was built with embedder {recorded!r}, not {embedder_id!r}. "
            "Run `convention-qa ingest --rebuild` to rebuild it with the current embedder, or "
            "set CONVENTION_QA_COLLECTION to another name."
        )
    return Store(client, collection, embedder_id)
