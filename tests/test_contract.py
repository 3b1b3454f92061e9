"""The typed contract between the pipeline and its surfaces: one request, typed events, one
answer schema, one error mapping, limits defined once, routes whose collaborators are injected."""

from __future__ import annotations

import inspect

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

import convention_qa
from convention_qa import errors
from convention_qa.answering.assistant import Assistant
from convention_qa.answering.retrieval import Retriever
from convention_qa.chat import Chat
from convention_qa.config import MAX_K, Settings, get_settings
from convention_qa.contract import Answer, ChunkMeta, Final, Token, follow
from convention_qa.conversations.memory import InMemoryChats
from convention_qa.conversations.owners import Owner
from convention_qa.corpus.index import Store
from convention_qa.corpus.ingest import ingest
from convention_qa.errors import ConfigError, ConventionQAError
from convention_qa.factory import Factory
from convention_qa.web import api, openai_compat
from convention_qa.web.deps import get_assistant, get_chat, get_owner
from convention_qa.web.deps import get_settings as settings_dep
from convention_qa.web.transport import STATUS, error_status, install_error_handlers

from .fakes import HashingEmbeddings, ScriptedChatModel


def final(text: str) -> Final:
    return Final(Answer(question="q", text=text, abstained=False))


def test_follow_sends_only_the_missing_tail_when_the_final_text_continues_the_stream() -> None:
    updates = list(follow(iter([Token("69 "), Token("negara"), final("69 negara [1].")])))
    assert [u.delta for u in updates] == ["69 ", "negara", " [1]."]
    assert [u.text for u in updates] == ["69 ", "69 negara", "69 negara [1]."]
    assert updates[-1].answer is not None and not updates[-1].replaced


def test_follow_replaces_what_was_streamed_when_the_final_text_differs() -> None:
    updates = list(follow(iter([Token("Sebanyak 96"), final("Sebanyak 69 negara [1].")])))
    assert updates[-1].replaced and updates[-1].delta == "" and updates[-1].text == "Sebanyak 69 negara [1]."


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_every_error_type_has_a_status_chosen_on_purpose() -> None:
    declared = [obj for _, obj in inspect.getmembers(errors, inspect.isclass) if issubclass(obj, ConventionQAError)]
    for cls in {*declared, *_subclasses(ConventionQAError)} - {ConventionQAError}:
        assert any(base in STATUS for base in cls.__mro__), f"{cls.__name__} has no HTTP status in transport.STATUS"
    assert error_status(errors.QuestionError("x")) == 400 and error_status(errors.ModelError("x")) == 502
    assert error_status(ConventionQAError("unmapped")) == 500, "an unmapped error is not passed off as the caller's"


def test_routes_take_their_collaborators_from_dependencies(
    store: Store, embedder: HashingEmbeddings, settings: Settings
) -> None:
    ingest(store, embedder, settings)
    model = ScriptedChatModel(replies=["Sebanyak 69 negara menandatangani Konvensi Hanoi [1]."])
    assistant = Assistant(Retriever(store, embedder), model)  # type: ignore[arg-type]
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(api.router)
    app.include_router(openai_compat.router)
    app.dependency_overrides[get_assistant] = lambda: assistant
    app.dependency_overrides[settings_dep] = lambda: settings
    app.dependency_overrides[get_chat] = lambda: Chat(assistant, InMemoryChats())
    app.dependency_overrides[get_owner] = lambda: Owner("key:test")
    client = TestClient(app)
    data = client.post("/api/ask", json={"question": "Berapa negara yang menandatangani Konvensi Hanoi?"}).json()
    assert "69 negara" in data["answer"] and data["citations"] and "closest" in data
    chat = client.post("/api/chat", json={"message": "Berapa negara yang menandatangani Konvensi Hanoi?"}).json()
    assert chat["session_id"] and "69 negara" in chat["answer"]
    assert client.post("/api/ask", json={"question": "   "}).status_code == 400
    assert len(model.prompts) == 2, "the overriding assistant answered both"


def test_one_k_limit_for_every_surface(settings: Settings) -> None:
    from convention_qa.cli import main

    with pytest.raises(ConfigError):
        get_settings(top_k=MAX_K + 1)
    assert api.AskRequest.model_fields["k"].metadata[-1].le == MAX_K  # type: ignore[attr-defined]
    result = CliRunner().invoke(main, ["ask", "-k", str(MAX_K + 1), "Berapa negara?"])
    assert result.exit_code == 2 and f"1<=x<={MAX_K}" in result.output


def test_the_assistant_is_built_from_the_answering_section_of_the_settings(settings: Settings) -> None:
    tuned = settings.model_copy(update={"top_k": 7, "evidence_tokens": 99, "history_messages": 2})
    embedder = HashingEmbeddings()
    factory = Factory(tuned, make_embedder=lambda name: embedder, make_chat_model=lambda s: None)
    assistant = factory.assistant(require_index=False)
    assert assistant.config == tuned.answering
    assert assistant.request("Berapa negara?").k == 7
    with pytest.raises(errors.QuestionError, match=f"between 1 and {MAX_K}"):
        assistant.request("Berapa negara?", k=MAX_K + 1)


def test_chunk_metadata_is_one_record_from_ingest_to_answer(
    store: Store, embedder: HashingEmbeddings, settings: Settings
) -> None:
    ingest(store, embedder, settings)
    rows = store.chunks()
    assert rows and all(isinstance(row.meta, ChunkMeta) for row in rows)
    assert {row.meta.kind for row in rows} == {"paragraph", "caption", "header"}
    stored = rows[0].meta.to_store()
    assert None not in stored.values(), "Chroma stores no None"
    assert ChunkMeta.model_validate({**stored, "retired_key": 1}) == rows[0].meta, "unknown keys of older indexes"
    hit = store.query(embedder.embed_query("Konvensi Hanoi"), 1)[0]
    assert (hit.id, hit.meta) == (hit[0], hit[2]) and 0 <= hit.similarity <= 1


def test_the_package_exports_the_centre_of_the_design() -> None:
    for name in ("Assistant", "Answer", "AnswerRequest", "Retriever", "Factory", "Token", "Final", "follow"):
        assert name in convention_qa.__all__
    assert all(getattr(convention_qa, name) is not None for name in convention_qa.__all__)
