"""The real bundled embedders, end to end on the shipped corpus."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from convention_qa.config import Settings
from convention_qa.corpus.embeddings import make_embedder, model_id
from convention_qa.corpus.index import open_store
from convention_qa.corpus.ingest import ingest
from convention_qa.errors import EmbedderError

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Siapa yang mengambil foto panorama sesi diskusi?", "Jackie Chan"),
        ("How many countries signed the Hanoi Convention?", "69 negara"),
        ("Công ước Hà Nội có bao nhiêu điều khoản?", "68 pasal"),
    ],
)
def test_multilingual_default_finds_the_answer_passage(
    settings: Settings, question: str, expected: str, e5_store: object
) -> None:
    embedder, store = e5_store  # type: ignore[misc]
    hits = store.query(embedder.embed_query(question), k=3)
    assert any(expected in text for _, text, _, _ in hits), [t[:80] for _, t, _, _ in hits]


@pytest.fixture(scope="module")
def e5_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object]:
    root = Path(__file__).resolve().parent.parent
    settings = Settings(data_dir=tmp_path_factory.mktemp("e5"), corpus_dir=root / "corpus")
    embedder = make_embedder(settings.embedder)
    store = open_store(settings, model_id(embedder))
    report = ingest(store, embedder, settings)
    assert report.failed == [] and report.chunks > 5
    return embedder, store


def test_minilm_bundled_model_loads_offline() -> None:
    embedder = make_embedder("all-MiniLM-L6-v2")
    vectors = embedder.embed_documents(["The convention was signed in Hanoi.", "Weather today."])
    query = embedder.embed_query("Where was the convention signed?")
    assert len(query) == 384
    assert math.isclose(sum(v * v for v in vectors[0]), 1.0, rel_tol=1e-4)
    scores = [sum(a * b for a, b in zip(v, query, strict=True)) for v in vectors]
    assert scores[0] > scores[1]


def test_missing_model_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="cannot load sentence-transformers model"):
        make_embedder(str(tmp_path / "no-model-here" / "x"))
