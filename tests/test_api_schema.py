"""Property-based API testing: schemathesis generates requests from the OpenAPI schema; none may
get a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from convention_qa.config import Settings
from convention_qa.corpus.ingest import ingest
from convention_qa.factory import Factory
from convention_qa.web.server import create_app

from .conftest import SEED_ARTICLE
from .fakes import HashingEmbeddings


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("schema")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / SEED_ARTICLE.name).write_bytes(SEED_ARTICLE.read_bytes())
    config = Settings(data_dir=root / "data", corpus_dir=corpus, llm="extractive", policy="off")
    embedder = HashingEmbeddings()
    factory = Factory(config, make_embedder=lambda name: embedder, make_chat_model=lambda s: None)
    ingest(factory.store(), embedder, config)
    app = create_app(factory)
    return schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex=r"^/(api|v1|health)")


def test_no_input_makes_the_server_fail(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 8, [op.label for op in operations]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case: Any) -> None:
            response = case.call()
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
            )

        no_server_error()
