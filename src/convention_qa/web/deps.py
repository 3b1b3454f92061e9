"""FastAPI dependencies: the collaborators a route needs, read from the app's state.

``create_app`` puts them on ``app.state``; a test replaces any of them with
``app.dependency_overrides[get_assistant] = ...``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from convention_qa.answering.assistant import Assistant
from convention_qa.chat import Chat
from convention_qa.config import Settings
from convention_qa.conversations.memory import InMemoryChats
from convention_qa.conversations.owners import Owner
from convention_qa.conversations.store import ConversationStore
from convention_qa.corpus.index import Store
from convention_qa.errors import NotFoundError
from convention_qa.factory import Factory
from convention_qa.web.identity import COOKIE, KEY_COOKIE, Identities

__all__ = [
    "AssistantDep",
    "ChatDep",
    "ConversationsDep",
    "FactoryDep",
    "OwnerDep",
    "SessionsDep",
    "SettingsDep",
    "StoreDep",
    "get_assistant",
    "get_chat",
    "get_conversations",
    "get_factory",
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


def get_sessions(request: Request) -> InMemoryChats:
    sessions: InMemoryChats = request.app.state.sessions
    return sessions


def get_chat(request: Request) -> Chat:
    """Chat turns, kept in the conversation database (or, storage off, in memory)."""
    chat: Chat = request.app.state.chat
    return chat


def get_conversations(request: Request) -> ConversationStore:
    store: ConversationStore | None = request.app.state.conversations
    if store is None:
        raise NotFoundError(
            "conversations are not stored on this server (CONVENTION_QA_CONVERSATIONS=false): "
            "there are no saved conversations or answers to rate"
        )
    return store


FactoryDep = Annotated[Factory, Depends(get_factory)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AssistantDep = Annotated[Assistant, Depends(get_assistant)]
StoreDep = Annotated[Store, Depends(get_store)]
SessionsDep = Annotated[InMemoryChats, Depends(get_sessions)]
ChatDep = Annotated[Chat, Depends(get_chat)]
ConversationsDep = Annotated[ConversationStore, Depends(get_conversations)]


def get_owner(request: Request) -> Owner:
    """Who the request acts for (``owners.py``); AccessError (401) when it names no one it may."""
    identities: Identities = request.app.state.identities
    return identities.of(request)


OwnerDep = Annotated[Owner, Depends(get_owner)]


# How a request names its owner, declared for /openapi.json (``Identities.of`` decides): any one of them.
_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="key",
    description="The admin key (CONVENTION_QA_API_KEY) or a user key (`convention-qa keys create NAME`). "
    "Required when the server has an admin key; a conversation belongs to the key that started it.",
)
_KEY_COOKIE = APIKeyCookie(
    name=KEY_COOKIE,
    auto_error=False,
    scheme_name="signed-in browser",
    description="The key, as the web UI's sign-in (POST /sign-in) keeps it: HttpOnly, SameSite=Lax.",
)
_OWNER_COOKIE = APIKeyCookie(
    name=COOKIE,
    auto_error=False,
    scheme_name="anonymous browser",
    description="Servers without an admin key: the signed, timestamped anonymous owner the server sets on "
    "the first response (ANONYMOUS_COOKIE_DAYS). Send it back to continue your conversations.",
)


def require_owner(
    owner: OwnerDep,
    _key: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)] = None,
    _signed_in: Annotated[str | None, Security(_KEY_COOKIE)] = None,
    _anonymous: Annotated[str | None, Security(_OWNER_COOKIE)] = None,
) -> None:
    """Every API route needs an owner: a key when CONVENTION_QA_API_KEY is set."""
