"""FastAPI dependencies: the collaborators a route needs, read from the app's state.

``create_app`` puts them on ``app.state``; a test replaces any of them with
``app.dependency_overrides[get_assistant] = ...``.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from convention_qa.answering import Assistant
from convention_qa.config import Settings
from convention_qa.conversations import ConversationStore
from convention_qa.errors import NotFoundError
from convention_qa.factory import Factory
from convention_qa.index import Store
from convention_qa.sessions import ChatMemory, SessionStore

__all__ = [
    "AnswerConfigDep",
    "AssistantDep",
    "ConversationsDep",
    "FactoryDep",
    "MemoryDep",
    "SessionsDep",
    "SettingsDep",
    "StoreDep",
    "get_answer_config",
    "get_assistant",
    "get_conversations",
    "get_factory",
    "get_memory",
    "get_sessions",
    "get_settings",
    "get_store",
    "key_matches",
    "require_key",
]


def get_factory(request: Request) -> Factory:
    factory: Factory = request.app.state.factory
    return factory


def get_settings(request: Request) -> Settings:
    return get_factory(request).settings


def get_assistant(request: Request) -> Assistant:
    assistant: Assistant = request.app.state.assistant
    return assistant


def get_store(assistant: Annotated[Assistant, Depends(get_assistant)]) -> Store:
    return assistant.retriever.store


def get_sessions(request: Request) -> SessionStore:
    sessions: SessionStore = request.app.state.sessions
    return sessions


def get_memory(request: Request) -> ChatMemory:
    """Where /api/chat keeps conversations: the database, or (storage off) memory."""
    memory: ChatMemory = request.app.state.conversations or request.app.state.sessions
    return memory


def get_conversations(request: Request) -> ConversationStore:
    store: ConversationStore | None = request.app.state.conversations
    if store is None:
        raise NotFoundError(
            "conversations are not stored on this server (CONVENTION_QA_CONVERSATIONS=false): "
            "there are no saved conversations or answers to rate"
        )
    return store


def get_answer_config(request: Request) -> dict[str, object]:
    """What produces this server's answers (embedder, backend, prompt version, ...), worked out
    once at start-up and stored with every answer."""
    config: dict[str, object] = request.app.state.answer_config
    return config


FactoryDep = Annotated[Factory, Depends(get_factory)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AssistantDep = Annotated[Assistant, Depends(get_assistant)]
StoreDep = Annotated[Store, Depends(get_store)]
SessionsDep = Annotated[SessionStore, Depends(get_sessions)]
MemoryDep = Annotated[ChatMemory, Depends(get_memory)]
ConversationsDep = Annotated[ConversationStore, Depends(get_conversations)]
AnswerConfigDep = Annotated[dict[str, object], Depends(get_answer_config)]


def key_matches(request: Request, api_key: str | None) -> bool:
    """Whether the request carries the key (``Authorization: Bearer KEY`` or the UI's cookie)."""
    if not api_key:
        return True
    header = request.headers.get("authorization", "")
    given = header[7:] if header.lower().startswith("bearer ") else request.cookies.get("convention_qa_key", "")
    return hmac.compare_digest(given.encode(), api_key.encode())


def require_key(request: Request, settings: SettingsDep) -> None:
    """Requires ``Authorization: Bearer KEY`` when CONVENTION_QA_API_KEY is set."""
    if not key_matches(request, settings.api_key):
        raise HTTPException(
            401,
            "missing or wrong API key: send `Authorization: Bearer KEY`",
            headers={"WWW-Authenticate": "Bearer"},
        )
