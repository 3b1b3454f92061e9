"""SIGTERM stops the server within seconds, even while a long upload is being embedded; the
request it cuts gets a 503 with Retry-After, not a 500."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from convention_qa.config import Settings
from convention_qa.corpus.ingest import ingest
from convention_qa.factory import Factory

from .conftest import SEED_ARTICLE
from .servers import free_port, wait_until_up

pytestmark = pytest.mark.integration


def test_sigterm_during_a_long_upload_stops_the_server_and_leaves_the_index_whole(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / SEED_ARTICLE.name).write_bytes(SEED_ARTICLE.read_bytes())
    port = free_port()
    env = {
        **os.environ,
        "CONVENTION_QA_DATA_DIR": str(tmp_path / "data"),
        "CONVENTION_QA_CORPUS_DIR": str(corpus),
        "CONVENTION_QA_LLM": "extractive",
        "CONVENTION_QA_PORT": str(port),
    }
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "convention_qa", "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", proc, 120, log.read_text(errors="replace"))
        paragraphs = [
            f"Paragraf {i}: Konvensi Hanoi dibahas oleh delegasi nomor {i} dari banyak negara." for i in range(4000)
        ]
        # about 500 chunks: well over a minute of embedding on two cores, so the signal lands mid-upload
        # (400 paragraphs made 48 chunks, embedded in under 4 s on CI's machine, and the test raced)
        big = ("\n\n".join(paragraphs)).encode()

        cut: list[httpx.Response] = []

        def upload() -> None:
            with contextlib.suppress(httpx.HTTPError):  # the server goes away mid-request: the point
                files = {"files": ("big.md", big)}
                cut.append(httpx.post(f"http://127.0.0.1:{port}/api/documents", files=files, timeout=300))

        thread = threading.Thread(target=upload, daemon=True)
        thread.start()
        time.sleep(4)  # the upload is being embedded now
        assert proc.poll() is None
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        assert time.monotonic() - started < 15, "SIGTERM ends the server within seconds"
        thread.join(timeout=10)
        assert cut, "the cut request got a reply"
        assert cut[0].status_code == 503 and cut[0].headers["retry-after"] == "5", cut[0].text
        assert "restarting" in cut[0].json()["detail"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=corpus, llm="extractive")
    factory = Factory(settings)
    store = factory.store()
    assert "hanoi-convention-high-level-session" in store.documents(), "what was indexed before is intact"
    report = ingest(store, factory.embedder(), settings)
    assert not report.failed and store.documents().keys() >= {"hanoi-convention-high-level-session"}
