"""Embeddings from a server: any OpenAI-compatible ``/v1/embeddings`` endpoint
(text-embeddings-inference, vLLM, Infinity, Ollama, llama.cpp's server), through LangChain's own
client (``langchain_openai.OpenAIEmbeddings``). Set ``CONVENTION_QA_EMBEDDER_URL``; ``EMBEDDER``
then names the model on that server.

- The index records ``openai/MODEL`` as the embedder, so vectors of another model (or of the
  bundled one) never share a collection with these.
- e5 models read ``query: `` and ``passage: `` prefixes; a server does not add them, so they are
  added here when the model's name says e5 (``EMBEDDER_PREFIXES=auto``), always (``e5``) or
  never (``none``).
- Texts are cut as for the bundled model, sent ``EMBEDDER_BATCH`` to a request with
  ``EMBEDDER_CONCURRENCY`` requests in flight, and every vector is L2-normalized (the index
  compares by cosine).
- A server that cannot be reached, or answers with something that is not one vector per text,
  is an ``EmbedderError`` that names the URL.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from langchain_core.embeddings import Embeddings

from convention_qa.config import Settings
from convention_qa.corpus.embeddings import fit_input
from convention_qa.errors import EmbedderError

__all__ = ["RemoteEmbeddings", "e5_prefixes"]


def e5_prefixes(model: str, mode: str) -> tuple[str, str]:
    """(query prefix, passage prefix) for a model name and the ``EMBEDDER_PREFIXES`` setting."""
    e5 = mode == "e5" or (mode == "auto" and "e5" in model.lower().replace("_", "-").split("/")[-1])
    return ("query: ", "passage: ") if e5 else ("", "")


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else vector


class RemoteEmbeddings(Embeddings):
    """A model on an OpenAI-compatible embeddings server (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        prefixes: str = "auto",
        batch: int = 32,
        concurrency: int = 4,
        timeout: float = 120.0,
    ) -> None:
        from langchain_openai import OpenAIEmbeddings

        self.base_url, self.model = base_url.rstrip("/"), model
        self.model_id = f"openai/{model}"
        self._query_prefix, self._passage_prefix = e5_prefixes(model, prefixes)
        self.batch, self.concurrency = max(1, batch), max(1, concurrency)
        self._client = OpenAIEmbeddings(
            model=model,
            base_url=self.base_url,
            api_key=api_key or "unused",  # type: ignore[arg-type]
            check_embedding_ctx_length=False,  # send text, not tiktoken ids: the server tokenizes
            chunk_size=self.batch,
            max_retries=2,
            timeout=timeout,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> RemoteEmbeddings:
        assert settings.embedder_url is not None
        return cls(
            settings.embedder_url,
            settings.embedder,
            api_key=settings.embedder_api_key,
            prefixes=settings.embedder_prefixes,
            batch=settings.embedder_batch,
            concurrency=settings.embedder_concurrency,
        )

    def _request(self, texts: list[str]) -> list[list[float]]:
        try:
            vectors: Any = self._client.embed_documents(texts)
        except Exception as exc:  # the client raises connection, status and parsing errors alike
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise EmbedderError(
                f"the embeddings server at {self.base_url} failed for model {self.model!r} ({reason}). "
                "Check CONVENTION_QA_EMBEDDER_URL and EMBEDDER, or unset EMBEDDER_URL to embed in-process"
            ) from None
        if len(vectors) != len(texts) or any(
            not vector or not all(isinstance(x, int | float) for x in vector) for vector in vectors
        ):
            raise EmbedderError(
                f"the embeddings server at {self.base_url} did not send one vector per text for {self.model!r} "
                "(a llama.cpp server needs pooling on: it sends one vector per token without it)"
            )
        return [_unit([float(x) for x in vector]) for vector in vectors]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        prepared = [self._passage_prefix + fit_input(t) for t in texts]
        batches = [prepared[i : i + self.batch] for i in range(0, len(prepared), self.batch)]
        if len(batches) == 1 or self.concurrency == 1:
            return [vector for batch in batches for vector in self._request(batch)]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(batches))) as pool:
            done = list(pool.map(self._request, batches))  # in order, several requests in flight
        return [vector for batch in done for vector in batch]

    def embed_query(self, text: str) -> list[float]:
        return self._request([self._query_prefix + fit_input(text)])[0]
