"""What is kept: conversations, answers and ratings in a database (SQLite or PostgreSQL, with
Alembic migrations), per-user API keys, owners, the chat's memory protocol and export."""

from typing import TYPE_CHECKING

from convention_qa._lazy import lazy_exports

if TYPE_CHECKING:
    from convention_qa.conversations.memory import ChatMemory, InMemoryChats
    from convention_qa.conversations.owners import ADMIN, Owner
    from convention_qa.conversations.records import ConversationSummary, FeedbackRecord, TurnRecord
    from convention_qa.conversations.store import ConversationStore, open_conversations

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
