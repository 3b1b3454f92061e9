"""FastAPI dependencies: the collaborators a route needs, read from the app's state.

``create_app`` puts them on ``app.state``; a test replaces any of them with
``app.dependency_overrides[get_assistant] = ...``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from convention_qa.answering import Assistant
from convention_qa.config import Settings
from convention_qa.conversations import ConversationStore
from convention_qa.errors import NotFoundError
from convention_qa.factory import Factory
from convention_qa.index import Store
from convention_qa.owners import Identities, Owner
from convention_qa.sessions import ChatMemory, SessionStore

__all__ = [
    "AnswerConfigDep",
    "AssistantDep",
    "ConversationsDep",
    "FactoryDep",
    "MemoryDep",
    "OwnerDep",
    "SessionsDep",
    "SettingsDep",
    "StoreDep",
    "get_answer_config",
    "get_assistant",
    "get_conversations",
    "get_factory",
    "get_memory",
    "get_owner",
    "get_sessions",
    "get_settings",
    "get_store",
    "require_owner",
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


def get_owner(request: Request) -> Owner:
    """Who the request acts for (``owners.py``); AccessError (401) when it names no one it may."""
    identities: Identities = request.app.state.identities
    return identities.of(request)


OwnerDep = Annotated[Owner, Depends(get_owner)]


def require_owner(owner: OwnerDep) -> None:
    """Every API route needs an owner: a key when CONVENTION_QA_API_KEY is set."""
