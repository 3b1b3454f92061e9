"""The exceptions convention-qa raises on purpose.

Every message says what went wrong and how to fix it; entry points (CLI, API, UI) show the
message as it is, without a traceback.

    ConventionQAError
    ├── ConfigError        a setting is invalid or a config file cannot be read
    ├── DocumentError      one input file cannot be ingested (empty, binary, too big, ...)
    ├── EmbedderError      the embedding model cannot be loaded
    ├── StoreError         the vector store is missing, unreachable or built differently
    ├── ConversationError  the conversation database cannot be opened, migrated or written
    ├── ModelError         the chat model is not installed or its server cannot be reached
    ├── NotFoundError      a session, conversation or document that does not exist
    ├── QuestionError      the question is empty or too long
    ├── AccessError        the request's key is wrong or missing where one is required
    └── RequestError       the request itself is malformed (a header sent twice)
"""

from __future__ import annotations

__all__ = [
    "AccessError",
    "ConfigError",
    "ConventionQAError",
    "ConversationError",
    "DocumentError",
    "EmbedderError",
    "ModelError",
    "NotFoundError",
    "QuestionError",
    "RequestError",
    "StoreError",
]


class ConventionQAError(Exception):
    """Base class: an error whose message tells the user what to do."""


class ConfigError(ConventionQAError):
    """A setting is invalid or the config file cannot be read."""


class DocumentError(ConventionQAError):
    """One input file cannot be ingested; the message is the reason."""


class EmbedderError(ConventionQAError):
    """The embedding model cannot be loaded or used."""


class StoreError(ConventionQAError):
    """The vector store is missing, unreachable, or was built with another embedder."""


class ConversationError(ConventionQAError):
    """The conversation database cannot be opened, migrated or written (not the vector store)."""


class ModelError(ConventionQAError):
    """The chat model is not installed, or its server cannot be reached."""


class QuestionError(ConventionQAError):
    """The question cannot be asked as it is (empty, too long)."""


class NotFoundError(ConventionQAError):
    """What the request names (a session, a conversation, a document) does not exist."""


class AccessError(ConventionQAError):
    """The request's key is wrong, revoked, or missing where the server requires one."""


class RequestError(ConventionQAError):
    """The request itself is malformed: not a question, a document or a key (a header sent twice)."""
