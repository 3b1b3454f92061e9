from __future__ import annotations

import os

# Nothing in the tests may reach beyond loopback: no model hub, no telemetry.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import shutil
from pathlib import Path

import pytest

from convention_qa.answering.retrieval import Retriever
from convention_qa.config import Settings
from convention_qa.corpus.index import Store, open_store
from convention_qa.corpus.ingest import ingest

from .fakes import HashingEmbeddings

ROOT = Path(__file__).resolve().parent.parent
# A frozen copy of the shipped article: tests that rely on its facts read this, so that editing
# corpus/ cannot break them.
FROZEN_CORPUS = ROOT / "tests" / "data" / "corpus"
SEED_ARTICLE = FROZEN_CORPUS / "hanoi-convention-high-level-session.md"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the developer's environment or config file."""
    for name in list(os.environ):
        if name.startswith("CONVENTION_QA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(SEED_ARTICLE, folder / SEED_ARTICLE.name)
    return folder


@pytest.fixture
def settings(tmp_path: Path, corpus: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", corpus_dir=corpus)


@pytest.fixture
def embedder() -> HashingEmbeddings:
    return HashingEmbeddings()


@pytest.fixture
def store(settings: Settings, embedder: HashingEmbeddings) -> Store:
    return open_store(settings, embedder.model_id)


# The quick loop (`make check`, `pytest -m quick`): every test that needs no real model, server or
# browser (not `integration`), except the modules that start the whole web app for most of their
# tests or run long property-based searches. `make test` runs everything.
SLOW_MODULES = {"test_api", "test_api_schema", "test_evaluation", "test_feedback_api", "test_fuzz", "test_owners"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        if item.get_closest_marker("integration") is None and module not in SLOW_MODULES:
            item.add_marker(pytest.mark.quick)


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    """One index of the seed article per test module, with the fake embedder: the tests only read it."""
    folder = tmp_path_factory.mktemp("answering")
    (folder / "corpus").mkdir()
    shutil.copy(SEED_ARTICLE, folder / "corpus" / SEED_ARTICLE.name)
    with pytest.MonkeyPatch.context() as patch:  # no CONVENTION_QA_* setting from outside
        for name in [n for n in os.environ if n.startswith("CONVENTION_QA_")]:
            patch.delenv(name)
        settings = Settings(data_dir=folder / "data", corpus_dir=folder / "corpus")
        embedder = HashingEmbeddings()
        store = open_store(settings, embedder.model_id)
        ingest(store, embedder, settings)
    return Retriever(store, embedder)
