"""Fuzzing that keeps hostile input harmless: arbitrary files thrown at ingest, arbitrary JSON
(lone surrogates, NaN, huge numbers, deep nesting) thrown at every route. No crash, no 5xx,
nothing previously indexed lost, and the server still answers afterwards."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convention_qa.config import Settings
from convention_qa.corpus.documents import SUPPORTED_SUFFIXES
from convention_qa.corpus.index import open_store
from convention_qa.corpus.ingest import ingest

from .conftest import SEED_ARTICLE
from .fakes import HashingEmbeddings
from .test_api import start_server, stop_server

SEED_ID = "hanoi-convention-high-level-session"
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)

surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3)
odd_text = st.one_of(st.text(max_size=200), surrogates, st.just("x" * 30_000), st.just(""))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    odd_text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def _front_matter(values: dict[str, Any]) -> bytes:
    lines = [f"{key}: {json.dumps(value, allow_nan=True)}" for key, value in values.items()]
    return ("---\n" + "\n".join(lines) + "\n---\n").encode("utf-8", "surrogatepass")


files = st.tuples(
    st.sampled_from([*SUPPORTED_SUFFIXES, ".docx", ""]),
    st.one_of(
        st.binary(max_size=3000),
        st.text(max_size=3000).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.builds(
            lambda meta, body: _front_matter(meta) + body.encode("utf-8", "surrogatepass"),
            st.dictionaries(st.sampled_from(["id", "title", "date", "source", "language", "x"]), scalars, max_size=5),
            st.text(max_size=500),
        ),
        st.binary(max_size=2000).map(lambda b: b"%PDF-1.4\n" + b),
        st.integers(1, 3000).map(lambda n: b"<div>" * n + b"x"),
        st.integers(1, 20_000).map(lambda n: b"![" * n),
    ),
)


def test_arbitrary_files_never_stop_an_ingest_or_lose_an_article(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("fuzz-files")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / SEED_ARTICLE.name).write_bytes(SEED_ARTICLE.read_bytes())
    config = Settings(data_dir=root / "data", corpus_dir=corpus)
    embedder = HashingEmbeddings()
    store = open_store(config, embedder.model_id)
    ingest(store, embedder, config)
    seed_chunks = store.documents()[SEED_ID].chunk_ids
    counter = [0]

    @given(batch=st.lists(files, min_size=1, max_size=3))
    @FUZZ
    def check(batch: list[tuple[str, bytes]]) -> None:
        written = []
        for suffix, data in batch:
            counter[0] += 1
            path = corpus / f"fuzz-{counter[0]}{suffix}"
            path.write_bytes(data)
            written.append(path)
        report = ingest(store, embedder, config)  # must not raise
        assert all(f.error for f in report.failed), "every failure says why"
        assert store.documents()[SEED_ID].chunk_ids == seed_chunks, "the indexed article is untouched"
        for path in written:
            path.unlink()

    check()
    assert ingest(store, embedder, config).failed == []


ROUTES = [
    ("post", "/api/ask"),
    ("post", "/api/chat"),
    ("post", "/v1/chat/completions"),
    ("post", "/api/documents"),
    ("post", "/api/feedback"),
]
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"question": json_values}, optional={"k": json_values, "history": json_values}),
    st.fixed_dictionaries({"message": json_values}, optional={"session_id": json_values, "language": json_values}),
    st.fixed_dictionaries(
        {"messages": st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "x"]), "content": json_values}))}
    ),
    st.fixed_dictionaries(
        {"answer_id": json_values, "rating": st.one_of(st.sampled_from(["up", "down"]), json_values)},
        optional={"comment": json_values, "correction": json_values, "not_in_articles": json_values},
    ),
    st.integers(1, 20_000).map(lambda n: {"question": json.loads("[" * min(n, 500) + "]" * min(n, 500))}),
)


def _encode(body: Any) -> bytes:
    text = json.dumps(body, allow_nan=True)  # ensure_ascii: lone surrogates travel as \\udXXX escapes
    return text.encode()


def test_arbitrary_json_at_every_route_is_never_a_server_error(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("fuzz-json")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / SEED_ARTICLE.name).write_bytes(SEED_ARTICLE.read_bytes())
    url, server, thread = start_server(Settings(data_dir=root / "data", corpus_dir=corpus, llm="extractive"))
    try:

        @given(route=st.sampled_from(ROUTES), body=bodies, query=odd_text)
        @FUZZ
        def check(route: tuple[str, str], body: Any, query: str) -> None:
            method, path = route
            headers = {"content-type": "application/json"}
            response = httpx.request(method.upper(), url + path, content=_encode(body), headers=headers, timeout=60)
            assert response.status_code < 500, f"{path} {_encode(body)[:200]!r} -> {response.text[:300]}"
            params = {"q": query.encode("utf-8", "replace").decode(), "k": 3}
            assert httpx.get(f"{url}/api/search", params=params, timeout=60).status_code < 500

        check()
        answer = httpx.post(f"{url}/api/ask", json={"question": "Berapa negara yang menandatangani Konvensi Hanoi?"})
        assert answer.status_code == 200 and "69" in answer.text, "the server still answers"
        for raw in ("%ED%A0%80", "%FF%FE", "%00"):  # a lone surrogate / invalid UTF-8 / NUL in the query string
            assert httpx.get(f"{url}/api/search?q={raw}").status_code < 500
    finally:
        stop_server(server, thread)
