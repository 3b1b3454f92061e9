"""Articles in: load and clean files, the article header, chunking, embeddings, the Chroma index,
incremental ingest and uploads."""

from typing import TYPE_CHECKING

from convention_qa._lazy import lazy_exports

if TYPE_CHECKING:
    from convention_qa.corpus.documents import Article, load_article
    from convention_qa.corpus.embeddings import make_embedder
    from convention_qa.corpus.index import Store, open_store
    from convention_qa.corpus.ingest import IngestReport, ingest
    from convention_qa.corpus.uploads import UploadResult, add_files

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
