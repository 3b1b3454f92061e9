"""kill -9 in the middle of a burst of chat and feedback writes: what was acknowledged is kept,
at most the requests in flight are lost, and the store opens cleanly afterwards."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from convention_qa.conversations.database import database_url
from convention_qa.conversations.store import open_conversations

from .conftest import SEED_ARTICLE
from .servers import free_port, wait_until_up

pytestmark = pytest.mark.integration  # starts the real app and kills it

CLIENTS = 8


def serve(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CONVENTION_QA_")},
        "CONVENTION_QA_DATA_DIR": str(tmp_path / "data"),
        "CONVENTION_QA_CORPUS_DIR": str(tmp_path / "corpus"),
        "CONVENTION_QA_LLM": "extractive",
        "CONVENTION_QA_POLICY": "off",
        "CONVENTION_QA_PORT": str(port),
    }
    out = (tmp_path / "server.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "convention_qa", "serve"], env=env, stdout=out, stderr=out)
    wait_until_up(f"http://127.0.0.1:{port}/health", proc, 180, f"see {tmp_path / 'server.log'}")
    return proc


def test_kill_9_during_a_burst_loses_only_requests_in_flight(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / SEED_ARTICLE.name).write_bytes(SEED_ARTICLE.read_bytes())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve(tmp_path, port)
    answered: list[str] = []  # answer ids the server acknowledged
    rated: list[str] = []  # ratings the server acknowledged
    lock = threading.Lock()
    stop = threading.Event()
    first: dict[str, Any] = {}  # client 0's conversation and owner cookie, to go on with after the restart

    def client(n: int) -> None:
        session: str | None = None
        with httpx.Client(base_url=base, timeout=30) as http:
            while not stop.is_set():
                try:
                    body: dict[str, Any] = {"message": f"Berapa negara yang menandatangani Konvensi Hanoi? ({n})"}
                    if session:
                        body["session_id"] = session
                    reply = http.post("/api/chat", json=body)
                    if reply.status_code != 200:
                        return
                    session, answer_id = reply.json()["session_id"], reply.json()["answer_id"]
                    with lock:
                        answered.append(answer_id)
                        if n == 0:
                            first.update(session=session, cookies=dict(http.cookies))
                    feedback = {"answer_id": answer_id, "rating": "down", "correction": f"69 ({n})"}
                    if http.post("/api/feedback", json=feedback).status_code == 200:
                        with lock:
                            rated.append(answer_id)
                except httpx.HTTPError:
                    return  # the server is gone

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(rated) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(rated) >= 40, "the burst was under way when the server was killed"

    db = tmp_path / "data" / "conversations.db"
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = open_conversations(database_url(tmp_path / "data", None))
    with sqlite3.connect(db) as raw:
        stored_answers = {row[0] for row in raw.execute("SELECT id FROM turns")}
        stored_ratings = {row[0] for row in raw.execute("SELECT turn_id FROM feedback")}
    assert set(answered) <= stored_answers, "every acknowledged answer is kept"
    assert set(rated) <= stored_ratings, "every acknowledged rating is kept"
    assert len(stored_answers) - len(answered) <= CLIENTS, "at most the requests in flight differ"
    assert store.counts()["conversations"] == CLIENTS

    proc = serve(tmp_path, port)  # and the app starts again on the same store
    try:
        body = {"session_id": first["session"], "message": "Berapa pasalnya?"}
        again = httpx.post(f"{base}/api/chat", json=body, cookies=first["cookies"], timeout=60)
        assert again.status_code == 200 and again.json()["answer_id"], "the same browser, after a restart"
        stranger = httpx.post(f"{base}/api/chat", json=body, timeout=60)
        assert stranger.status_code == 404, "without its owner's cookie the conversation is not there"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
