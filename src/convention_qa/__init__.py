"""convention-qa: grounded, cited question answering over a corpus of news articles."""

from convention_qa.chunking import Chunk, split
from convention_qa.config import Settings, get_settings
from convention_qa.documents import Article, Block, load_article
from convention_qa.errors import (
    ConfigError,
    ConventionQAError,
    DocumentError,
    EmbedderError,
    StoreError,
)
from convention_qa.index import Store, open_store
from convention_qa.ingest import IngestReport, ingest

__all__ = [
    "Article",
    "Block",
    "Chunk",
    "ConfigError",
    "ConventionQAError",
    "DocumentError",
    "EmbedderError",
    "IngestReport",
    "Settings",
    "Store",
    "StoreError",
    "get_settings",
    "ingest",
    "load_article",
    "open_store",
    "split",
]
