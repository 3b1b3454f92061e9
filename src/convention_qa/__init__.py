"""convention-qa: grounded, cited question answering over a corpus of news articles.

The centre of the design::

    factory = Factory(get_settings())            # builds everything from the settings
    assistant = factory.assistant()              # retriever + answer model + answer policy
    request = assistant.request("Berapa negara yang menandatangani Konvensi Hanoi?")
    answer = assistant.answer(request)           # Answer: text, citations, abstained, ...
    for event in assistant.stream(request): ...  # Token events, then one Final(answer)

``ingest`` builds the index the retriever reads; ``contract`` holds the typed records.
"""

from typing import TYPE_CHECKING

from convention_qa._lazy import lazy_exports

if TYPE_CHECKING:
    from convention_qa.answering.assistant import Assistant
    from convention_qa.answering.retrieval import Retriever
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
        Stage,
        Token,
        Update,
        follow,
    )
    from convention_qa.corpus.index import Store, open_store
    from convention_qa.corpus.ingest import IngestReport, ingest
    from convention_qa.errors import *  # noqa: F403  (the error types, as errors.__all__ lists them)
    from convention_qa.factory import Factory

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
