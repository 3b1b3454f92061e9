"""Embeddings from a server (CONVENTION_QA_EMBEDDER_URL), end to end against a real one:
llama-cpp-python's OpenAI-compatible server with embeddings on, serving the bundled GGUF model,
started here on 127.0.0.1. Nothing in the client is mocked."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from convention_qa.answering.llm import bundled_model_path
from convention_qa.config import Settings
from convention_qa.corpus.embeddings import model_id
from convention_qa.corpus.ingest import ingest
from convention_qa.corpus.remote_embeddings import RemoteEmbeddings, e5_prefixes
from convention_qa.errors import EmbedderError
from convention_qa.factory import Factory

from .conftest import ROOT, SEED_ARTICLE
from .servers import free_port, wait_until_up


@pytest.fixture(scope="module")
def embeddings_server() -> Iterator[str]:
    model = bundled_model_path(ROOT / "data" / "models")
    port = free_port()
    command = [sys.executable, "-m", "convention_qa.answering.model_server", "--model", str(model)]
    command += ["--model_alias", "bundled", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"]
    command += ["--embedding", "true", "--pooling", "mean"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    wait_until_up(f"{base}/models", proc, 120, "llama_cpp.server")
    yield base
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.integration
def test_the_corpus_is_embedded_on_the_server_and_questions_too(embeddings_server: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED_ARTICLE, corpus / SEED_ARTICLE.name)
    settings = Settings(
        data_dir=tmp_path / "data",
        corpus_dir=corpus,
        embedder="bundled",
        embedder_url=embeddings_server,
        embedder_batch=4,
        embedder_concurrency=2,
        llm="extractive",
    )
    factory = Factory(settings)
    embedder = factory.embedder()
    assert isinstance(embedder, RemoteEmbeddings) and model_id(embedder) == "openai/bundled"
    store = factory.store()
    report = ingest(store, embedder, settings)
    assert not report.failed and report.embedded == report.chunks > 10
    assert "openai-bundled" in store._collection.name, "the collection is the server model's own"
    passages = factory.assistant().retriever.retrieve("Berapa pasal yang dimiliki Konvensi Hanoi?", 4)
    assert len(passages) == 4 and all(p.text for p in passages)
    vector = embedder.embed_query("Konvensi Hanoi")
    assert len(vector) == 1536 and abs(sum(x * x for x in vector) - 1) < 1e-6, "unit length"
    # The bundled in-process embedder's index is another collection: vectors never mix.
    local = Factory(settings.model_copy(update={"embedder_url": None, "embedder": "multilingual-e5-small"}))
    assert local.store()._collection.name != store._collection.name


def test_a_server_that_cannot_be_reached_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    embedder = RemoteEmbeddings(f"http://127.0.0.1:{port}/v1", "bundled", batch=2)
    with pytest.raises(EmbedderError, match=f"127.0.0.1:{port}.*EMBEDDER_URL"):
        embedder.embed_documents(["satu", "dua", "tiga"])


def test_e5_prefixes_follow_the_model_name() -> None:
    assert e5_prefixes("intfloat/multilingual-e5-large", "auto") == ("query: ", "passage: ")
    assert e5_prefixes("multilingual_e5_small", "auto") == ("query: ", "passage: ")
    assert e5_prefixes("nomic-embed-text", "auto") == ("", "")
    assert e5_prefixes("nomic-embed-text", "e5") == ("query: ", "passage: ")
    assert e5_prefixes("intfloat/multilingual-e5-large", "none") == ("", "")


def test_the_setting_picks_the_server(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, embedder="bge-m3", embedder_url="http://127.0.0.1:9/v1")
    embedder = Factory(settings, make_embedder=lambda name: pytest.fail("not in-process")).embedder()
    assert isinstance(embedder, RemoteEmbeddings) and embedder.model_id == "openai/bge-m3"
