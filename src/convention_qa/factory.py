"""Build the real collaborators from settings. Only entry points call this; tests pass fakes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from langchain_core.embeddings import Embeddings
from langchain_core.language_models.chat_models import BaseChatModel

from convention_qa.answering.assistant import Assistant
from convention_qa.answering.llm import make_chat_model
from convention_qa.answering.points import operating_points
from convention_qa.answering.policy import load_policy
from convention_qa.answering.prompts import Prompts
from convention_qa.answering.retrieval import Retriever
from convention_qa.answering.verdict import load_verdict
from convention_qa.chat import Chat
from convention_qa.config import Settings
from convention_qa.conversations.database import database_url
from convention_qa.conversations.memory import ChatMemory
from convention_qa.conversations.store import ConversationStore, open_conversations
from convention_qa.corpus.embeddings import make_embedder, model_id
from convention_qa.corpus.index import Store, open_store
from convention_qa.errors import StoreError

__all__ = ["Factory", "answer_config", "backend_name", "exchanges_for"]


@dataclass
class Factory:
    """Makes the embedder, store, chat model and assistant; each maker can be replaced."""

    settings: Settings
    make_embedder: Callable[[str], Embeddings] = make_embedder
    make_chat_model: Callable[[Settings], BaseChatModel | None] = make_chat_model
    _embedder: Embeddings | None = field(default=None, init=False)

    def embedder(self) -> Embeddings:
        """The embedder the settings name: on an embeddings server (EMBEDDER_URL), or in-process."""
        if self._embedder is None:
            if self.settings.embedder_url:
                from convention_qa.corpus.remote_embeddings import RemoteEmbeddings

                self._embedder = RemoteEmbeddings.from_settings(self.settings)
            else:
                self._embedder = self.make_embedder(self.settings.embedder)
        return self._embedder

    def with_settings(self, settings: Settings) -> Factory:
        """A factory for other settings that shares this one's makers and loaded embedder."""
        other = Factory(settings, self.make_embedder, self.make_chat_model)
        if (settings.embedder, settings.embedder_url) == (self.settings.embedder, self.settings.embedder_url):
            other._embedder = self._embedder
        return other

    def conversations(self) -> ConversationStore | None:
        """The conversation database, migrated; None when CONVENTION_QA_CONVERSATIONS=false."""
        s = self.settings
        if not s.conversations:
            return None
        return open_conversations(
            database_url(s.data_dir, s.database_url),
            history_exchanges=exchanges_for(s.history_messages),
            retention_days=s.retention_days,
            anonymous_retention_days=s.anonymous_retention_days or None,
        )

    def store(self, *, reset: bool = False) -> Store:
        return open_store(self.settings, model_id(self.embedder()), reset=reset)

    def assistant(self, *, require_index: bool = True) -> Assistant:
        store = self.store()
        if require_index and store.count() == 0:
            raise StoreError(
                "no index yet for this embedder: run `convention-qa ingest` first "
                f"(data directory {self.settings.data_dir})"
            )
        s = self.settings
        chat_model = self.make_chat_model(s)
        return Assistant(
            retriever=Retriever(store, self.embedder()),
            chat_model=chat_model,
            prompts=Prompts(s.prompts_dir) if s.prompts_dir else Prompts(),
            policy=load_policy(s.policy),
            verdict=load_verdict(),
            points=operating_points(s.operating_points, extractive=chat_model is None),
            config=s.answering,
        )

    def chat(self, assistant: Assistant, memory: ChatMemory | None) -> Chat:
        """Chat turns on this assistant, kept in ``memory``, each answer stored with what produced it."""
        return Chat(assistant, memory, answer_config(self.settings, assistant))


def exchanges_for(history_messages: int) -> int:
    """How many past exchanges to keep so that ``history_messages`` messages can be read."""
    return max(1, (history_messages + 1) // 2)


def backend_name(settings: Settings, assistant: Assistant) -> str:
    """The answer backend as reports and /health name it: ``extractive`` when there is no model."""
    return "extractive" if assistant.chat_model is None else settings.llm


def answer_config(settings: Settings, assistant: Assistant) -> dict[str, object]:
    """What produced an answer, stored with it: embedder, answer backend, prompts, policy."""
    backend = backend_name(settings, assistant)
    return {
        "embedder": assistant.retriever.store.embedder_id,
        "llm": backend,
        "llm_model": settings.llm_model if backend in ("openai", "ollama") else None,
        "prompt_version": assistant.prompts.version(),
        "policy": settings.policy,
        "strictness": settings.strictness,
        "top_k": settings.top_k,
    }
