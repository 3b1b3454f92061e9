"""The chat's handlers called as Gradio calls them, without a browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convention_qa.answering.assistant import Assistant
from convention_qa.answering.retrieval import Retriever
from convention_qa.chat import Chat
from convention_qa.config import Settings
from convention_qa.conversations.database import database_url
from convention_qa.conversations.owners import LOCAL
from convention_qa.conversations.store import open_conversations
from convention_qa.corpus.index import Store
from convention_qa.corpus.ingest import ingest
from convention_qa.web.ui import Services, build_ui
from convention_qa.web.ui_handlers import Handlers

from .fakes import HashingEmbeddings


class _Config:
    k, max_question_chars = 5, 2000


class _NoAssistant:
    """Stands in for the Assistant where the handler must not reach it."""

    config = _Config()

    def request(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a stopping server starts no new answer")


def handler(demo: Any, api_name: str) -> Any:
    fns = demo.fns.values() if isinstance(demo.fns, dict) else demo.fns
    return next(f.fn for f in fns if f.api_name == api_name)


def test_a_question_asked_while_the_server_stops_is_told_to_come_back() -> None:
    demo = build_ui(_NoAssistant(), lambda files: None, max_upload_mb=1, services=Services(stopping=lambda: True))  # type: ignore[arg-type, return-value]
    history, _, kept = handler(demo, "ask")("Berapa negara?", [], 5, "auto")
    assert "restarting" in history[-1]["content"] and kept == "Berapa negara?", "the question stays typed in"


def test_a_question_in_a_conversation_deleted_elsewhere_starts_a_new_one(
    store: Store, embedder: HashingEmbeddings, settings: Settings, tmp_path: Path
) -> None:
    ingest(store, embedder, settings)
    assistant = Assistant(Retriever(store, embedder))
    conversations = open_conversations(database_url(tmp_path, None))
    handlers = Handlers(Chat(assistant, conversations), Chat(assistant), conversations, lambda files: None)  # type: ignore[arg-type, return-value]
    *_, last = handlers.respond("Berapa negara yang menandatangani Konvensi Hanoi?", [], 5, "auto", "gone", [], None)
    history, _, _, conversation, ids, _ = last
    assert "69" in history[-1]["content"] and not history[-1]["content"].startswith("⚠️")
    assert conversation != "gone" and ids[-1] and [c.id for c in conversations.summaries(LOCAL)] == [conversation]


def test_the_chat_bubble_says_which_stage_the_answer_is_in(
    store: Store, embedder: HashingEmbeddings, settings: Settings
) -> None:
    ingest(store, embedder, settings)
    assistant = Assistant(Retriever(store, embedder))
    handlers = Handlers(Chat(assistant), Chat(assistant), None, lambda files: None)  # type: ignore[arg-type, return-value]
    bubbles = [
        step[0][-1]["content"]
        for step in handlers.respond("Berapa negara yang menandatangani Konvensi Hanoi?", [], 4, "auto", None, [], None)
    ]
    assert any("Reading the best sentences" in b for b in bubbles[:-1]), bubbles
    assert "69 negara" in bubbles[-1]


def test_an_upload_shows_the_ingests_progress(settings: Settings, embedder: HashingEmbeddings, tmp_path: Path) -> None:
    """The upload box's progress bar hears each batch: the share read, chunks/s and time left."""
    from convention_qa.corpus.index import open_store
    from convention_qa.corpus.uploads import add_files

    store = open_store(settings, embedder.model_id)
    article = tmp_path / "arsip.md"
    article.write_text(
        "---\nlanguage: id\n---\n" + "\n\n".join(f"Paragraf {i} tentang Konvensi Hanoi dan arsip." for i in range(300)),
        encoding="utf-8",
    )
    small = settings.model_copy(update={"embed_batch_size": 4})

    def upload(files: list[tuple[str, bytes]], on_progress: Any = None) -> Any:
        return add_files(files, small, store, embedder, on_progress=on_progress)

    handlers = Handlers(Chat(None), Chat(None), None, upload)  # type: ignore[arg-type]
    shown: list[tuple[float | None, str]] = []
    said = handlers.add([str(article)], progress=lambda share, desc="": shown.append((share, desc)))  # type: ignore[arg-type]
    assert "arsip.md" in said and shown, said
    assert shown[-1][0] == 1.0 and all("chunks/s" in desc and "Indexing" in desc for _, desc in shown)
    assert any("left" in desc for _, desc in shown)
