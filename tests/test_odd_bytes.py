"""The reported NUL-byte requests, on both conversation stores: the same statuses on SQLite and
PostgreSQL (which refuses NUL in text), and a streamed answer always ends in an answer or an
error event."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from convention_qa.config import Settings

from .gradio_calls import outputs
from .servers import postgres_server
from .test_api import start_server, stop_server

pytestmark = pytest.mark.integration

NUL_QUESTION = "Berapa negara\u0000 yang menandatangani Konvensi Hanoi?"


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, settings: Settings) -> Iterator[str]:
    update: dict[str, object] = {"policy": "off", "strictness": "off"}
    if request.param == "postgresql":
        update["database_url"] = request.getfixturevalue("postgres")
    url, uvicorn_server, thread = start_server(settings.model_copy(update=update))
    yield url
    stop_server(uvicorn_server, thread)


def events(reply: httpx.Response) -> list[dict[str, object]]:
    return [json.loads(line[5:]) for line in reply.text.splitlines() if line.startswith("data:")]


def test_nul_bytes_get_the_same_answers_on_both_stores(server: str) -> None:
    with httpx.Client(base_url=server, timeout=120) as client:
        chat = client.post("/api/chat", json={"message": NUL_QUESTION})
        assert chat.status_code == 200, chat.text
        session, answer_id = chat.json()["session_id"], chat.json()["answer_id"]
        assert answer_id, "the answer was kept"
        kept = client.get(f"/api/conversations/{session}").json()["turns"][0]["question"]
        assert kept == NUL_QUESTION.replace("\u0000", ""), "kept without the NUL"
        streamed = events(client.post("/api/chat", json={"message": NUL_QUESTION, "stream": True}))
        assert streamed[-1]["type"] == "answer" and streamed[-1]["answer_id"], streamed[-1]
        rated = client.post("/api/feedback", json={"answer_id": answer_id, "rating": "down", "comment": "a\u0000b"})
        assert rated.status_code == 200 and rated.json()["comment"] == "ab"
        assert client.post("/api/feedback", json={"answer_id": "a\u0000b", "rating": "up"}).status_code == 404
        assert client.get("/api/conversations/a%00b").status_code == 404
        assert client.delete("/api/conversations/a%00b").status_code == 404
        again = client.post("/api/chat", json={"message": "Kapan?\u0000", "session_id": session})
        assert again.status_code == 200, again.text
        client.get("/")
        chatbot = outputs(client, "respond", [NUL_QUESTION, [], 5, "auto", None, []])[0]
        assert chatbot[-1]["content"], "the UI answers it too"
