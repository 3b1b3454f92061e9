"""The same ingest, against a real Chroma server started here on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from convention_qa.config import Settings
from convention_qa.corpus.index import open_store
from convention_qa.corpus.ingest import ingest
from convention_qa.errors import StoreError

from .fakes import HashingEmbeddings
from .servers import free_port, wait_until_up

pytestmark = pytest.mark.integration  # starts a real Chroma server


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    beside_python = Path(sys.executable).parent / "chroma"  # the venv's, even when it is not activated
    executable = str(beside_python) if beside_python.exists() else shutil.which("chroma")
    if executable is None:
        pytest.fail("the `chroma` command (from the chromadb package) is not installed")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    log = open(path / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [executable, "run", "--path", str(path / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    wait_until_up(f"http://127.0.0.1:{port}/api/v2/heartbeat", proc, 60, (path / "server.log").read_text())
    yield port
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def test_ingest_against_a_chroma_server(chroma_server: int, corpus: Path, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        corpus_dir=corpus,
        chroma_host="127.0.0.1",
        chroma_port=chroma_server,
    )
    embedder = HashingEmbeddings()
    store = open_store(settings, embedder.model_id, reset=True)
    report = ingest(store, embedder, settings)
    assert report.added == 1 and report.chunks > 5
    assert not (tmp_path / "data" / "chroma").exists(), "server mode must not create a local store"

    embedder.embedded.clear()
    again = ingest(open_store(settings, embedder.model_id), embedder, settings)
    assert again.unchanged == 1 and embedder.embedded == []

    hits = store.query(embedder.embed_query("Foto Jackie Chan panorama"), k=3)
    assert any("Jackie Chan" in text for _, text, _, _ in hits)


def test_unreachable_server_says_how_to_fix(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, chroma_host="127.0.0.1", chroma_port=free_port())
    with pytest.raises(StoreError, match=r"cannot reach the Chroma server.*chroma run"):
        open_store(settings, "test/a")
