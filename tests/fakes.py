"""Hand-written fakes: a deterministic embedder that needs no model."""

from __future__ import annotations

import hashlib
import math
import re
import time

from langchain_core.embeddings import Embeddings


class HashingEmbeddings(Embeddings):
    """Hashed bag of words: texts sharing words get similar unit vectors. Deterministic.

    Counts what it embeds, so tests can assert that an ingest embedded nothing.
    """

    def __init__(
        self, dim: int = 64, delay: float = 0.0, model_id: str = "test/hashing-64"
    ) -> None:
        self.dim = dim
        self.delay = delay
        self.model_id = model_id
        self.embedded: list[str] = []

    def _vector(self, text: str) -> list[float]:
        vec = [0.0] * self.dim
        for word in re.findall(r"\w+", text.lower()):
            digest = hashlib.md5(word.encode()).digest()
            vec[int.from_bytes(digest[:4], "little") % self.dim] += 1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        if norm == 1.0 and not any(vec):
            vec[0] = 1.0
        return [v / norm for v in vec]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if self.delay:
            time.sleep(self.delay)
        self.embedded.extend(texts)
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)
