"""One chat turn for every surface (chat.py): history from the memory, the answer kept once it is
final, nothing kept when answering fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from convention_qa.answering.assistant import Assistant
from convention_qa.answering.retrieval import Retriever
from convention_qa.chat import Chat, messages
from convention_qa.config import Settings
from convention_qa.contract import Answer, Exchange
from convention_qa.conversations.database import database_url
from convention_qa.conversations.memory import InMemoryChats
from convention_qa.conversations.owners import Owner
from convention_qa.conversations.store import ConversationStore, open_conversations
from convention_qa.corpus.index import Store
from convention_qa.corpus.ingest import ingest
from convention_qa.errors import ModelError, NotFoundError
from convention_qa.web import api
from convention_qa.web.deps import get_chat, get_owner
from convention_qa.web.transport import install_error_handlers

from .fakes import HashingEmbeddings, ScriptedChatModel, UnreachableChatModel

ME = Owner("key:me")
SIGNED = "Berapa negara yang menandatangani Konvensi Hanoi?"


@pytest.fixture
def retriever(store: Store, embedder: HashingEmbeddings, settings: Settings) -> Retriever:
    ingest(store, embedder, settings)
    return Retriever(store, embedder)


@pytest.fixture
def conversations(tmp_path: Path) -> ConversationStore:
    return open_conversations(database_url(tmp_path, None))


def test_messages_are_built_from_exchanges() -> None:
    assert messages([Exchange("q1", "a1"), Exchange("q2", "a2")]) == [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"},
    ]


def test_a_failed_answer_leaves_no_conversation(retriever: Retriever, conversations: ConversationStore) -> None:
    chat = Chat(Assistant(retriever, UnreachableChatModel()), conversations)  # type: ignore[arg-type]
    turn = chat.turn(SIGNED, ME)
    with pytest.raises(ModelError):
        chat.answer(turn)
    assert conversations.summaries(ME) == [] and turn.conversation_id is None


def test_the_api_keeps_no_empty_conversation_when_the_model_fails(
    retriever: Retriever, conversations: ConversationStore
) -> None:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(api.router)
    failing = Chat(Assistant(retriever, UnreachableChatModel()), conversations)  # type: ignore[arg-type]
    app.dependency_overrides[get_chat] = lambda: failing
    app.dependency_overrides[get_owner] = lambda: ME
    client = TestClient(app)
    assert client.post("/api/chat", json={"message": SIGNED}).status_code == 502
    streamed = client.post("/api/chat", json={"message": SIGNED, "stream": True}).text
    assert '"type": "error"' in streamed and '"status": 502' in streamed
    assert conversations.counts() == {"conversations": 0, "answers": 0, "feedback": 0}


def test_a_follow_up_reads_its_conversation_from_the_memory(
    retriever: Retriever, conversations: ConversationStore
) -> None:
    model = ScriptedChatModel(replies=["Sebanyak 69 negara [1].", "Konvensi itu 68 pasal [1]."])
    chat = Chat(Assistant(retriever, model), conversations, {"llm": "scripted"})  # type: ignore[arg-type]
    first = chat.turn(SIGNED, ME)
    chat.answer(first)
    assert first.conversation_id and first.answer_id
    follow_up = chat.turn("Berapa pasalnya?", ME, conversation_id=first.conversation_id)
    assert first.answer and [m["content"] for m in follow_up.request.history] == [SIGNED, first.answer.text]
    chat.answer(follow_up)
    _, turns = conversations.get(first.conversation_id, ME)
    assert [t.question for t in turns] == [SIGNED, "Berapa pasalnya?"] and turns[1].config == {"llm": "scripted"}
    with pytest.raises(NotFoundError):  # another owner's conversation is not there to continue
        chat.turn("Berapa pasalnya?", Owner("key:other"), conversation_id=first.conversation_id)


def test_an_answer_whose_conversation_went_meanwhile_starts_a_new_one(
    retriever: Retriever, conversations: ConversationStore
) -> None:
    chat = Chat(Assistant(retriever, ScriptedChatModel(replies=["Sebanyak 69 negara [1]."] * 2)), conversations)  # type: ignore[arg-type]
    first = chat.turn(SIGNED, ME)
    chat.answer(first)
    assert first.conversation_id
    again = chat.turn(SIGNED, ME, conversation_id=first.conversation_id)
    conversations.delete(first.conversation_id, ME)  # deleted in another tab while this one answers
    chat.answer(again)
    assert again.conversation_id not in (None, first.conversation_id) and again.answer_id
    assert [c.id for c in conversations.summaries(ME)] == [again.conversation_id]


def test_in_memory_chats_keep_the_last_exchanges(retriever: Retriever) -> None:
    chat = Chat(Assistant(retriever), InMemoryChats(max_exchanges=1))
    first = chat.turn(SIGNED, ME)
    chat.answer(first)
    second = chat.turn("Berapa pasal yang dimiliki Konvensi Hanoi?", ME, conversation_id=first.conversation_id)
    chat.answer(second)
    assert second.conversation_id == first.conversation_id and second.answer_id is None  # nothing to rate
    third = chat.turn("Dan?", ME, conversation_id=first.conversation_id)
    assert third.request.history[0]["content"] == "Berapa pasal yang dimiliki Konvensi Hanoi?"


def test_rated_answers_load_their_earlier_questions_in_one_query(conversations: ConversationStore) -> None:
    for n in range(5):
        conversation = conversations.start("t", ME)
        for i in range(3):
            answer = Answer(question=f"q{n}.{i}", text=f"a{i}", abstained=False)
            answer_id = conversations.record(conversation, f"q{n}.{i}", answer, {}, ME)
            conversations.rate(answer_id or "", "down", ME)
    statements: list[str] = []
    event.listen(conversations.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    rated = conversations.rated(ME)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(rated) == 15 and len(selects) == 2, "the rated answers, then every earlier question at once"
    assert [r.history for r in rated if r.question == "q3.2"] == [("q3.0", "q3.1")]
