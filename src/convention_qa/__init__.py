"""convention-qa: grounded, cited question answering over a corpus of news articles.

The centre of the design::

    factory = Factory(get_settings())            # builds everything from the settings
    assistant = factory.assistant()              # retriever + answer model + answer policy
    request = assistant.request("Berapa negara yang menandatangani Konvensi Hanoi?")
    answer = assistant.answer(request)           # Answer: text, citations, abstained, ...
    for event in assistant.stream(request): ...  # Token events, then one Final(answer)

``ingest`` builds the index the retriever reads; ``contract`` holds the typed records.
"""

from convention_qa.answering import Assistant
from convention_qa.config import AnswerConfig, Settings, get_settings
from convention_qa.contract import (
    Answer,
    AnswerRequest,
    ChunkMeta,
    Citation,
    Event,
    Final,
    Passage,
    Signals,
    Token,
    Update,
    follow,
)
from convention_qa.errors import (
    ConfigError,
    ConventionQAError,
    DocumentError,
    EmbedderError,
    ModelError,
    NotFoundError,
    QuestionError,
    StoreError,
)
from convention_qa.factory import Factory
from convention_qa.index import Store, open_store
from convention_qa.ingest import IngestReport, ingest
from convention_qa.retrieval import Retriever

__all__ = [
    "Answer",
    "AnswerConfig",
    "AnswerRequest",
    "Assistant",
    "ChunkMeta",
    "Citation",
    "ConfigError",
    "ConventionQAError",
    "DocumentError",
    "EmbedderError",
    "Event",
    "Factory",
    "Final",
    "IngestReport",
    "ModelError",
    "NotFoundError",
    "Passage",
    "QuestionError",
    "Retriever",
    "Settings",
    "Signals",
    "Store",
    "StoreError",
    "Token",
    "Update",
    "follow",
    "get_settings",
    "ingest",
    "open_store",
]
