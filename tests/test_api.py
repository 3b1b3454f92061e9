"""The HTTP API against a real server on 127.0.0.1 (uvicorn in a thread), with the fake embedder.

The official openai client and gradio_client talk to it as any user's tool would.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import uvicorn

from convention_qa.config import Settings
from convention_qa.corpus.ingest import ingest
from convention_qa.factory import Factory
from convention_qa.web.server import create_app

from .conftest import SEED_ARTICLE
from .fakes import HashingEmbeddings, ScriptedChatModel
from .servers import free_port

SHORT_ANSWER = "69 negara menandatangani Konvensi Hanoi [1]."  # copied from the sentence it cites
CLAIM = "69 negara menandatangani Konvensi Hanoi"


def start_server(settings: Settings, model: Any = None) -> tuple[str, uvicorn.Server, threading.Thread]:
    embedder = HashingEmbeddings()
    factory = Factory(settings, make_embedder=lambda name: embedder, make_chat_model=lambda s: model)
    ingest(factory.store(), factory.embedder(), settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(factory), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def stop_server(server: uvicorn.Server, thread: threading.Thread) -> None:
    """Stop the server; a client still holding a connection open (gradio_client's event
    stream) does not keep it waiting."""
    server.should_exit = True
    thread.join(timeout=2)
    server.force_exit = True
    thread.join(timeout=10)


@pytest.fixture
def base(settings: Settings) -> Iterator[str]:
    url, server, thread = start_server(settings.model_copy(update={"policy": "off", "strictness": "off"}))
    yield url
    stop_server(server, thread)


@contextlib.contextmanager
def module_server(factory: pytest.TempPathFactory, name: str) -> Iterator[tuple[str, Settings]]:
    """A server for a whole module (starting one per test is slow), on its own copy of the
    article, with no setting from the environment; policy and answer check off (the fake
    embedder's scores are not what either was fitted on)."""
    root = factory.mktemp(name)
    (root / "corpus").mkdir()
    shutil.copy(SEED_ARTICLE, root / "corpus" / SEED_ARTICLE.name)
    with pytest.MonkeyPatch.context() as patch:
        for variable in [n for n in os.environ if n.startswith("CONVENTION_QA_")]:
            patch.delenv(variable)
        config = Settings(data_dir=root / "data", corpus_dir=root / "corpus", policy="off", strictness="off")
        url, server, thread = start_server(config)
    try:
        yield url, config
    finally:
        stop_server(server, thread)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server for the tests that change nothing it holds."""
    with module_server(tmp_path_factory, "shared") as (url, _):
        yield url


@pytest.fixture
def model_base(settings: Settings) -> Iterator[str]:
    model = ScriptedChatModel(replies=[SHORT_ANSWER])
    url, server, thread = start_server(settings.model_copy(update={"policy": "off", "strictness": "off"}), model)
    yield url
    stop_server(server, thread)


def test_ask_returns_the_answer_shape(shared: str) -> None:
    data = httpx.post(
        f"{shared}/api/ask", json={"question": "Berapa negara yang menandatangani Konvensi Hanoi?"}
    ).json()
    assert {"answer", "abstained", "citations", "timings"} <= data.keys()
    assert "69 negara" in data["answer"] and data["citations"][0]["n"] >= 1
    assert {"n", "doc_id", "title", "source", "text", "start", "end"} <= data["citations"][0].keys()
    assert {"abstain_reason", "confidence", "question_language", "repair", "signals"} <= data.keys()
    assert data["question_language"] == "id" and data["signals"]["same_language"] is True


def test_ask_streams_server_sent_events(model_base: str) -> None:
    events = []
    body = {"question": "Berapa negara yang menandatangani Konvensi Hanoi?", "stream": True}
    with httpx.stream("POST", f"{model_base}/api/ask", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    tokens = [e for e in events if e["type"] == "token"]
    assert len(tokens) == 1 and events[-1]["type"] == "answer", "the answer is sent once it is checked"
    assert events[-1]["answer"].startswith(CLAIM) and events[-1]["citations"]


def test_chat_keeps_a_session_and_refuses_unknown_ones(shared: str) -> None:
    with httpx.Client(base_url=shared) as http:  # keeps the owner cookie, as a browser does
        first = http.post("/api/chat", json={"message": "Siapa yang memimpin sesi diskusi tingkat tinggi?"}).json()
        session = first["session_id"]
        second = http.post("/api/chat", json={"session_id": session, "message": "Siapa yang mengambil fotonya?"})
        assert second.json()["session_id"] == session
        assert second.json()["query"].startswith("Siapa yang memimpin"), "the follow-up used the session's history"
        missing = http.post("/api/chat", json={"session_id": "no-such-session", "message": "Halo?"})
        assert missing.status_code == 404 and "unknown or expired session" in missing.json()["detail"]


def test_search_documents_upload_and_delete(base: str, settings: Settings) -> None:
    hits = httpx.get(f"{base}/api/search", params={"q": "Jackie Chan foto", "k": 2}).json()
    assert len(hits) == 2 and "Jackie Chan" in hits[0]["text"]
    docs = httpx.get(f"{base}/api/documents").json()
    assert [d["id"] for d in docs] == ["hanoi-convention-high-level-session"]

    files = [
        ("files", ("../../evil.md", b"Candi Borobudur terletak di Magelang, Jawa Tengah.", "text/markdown")),
        ("files", ("x.exe", b"MZ\x00", "application/octet-stream")),
    ]
    upload = httpx.post(f"{base}/api/documents", files=files).json()
    assert upload["saved"] == ["uploads/evil.md"]
    assert "unsupported file type .exe" in upload["rejected"][0]["error"]
    assert (settings.corpus_dir / "uploads" / "evil.md").exists()
    assert "Borobudur" in httpx.get(f"{base}/api/search", params={"q": "Candi Borobudur"}).json()[0]["text"]

    assert httpx.delete(f"{base}/api/documents/uploads/evil").status_code == 204
    assert "uploads/evil" not in {d["id"] for d in httpx.get(f"{base}/api/documents").json()}
    assert (settings.data_dir / "trash" / "uploads" / "evil.md").exists(), "deleted files are kept in the trash"
    assert httpx.delete(f"{base}/api/documents/uploads/evil").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("post", "/api/ask", {"content": b'{"question": ', "headers": {"content-type": "application/json"}}, 422),
        ("post", "/api/ask", {"json": {"question": 42}}, 422),
        ("post", "/api/ask", {"json": {"question": ""}}, 422),
        ("post", "/api/ask", {"json": {"question": "   "}}, 400),
        ("post", "/api/ask", {"json": {"question": "x" * 5000}}, 400),
        ("post", "/api/ask", {"json": {"question": "Halo", "k": 0}}, 422),
        ("post", "/api/ask", {"json": {"question": "Halo", "k": 500}}, 422),
        ("post", "/api/ask", {"json": {"question": "Halo", "history": [{"role": "robot", "content": "x"}]}}, 422),
        ("post", "/api/chat", {"json": {"message": "Halo", "session_id": "../../etc"}}, 422),
        ("get", "/api/search", {"params": {"q": ""}}, 422),
        ("get", "/api/search", {"params": {"q": "x", "k": "many"}}, 422),
        ("post", "/api/documents", {"files": []}, 422),
        ("post", "/v1/chat/completions", {"json": {"messages": []}}, 422),
        ("post", "/v1/chat/completions", {"json": {"messages": [{"role": "assistant", "content": "hi"}]}}, 400),
    ],
)
def test_bad_input_is_a_clear_4xx(shared: str, method: str, path: str, kwargs: dict[str, Any], status: int) -> None:
    response = httpx.request(method.upper(), f"{shared}{path}", **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_huge_body_is_refused_before_it_is_read(shared: str) -> None:
    response = httpx.post(f"{shared}/api/ask", content=b"x" * 120_000_000, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "limit" in response.json()["detail"]


def test_a_huge_unknown_document_id_is_not_echoed_back(shared: str) -> None:
    response = httpx.delete(f"{shared}/api/documents/{'x' * 15_000}")
    assert response.status_code == 404 and len(response.text) < 400
    assert "15000 characters" in response.json()["detail"]


@pytest.mark.parametrize("question", ["\x00\x00", "\u200b\u200b", " \u2060\ufeff\n"])
def test_a_question_with_no_visible_character_is_refused_like_an_empty_one(shared: str, question: str) -> None:
    for path, body in (("/api/ask", {"question": question}), ("/api/chat", {"message": question})):
        response = httpx.post(f"{shared}{path}", json=body)
        assert response.status_code == 400 and "empty" in response.json()["detail"], response.text


def test_a_chunked_body_over_the_limit_is_413_too(settings: Settings) -> None:
    """No Content-Length to refuse it by: the body is counted as it comes, whatever route reads it."""
    small = settings.model_copy(update={"max_file_mb": 1, "policy": "off", "strictness": "off"})  # limit: 6 MB
    url, server, thread = start_server(small)

    def chunks() -> Iterator[bytes]:
        yield b"--b\r\nContent-Disposition: form-data; name=files; filename=a.md\r\n\r\n"
        for _ in range(8):
            yield b"x" * 1_000_000

    try:
        for path, kind in (("/api/documents", "multipart/form-data; boundary=b"), ("/api/ask", "application/json")):
            response = httpx.post(f"{url}{path}", content=chunks(), headers={"content-type": kind}, timeout=60)
            assert response.status_code == 413, f"{path}: {response.status_code} {response.text[:200]}"
            assert "limit" in response.json()["detail"]
        assert httpx.get(f"{url}/health").status_code == 200, "the server goes on"
    finally:
        stop_server(server, thread)


def test_openai_client_chats_with_the_corpus(model_base: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{model_base}/v1", api_key="unused")
    assert [m.id for m in client.models.list().data] == ["convention-qa"]
    reply = client.chat.completions.create(
        model="convention-qa",
        messages=[{"role": "user", "content": "Berapa negara yang menandatangani Konvensi Hanoi?"}],
    )
    content = reply.choices[0].message.content or ""
    assert content.startswith(CLAIM) and "Sources:\n[" in content
    assert reply.model_extra and reply.model_extra["citations"][0]["n"] >= 1

    stream = client.chat.completions.create(
        model="convention-qa",
        messages=[{"role": "user", "content": "Berapa negara yang menandatangani Konvensi Hanoi?"}],
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith(CLAIM) and "Sources:" in text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra and chunks[-1].model_extra["citations"]


def test_gradio_client_uses_the_mounted_ui(shared: str) -> None:
    from gradio_client import Client

    client = Client(f"{shared}/", verbose=False)
    history, sources, cleared = client.predict(
        "Berapa negara yang menandatangani Konvensi Hanoi?", [], 4, "auto", api_name="/ask"
    )
    assert "69 negara" in str(history[-1]["content"]) and "<mark>" in sources and cleared == ""


def test_concurrent_questions_and_an_upload_lose_nothing(base: str) -> None:
    questions = ["Berapa negara yang menandatangani Konvensi Hanoi?", "Siapa fotografer Jackie Chan?"] * 8

    def ask(question: str) -> int:
        return httpx.post(f"{base}/api/ask", json={"question": question}, timeout=60).status_code

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(ask, q) for q in questions]
        files = [
            ("files", ("danau.md", b"Danau Toba adalah danau vulkanik terbesar di Sumatera Utara.", "text/markdown"))
        ]
        upload = httpx.post(f"{base}/api/documents", files=files, timeout=60)
        statuses = [f.result() for f in futures]
    assert statuses == [200] * len(questions)
    assert upload.status_code == 200
    assert {d["id"] for d in httpx.get(f"{base}/api/documents").json()} >= {
        "uploads/danau",
        "hanoi-convention-high-level-session",
    }


def test_api_key_guards_every_route(settings: Settings) -> None:
    url, server, thread = start_server(
        settings.model_copy(update={"api_key": "s3cret", "policy": "off", "strictness": "off"})
    )
    try:
        body = {"question": "Berapa negara?"}
        assert httpx.post(f"{url}/api/ask", json=body).status_code == 401
        assert httpx.post(f"{url}/api/ask", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.post(f"{url}/api/ask", json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert httpx.get(f"{url}/v1/models").status_code == 401
        assert httpx.get(f"{url}/api/documents").status_code == 401
        assert httpx.get(f"{url}/gradio_api/info").status_code in (401, 403)
    finally:
        stop_server(server, thread)


def test_health(shared: str) -> None:
    data = httpx.get(f"{shared}/health").json()
    assert data["status"] == "ok" and data["chunks"] > 5 and data["llm"] == "extractive"


def test_sessions_are_bounded_and_expire() -> None:
    from convention_qa.contract import Answer
    from convention_qa.conversations.memory import InMemoryChats, UnknownSession
    from convention_qa.conversations.owners import Owner

    ME = Owner("key:me")

    now = [0.0]
    store = InMemoryChats(max_sessions=2, max_exchanges=2, idle_seconds=10, clock=lambda: now[0])
    a, _ = store.open(None, ME)
    b, _ = store.open(None, ME)
    c, _ = store.open(None, ME)
    with pytest.raises(UnknownSession):
        store.open(a, ME)  # the oldest went first
    for i in range(5):
        store.record(b, f"q{i}", Answer(text=f"a{i}", question=f"q{i}", abstained=False), {}, ME)
    assert [(e.question, e.answer) for e in store.history(b, ME)] == [("q3", "a3"), ("q4", "a4")]
    with pytest.raises(UnknownSession):
        store.record(
            a, "q", Answer(text="a", question="q", abstained=False), {}, ME
        )  # a gone session is said to be gone
    with pytest.raises(UnknownSession):
        store.open(b, Owner("key:someone-else"))  # another owner's session is as unknown
    now[0] = 100.0
    with pytest.raises(UnknownSession):
        store.open(c, ME)
    assert len(store) == 0


ODD_VALUES = ['"\\ud800"', '"a\\udfffb"', "NaN", "Infinity", "-Infinity", "1e999", "123456789012345678901234567890"]
ODD_BODIES = [
    *(f'{{"question": {v}}}' for v in ODD_VALUES),
    *(f'{{"question": "Halo", "k": {v}}}' for v in ODD_VALUES),
    *(f'{{"question": "Halo", "history": [{{"role": "user", "content": {v}}}]}}' for v in ODD_VALUES),
    *(f'{{"message": {v}}}' for v in ODD_VALUES),
    *(f'{{"messages": [{{"role": "user", "content": {v}}}]}}' for v in ODD_VALUES),
    *(f'{{"messages": [{{"role": "user", "content": [{{"type": "text", "text": {v}}}]}}]}}' for v in ODD_VALUES),
    '{"question": ' + "[" * 5000 + "]" * 5000 + "}",
    "[" * 100_000,
]


@pytest.mark.parametrize("path", ["/api/ask", "/api/chat", "/v1/chat/completions"])
def test_odd_json_values_are_4xx_never_5xx(shared: str, path: str) -> None:
    for body in ODD_BODIES:
        response = httpx.post(f"{shared}{path}", content=body.encode(), headers={"content-type": "application/json"})
        assert response.status_code < 500, f"{body[:80]} -> {response.status_code} {response.text[:200]}"
        assert "\\ud800" not in response.text
    ok = httpx.post(f"{shared}/api/ask", json={"question": "Berapa negara yang menandatangani Konvensi Hanoi?"})
    assert ok.status_code == 200, "the server still answers"


def test_long_history_costs_bounded_work(shared: str) -> None:
    history = [{"role": "user", "content": "Konvensi Hanoi " * 1300}, {"role": "assistant", "content": "x" * 19_000}]
    body = {"question": "Dan berapa pasalnya?", "history": history}
    response = httpx.post(f"{shared}/api/ask", json=body, timeout=60)
    assert response.status_code == 200
    assert len(response.json()["query"]) < 2 * 300 + 100, "the follow-up carries a bounded part of the history"


MALFORMED_UI_CALLS = [
    '{"data": ["Berapa negara?"]}',  # too few values
    '{"data": ["Berapa negara?", [], 5, "auto", "extra"]}',
    '{"data": ["Berapa negara?", [], NaN, "auto"]}',
    '{"data": ["Berapa negara?", [], "five", "auto"]}',
    '{"data": ["Berapa negara?", [], 500, "auto"]}',
    '{"data": ["Berapa negara?", [1, 2], 5, "auto"]}',  # history items that are not messages
    '{"data": ["Berapa negara?", [{"role": "system", "content": "x"}], 5, "auto"]}',
    '{"data": [5, [], 5, "auto"]}',  # a number as the message
    '{"data": ["Berapa negara?", [], 5, "klingon"]}',
    '{"question": 1}',
    "{}",
    "not json",
]


@pytest.mark.parametrize("path", ["/gradio_api/run/ask", "/gradio_api/call/ask", "/gradio_api/call/v2/ask"])
def test_malformed_calls_to_the_ui_api_are_4xx_that_say_which_argument(shared: str, path: str) -> None:
    for body in MALFORMED_UI_CALLS:
        response = httpx.post(f"{shared}{path}", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422, f"{body} -> {response.status_code} {response.text[:200]}"
        assert "malformed call to the UI's API" in response.json()["detail"]
    bad_k = httpx.post(f"{shared}{path}", content=MALFORMED_UI_CALLS[3], headers={"content-type": "application/json"})
    assert "/ask: k" in bad_k.json()["detail"]
    good = httpx.post(f"{shared}/gradio_api/run/ask", json={"data": ["Berapa negara?", [], 5, "auto"]}, timeout=60)
    assert good.status_code == 200, good.text
