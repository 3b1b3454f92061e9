"""One web server: the Gradio chat mounted on a FastAPI app. Built from settings at the entry point."""

from __future__ import annotations

import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from fastapi import FastAPI

from convention_qa.config import Settings
from convention_qa.factory import Factory
from convention_qa.ingest import ingest, ingest_lock
from convention_qa.library import add_files

__all__ = ["create_app", "run"]

log = logging.getLogger(__name__)


def create_app(factory: Factory) -> FastAPI:
    """The app for these collaborators; the index must exist (see ``run``)."""
    import gradio as gr

    from convention_qa.ui import CSS, build_ui

    settings = factory.settings
    assistant = factory.assistant()
    store = assistant.retriever.store

    def upload(files: list[tuple[str, bytes]]):  # type: ignore[no-untyped-def]
        return add_files(files, settings, store, factory.embedder())

    app = FastAPI(title="convention-qa", version="0.1.0")

    @app.get("/health")
    def health() -> dict[str, object]:
        return {
            "status": "ok",
            "chunks": store.count(),
            "embedder": store.embedder_id,
            "llm": "extractive" if assistant.chat_model is None else settings.llm,
        }

    demo = build_ui(assistant, upload, max_upload_mb=settings.max_file_mb, k_default=settings.top_k)
    mounted: FastAPI = gr.mount_gradio_app(
        app, demo, path="", css=CSS, footer_links=[], max_file_size=int(settings.max_file_mb * 1_000_000)
    )
    return mounted


def ensure_index(factory: Factory) -> None:
    """Index the corpus folder if this embedder has no index yet (a fresh clone's first run)."""
    store = factory.store()
    if store.count() == 0:
        log.warning("no index yet: ingesting %s", factory.settings.corpus_dir)
        with ingest_lock(factory.settings.data_dir):
            report = ingest(store, factory.embedder(), factory.settings)
        for failure in report.failed:
            log.warning("skipped %s: %s", failure.path, failure.error)


def run(settings: Settings) -> None:
    import uvicorn

    factory = Factory(settings)
    ensure_index(factory)
    app = create_app(factory)
    print(f"convention-qa: open http://{settings.host}:{settings.port}", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
