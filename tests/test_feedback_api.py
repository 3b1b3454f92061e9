"""Stored conversations and feedback through the HTTP API and the CLI (SQLite, fake embedder,
extractive answers): restarts, deletion, bad input with nothing stored, 16 concurrent clients,
and feedback exported as a question set that `eval` runs as it is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner

from convention_qa.cli import Wiring, main
from convention_qa.config import Settings
from convention_qa.conversations.database import database_url
from convention_qa.conversations.store import open_conversations

from .fakes import HashingEmbeddings
from .test_api import module_server, start_server, stop_server

QUESTION = "Berapa negara yang menandatangani Konvensi Hanoi?"


@pytest.fixture
def settings(tmp_path: Path, corpus: Path) -> Settings:
    """Policy and answer check off: the fake embedder's scores are not what they were fitted on."""
    return Settings(data_dir=tmp_path / "data", corpus_dir=corpus, policy="off", strictness="off")


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    url, running, thread = start_server(settings)
    yield url
    stop_server(running, thread)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    """One server for the bad-input cases (each checks that nothing was added)."""
    with module_server(tmp_path_factory, "feedback") as running:
        yield running


def counts(settings: Settings) -> dict[str, int]:
    return open_conversations(database_url(settings.data_dir, None)).counts()


def test_chat_is_stored_listed_read_and_deleted_with_its_feedback(server: str, settings: Settings) -> None:
    http = httpx.Client(timeout=60)  # keeps the owner cookie, as a browser does
    first = http.post(f"{server}/api/chat", json={"message": QUESTION}).json()
    session, answer_id = first["session_id"], first["answer_id"]
    assert answer_id and "69 negara" in first["answer"]
    second = http.post(f"{server}/api/chat", json={"session_id": session, "message": "Berapa pasalnya?"}).json()
    rated = http.post(f"{server}/api/feedback", json={"answer_id": answer_id, "rating": "down", "correction": "69"})
    assert rated.status_code == 200 and rated.json()["correction"] == "69"
    listed = http.get(f"{server}/api/conversations").json()
    assert [c["id"] for c in listed] == [session] and listed[0]["turns"] == 2
    detail = http.get(f"{server}/api/conversations/{session}").json()
    turns = detail["turns"]
    assert [t["id"] for t in turns] == [answer_id, second["answer_id"]]
    assert turns[0]["details"]["citations"] and turns[0]["feedback"]["rating"] == "down"
    assert {"embedder", "llm", "prompt_version"} <= turns[0]["config"].keys()
    assert http.delete(f"{server}/api/conversations/{session}").status_code == 204
    assert counts(settings) == {"conversations": 0, "answers": 0, "feedback": 0}
    assert http.get(f"{server}/api/conversations/{session}").status_code == 404
    assert http.delete(f"{server}/api/conversations/{session}").status_code == 404


def test_a_chat_session_survives_a_server_restart(settings: Settings) -> None:
    http = httpx.Client(timeout=60)  # keeps the owner cookie, as a browser does
    url, running, thread = start_server(settings)
    session = http.post(f"{url}/api/chat", json={"message": "Siapa yang memimpin sesi diskusi tingkat tinggi?"}).json()[
        "session_id"
    ]
    stop_server(running, thread)
    url, running, thread = start_server(settings)
    try:
        again = http.post(f"{url}/api/chat", json={"session_id": session, "message": "Siapa yang mengambil fotonya?"})
        assert again.status_code == 200, again.text
        assert again.json()["query"].startswith("Siapa yang memimpin"), "the history came back from the database"
    finally:
        stop_server(running, thread)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"answer_id": "no-such-answer", "rating": "down"}, 404),
        ({"answer_id": "ANSWER", "rating": "down", "comment": "x" * 2001}, 422),
        ({"answer_id": "ANSWER", "rating": "down", "correction": "x" * 2001}, 422),
        ({"answer_id": "ANSWER", "rating": "meh"}, 422),
        ({"answer_id": "ANSWER", "rating": "up", "correction": "69"}, 422),
        ({"answer_id": "ANSWER", "rating": "down", "correction": "69", "not_in_articles": True}, 422),
        ({"answer_id": "ANSWER", "rating": "down", "extra": 1}, 422),
        ({"answer_id": 7, "rating": "down"}, 422),
        ({"answer_id": "ANSWER", "rating": "down", "comment": "\ud800"}, 422),
        ({"answer_id": "ANSWER", "rating": "down", "correction": "   "}, 422),  # a blank expected answer
        ({"answer_id": "ANSWER", "rating": "down", "correction": "\u200b\n\x00"}, 422),
        ("not json", 422),
    ],
)
def test_bad_feedback_is_a_clear_4xx_and_stores_nothing(shared: tuple[str, Settings], body: Any, status: int) -> None:
    server, settings = shared
    http = httpx.Client(timeout=60)  # the answer's owner: only the body can be wrong
    answer_id = http.post(f"{server}/api/chat", json={"message": QUESTION}).json()["answer_id"]
    before = counts(settings)["feedback"]
    if isinstance(body, dict):
        body = {k: (answer_id if v == "ANSWER" else v) for k, v in body.items()}
        content = json.dumps(body).encode()
    else:
        content = body.encode()
    response = http.post(f"{server}/api/feedback", content=content, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    assert counts(settings)["feedback"] == before


def test_sixteen_clients_chatting_and_rating_at_once_lose_no_write(server: str, settings: Settings) -> None:
    def client(n: int) -> tuple[int, int]:
        with httpx.Client(base_url=server, timeout=60) as http:
            session, chats, ratings = None, 0, 0
            for turn in range(3):
                body: dict[str, Any] = {"message": f"{QUESTION} ({n}.{turn})"}
                if session:
                    body["session_id"] = session
                reply = http.post("/api/chat", json=body)
                assert reply.status_code == 200, reply.text
                session, chats = reply.json()["session_id"], chats + 1
                rated = http.post("/api/feedback", json={"answer_id": reply.json()["answer_id"], "rating": "up"})
                assert rated.status_code == 200, rated.text
                ratings += 1
            return chats, ratings

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(client, range(16)))
    assert sum(c for c, _ in results) == 48
    assert counts(settings) == {"conversations": 16, "answers": 48, "feedback": 48}


def test_with_storage_off_chat_still_works_and_conversations_say_why_they_are_missing(settings: Settings) -> None:
    url, running, thread = start_server(settings.model_copy(update={"conversations": False}))
    try:
        reply = httpx.post(f"{url}/api/chat", json={"message": QUESTION}).json()
        assert reply["answer_id"] is None and reply["session_id"]
        missing = httpx.get(f"{url}/api/conversations")
        assert missing.status_code == 404 and "CONVENTION_QA_CONVERSATIONS=false" in missing.json()["detail"]
        assert httpx.post(f"{url}/api/feedback", json={"answer_id": "x", "rating": "up"}).status_code == 404
    finally:
        stop_server(running, thread)
    assert not (settings.data_dir / "conversations.db").exists()


def test_api_key_guards_the_conversation_routes(settings: Settings) -> None:
    url, running, thread = start_server(settings.model_copy(update={"api_key": "sesame"}))
    try:
        for method, path in (
            ("GET", "/api/conversations"),
            ("GET", "/api/conversations/x"),
            ("DELETE", "/api/conversations/x"),
            ("POST", "/api/feedback"),
        ):
            assert httpx.request(method, f"{url}{path}").status_code == 401, path
        ok = httpx.get(f"{url}/api/conversations", headers={"authorization": "Bearer sesame"})
        assert ok.status_code == 200
    finally:
        stop_server(running, thread)


def cli(args: list[str], settings: Settings) -> Any:
    embedder = HashingEmbeddings()
    wiring = Wiring(settings=settings, make_embedder=lambda name: embedder, make_chat_model=lambda s: None)
    return CliRunner().invoke(main, args, obj=wiring, catch_exceptions=False)


def test_feedback_export_is_a_question_set_eval_runs_as_it_is(server: str, settings: Settings, tmp_path: Path) -> None:
    http = httpx.Client(timeout=60)  # keeps the owner cookie, as a browser does

    def chat(message: str, session: str | None = None) -> dict[str, Any]:
        body = {"message": message, **({"session_id": session} if session else {})}
        return dict(http.post(f"{server}/api/chat", json=body).json())

    wrong = chat(QUESTION)
    follow = chat("Berapa pasal yang dimilikinya?", wrong["session_id"])
    good = chat("Siapa yang mengambil foto panorama sesi diskusi?")
    off = chat("Siapa pemenang piala dunia 2022?")
    vague = chat("Kapan konvensi ditandatangani?")
    for answer_id, feedback in (
        (wrong["answer_id"], {"rating": "down", "correction": "69 negara", "comment": "check the number"}),
        (follow["answer_id"], {"rating": "down", "correction": "68 pasal"}),
        (good["answer_id"], {"rating": "up"}),
        (off["answer_id"], {"rating": "down", "not_in_articles": True}),
        (vague["answer_id"], {"rating": "down"}),
    ):
        assert http.post(f"{server}/api/feedback", json={"answer_id": answer_id, **feedback}).status_code == 200

    out = tmp_path / "feedback.yaml"
    result = cli(["feedback", "export", "--rating", "all", "--out", str(out)], settings)
    assert result.exit_code == 0, result.output
    assert "rated down without a correction" in result.output, "a bare down rating cannot be a test question"
    questions = {q["id"].split("-", 1)[1]: q for q in yaml.safe_load(out.read_text(encoding="utf-8"))}
    assert questions[wrong["answer_id"]]["answers"] == ["69 negara"]
    assert questions[wrong["answer_id"]]["support"] == "hanoi-convention-high-level-session"
    assert questions[wrong["answer_id"]]["comment"] == "check the number"
    assert questions[follow["answer_id"]]["turns"] == [QUESTION, "Berapa pasal yang dimilikinya?"]
    assert questions[off["answer_id"]]["answerable"] is False
    assert "rated-up" in questions[good["answer_id"]]["tags"] and vague["answer_id"] not in questions

    evaluated = cli(["eval", str(out), "--json"], settings)
    assert evaluated.exit_code == 0, evaluated.output
    summary = json.loads(evaluated.stdout)
    assert summary["questions"] == 4 and summary["answerable"] == 3

    down_only = cli(["feedback", "export", "--out", str(tmp_path / "down.yaml")], settings)
    assert down_only.exit_code == 0 and len(yaml.safe_load((tmp_path / "down.yaml").read_text("utf-8"))) == 3

    stats = cli(["feedback", "stats", "--json"], settings)
    data = json.loads(stats.stdout)
    assert data["rating"] == {"down": 4, "up": 1} and sum(data["week"].values()) == 5


def test_feedback_commands_say_so_when_storage_is_off(settings: Settings, tmp_path: Path) -> None:
    result = cli(["feedback", "stats"], settings.model_copy(update={"conversations": False}))
    assert result.exit_code == 2 and "CONVENTION_QA_CONVERSATIONS=false" in result.output


@pytest.mark.integration  # a real PostgreSQL server
def test_two_replicas_share_conversations_on_postgresql(settings: Settings, tmp_path: Path) -> None:
    http = httpx.Client(timeout=60)  # keeps the owner cookie, as a browser does
    from .servers import postgres_server

    with postgres_server() as url:
        # Replicas on different data directories share the key that signs the owner cookie.
        shared = settings.model_copy(update={"database_url": url, "secret_key": "replicas-share-this-key"})
        first = start_server(shared)
        second = start_server(shared.model_copy(update={"data_dir": tmp_path / "replica"}))
        try:
            reply = http.post(f"{first[0]}/api/chat", json={"message": "Siapa yang memimpin sesi diskusi?"}).json()
            follow = http.post(
                f"{second[0]}/api/chat",
                json={"session_id": reply["session_id"], "message": "Siapa yang mengambil fotonya?"},
            )
            assert follow.status_code == 200 and follow.json()["query"].startswith("Siapa yang memimpin")
            rated = http.post(f"{second[0]}/api/feedback", json={"answer_id": reply["answer_id"], "rating": "up"})
            assert rated.status_code == 200
            detail = http.get(f"{first[0]}/api/conversations/{reply['session_id']}").json()
            assert len(detail["turns"]) == 2 and detail["turns"][0]["feedback"]["rating"] == "up"
            assert not (settings.data_dir / "conversations.db").exists(), "nothing went to SQLite"
        finally:
            for _, running, thread in (first, second):
                stop_server(running, thread)
