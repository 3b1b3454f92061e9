"""The conversation store: conversations, answers, feedback, retention, migrations, on SQLite
and (marked integration) on a real PostgreSQL server."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text, update

from convention_qa.contract import Answer, Citation, Exchange
from convention_qa.conversations.database import database_url
from convention_qa.conversations.owners import ADMIN, Owner
from convention_qa.conversations.store import ConversationStore, open_conversations
from convention_qa.conversations.tables import ConversationRow
from convention_qa.errors import ConversationError, NotFoundError
from convention_qa.evaluation.feedback import feedback_stats

from .servers import postgres_server

CONFIG = {"embedder": "fake", "llm": "extractive", "prompt_version": "abc"}
ME = Owner("key:me")


def answer(text: str, doc_id: str = "hanoi", abstained: bool = False) -> Answer:
    citation = Citation(1, f"{doc_id}::0", doc_id, "Title", None, "passage text", 0, 12, ["passage text"], 0.9)
    return Answer(question="q", text=text, abstained=abstained, citations=[] if abstained else [citation])


def run_at_once(work: Callable[[int], None], threads: int) -> list[BaseException]:
    """``work(0..threads-1)`` in as many threads, started together; what they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def run(n: int) -> None:
        try:
            barrier.wait()
            work(n)
        except BaseException as exc:
            errors.append(exc)

    started = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    return errors


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind."""
    if request.param == "sqlite":
        return database_url(tmp_path, None)
    server: str = request.getfixturevalue("postgres")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with create_engine(server, isolation_level="AUTOCOMMIT").connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    return server.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def store(url: str) -> ConversationStore:
    return open_conversations(url)


def test_a_conversation_keeps_its_answers_citations_and_configuration(store: ConversationStore) -> None:
    conversation = store.start("Berapa negara yang menandatangani Konvensi Hanoi?", ME)
    first = store.record(conversation, "Berapa negara?", answer("69 negara [1]."), CONFIG, ME)
    second = store.record(conversation, "Dan pasalnya?", answer("68 pasal [1]."), CONFIG, ME)
    assert first and second and first != second
    assert store.history(conversation, ME) == [
        Exchange("Berapa negara?", "69 negara [1]."),
        Exchange("Dan pasalnya?", "68 pasal [1]."),
    ]
    summary, turns = store.get(conversation, ME)
    assert summary.turns == 2 and summary.title.startswith("Berapa negara")
    assert turns[0].details["citations"][0]["doc_id"] == "hanoi" and turns[0].details["answer"] == "69 negara [1]."
    assert turns[1].config == CONFIG and [t.position for t in turns] == [0, 1]
    assert [c.id for c in store.summaries(ME)] == [conversation]


def test_history_is_bounded_to_the_last_exchanges(url: str) -> None:
    store = open_conversations(url, history_exchanges=2)
    conversation = store.start("t", ME)
    for i in range(5):
        store.record(conversation, f"q{i}", answer(f"a{i} [1]."), CONFIG, ME)
    assert store.history(conversation, ME) == [Exchange("q3", "a3 [1]."), Exchange("q4", "a4 [1].")]


def test_deleting_a_conversation_removes_its_feedback(store: ConversationStore) -> None:
    conversation = store.start("t", ME)
    answer_id = store.record(conversation, "q", answer("a [1]."), CONFIG, ME)
    assert answer_id
    store.rate(answer_id, "down", ME, correction="b")
    other = store.start("u", ME)
    kept = store.record(other, "q", answer("a [1]."), CONFIG, ME)
    assert kept
    store.rate(kept, "up", ME)
    assert store.delete(conversation, ME) and not store.delete(conversation, ME)
    assert store.counts() == {"conversations": 1, "answers": 1, "feedback": 1}
    with pytest.raises(NotFoundError):
        store.get(conversation, ME)
    with pytest.raises(NotFoundError, match="unknown or expired session_id"):
        store.history(conversation, ME)


def test_rating_again_replaces_the_rating_and_unknown_answers_are_refused(store: ConversationStore) -> None:
    answer_id = store.record(store.start("t", ME), "q", answer("a [1]."), CONFIG, ME)
    assert answer_id
    store.rate(answer_id, "up", ME)
    record = store.rate(answer_id, "down", ME, comment="wrong", not_in_articles=True)
    assert (record.rating, record.comment, record.not_in_articles) == ("down", "wrong", True)
    assert store.counts()["feedback"] == 1
    with pytest.raises(NotFoundError, match="no answer with id"):
        store.rate("no-such-answer", "up", ME)
    assert store.counts()["feedback"] == 1


def test_retention_prunes_conversations_untouched_for_longer(url: str) -> None:
    store = open_conversations(url)
    old, new = store.start("old", ME), store.start("new", ME)
    store.rate(store.record(old, "q", answer("a [1]."), CONFIG, ME) or "", "down", ME, correction="c")
    with store.engine.begin() as connection:
        connection.execute(
            update(ConversationRow)
            .where(ConversationRow.id == old)
            .values(updated_at=datetime.now(UTC) - timedelta(days=40))
        )
    reopened = open_conversations(url, retention_days=30)
    assert [c.id for c in reopened.summaries(ME)] == [new]
    assert reopened.counts() == {"conversations": 1, "answers": 0, "feedback": 0}


def test_the_migrations_build_exactly_the_tables_the_models_describe(store: ConversationStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from convention_qa.conversations.tables import Base

    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_the_sqlite_file_is_in_wal_mode_and_opens_twice(tmp_path: Path) -> None:
    url = database_url(tmp_path, None)
    open_conversations(url).start("t", ME)
    again = open_conversations(url)  # migrating an up-to-date database is a no-op
    assert again.counts()["conversations"] == 1
    with sqlite3.connect(tmp_path / "conversations.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(ConversationError, match="CONVENTION_QA_DATABASE_URL"):
        open_conversations("postgresql+psycopg://nobody:pw@127.0.0.1:1/none")


def test_feedback_stats_count_per_rating_article_and_week(store: ConversationStore) -> None:
    conversation = store.start("t", ME)
    for said, rating, doc in (("a [1].", "up", "x"), ("b [1].", "down", "y"), ("c [1].", "down", "y")):
        store.rate(store.record(conversation, "q", answer(said, doc), CONFIG, ME) or "", rating, ME)  # type: ignore[arg-type]
    stats = feedback_stats(store.rated(ME))
    assert stats["rating"] == {"up": 1, "down": 2}
    assert stats["article"] == {"x (up)": 1, "y (down)": 2}
    assert sum(stats["week"].values()) == 3


def test_sixteen_writers_at_once_lose_nothing(url: str) -> None:
    """Two stores on one database stand for two app replicas; 16 threads write through them."""
    replicas = [open_conversations(url), open_conversations(url)]

    def client(n: int) -> None:
        store = replicas[n % 2]
        conversation = store.start(f"client {n}", ME)
        for turn in range(3):
            answer_id = replicas[(n + turn) % 2].record(conversation, f"q{turn}", answer(f"a{turn} [1]."), CONFIG, ME)
            assert answer_id
            store.rate(answer_id, "up" if turn % 2 else "down", ME, correction=None)

    errors = run_at_once(client, 16)
    assert errors == []
    assert replicas[0].counts() == {"conversations": 16, "answers": 48, "feedback": 48}
    positions = [[t.position for t in replicas[1].get(c.id, ME)[1]] for c in replicas[1].summaries(ME)]
    assert all(p == [0, 1, 2] for p in positions), "each conversation's turns are in order"


def test_replicas_answering_in_one_conversation_at_once_get_distinct_positions(url: str) -> None:
    replicas = [open_conversations(url), open_conversations(url)]
    conversation = replicas[0].start("shared", ME)

    def writer(n: int) -> None:
        for turn in range(4):
            assert replicas[n % 2].record(conversation, f"q{n}.{turn}", answer("a [1]."), CONFIG, ME)

    errors = run_at_once(writer, 8)
    assert errors == []
    _, turns = replicas[1].get(conversation, ME)
    assert [t.position for t in turns] == list(range(32)), "every answer kept, each in its own place"


ODD = "Berapa negara\u0000 yang menandatangani\ud800 Konvensi Hanoi?"


def test_odd_characters_are_kept_alike_on_both_engines(store: ConversationStore) -> None:
    """PostgreSQL refuses NUL in text, and neither engine encodes a lone surrogate: both keep the
    text without NULs and with U+FFFD for surrogates, and an id holding them is simply not found."""
    owner = Owner("anon:odd")
    answer = Answer(question=ODD, text="69 negara\u0000 [1].", abstained=False)
    conversation = store.start(ODD, owner)
    answer_id = store.record(conversation, ODD, answer, {"note": "\u0000"}, owner)
    assert answer_id
    summary, turns = store.get(conversation, owner)
    assert summary.title == "Berapa negara yang menandatangani\ufffd Konvensi Hanoi?"
    assert turns[0].question == summary.title and turns[0].answer == "69 negara [1]."
    feedback = store.rate(answer_id, "down", owner, comment="no\u0000pe", correction="69\u0000")
    assert (feedback.comment, feedback.correction) == ("nope", "69")
    for odd_id in ("a\u0000b", f"{conversation}\u0000", "\ud800"):
        with pytest.raises(NotFoundError):
            store.get(odd_id, owner)
        with pytest.raises(NotFoundError):
            store.history(odd_id, owner)
        with pytest.raises(NotFoundError):
            store.rate(odd_id, "up", owner)
        assert not store.delete(odd_id, owner)
    with pytest.raises(ValueError, match="NUL"):
        Owner("anon:\u0000")


def test_anonymous_conversations_go_after_their_own_retention(store: ConversationStore) -> None:
    """Nobody can come back as an anonymous owner once its cookie is gone: those conversations
    are deleted after ANONYMOUS_RETENTION_DAYS; keys' and proxy users' stay (RETENTION_DAYS unset)."""
    from convention_qa.conversations.tables import now

    owners = [Owner("anon:old"), Owner("tab:old"), Owner("key:alice"), Owner("user:bob"), Owner("anon:recent")]
    made = {o.id: store.start("q", o) for o in owners}
    with store.database.transaction() as session:
        old = [made[o] for o in ("anon:old", "tab:old", "key:alice", "user:bob")]
        session.execute(
            update(ConversationRow).where(ConversationRow.id.in_(old)).values(updated_at=now() - timedelta(days=45))
        )
    store.anonymous_retention_days, store._pruned = 30, 0.0
    store.prune_if_due()
    left = {c.id for c in store.summaries(ADMIN, 100)}
    assert left == {made["key:alice"], made["user:bob"], made["anon:recent"]}
