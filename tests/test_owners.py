"""Each owner sees only their own conversations, answers and ratings: anonymous browsers (signed
cookie), per-user keys, a trusted proxy's user header; the admin key sees everyone's. Another
owner's id answers exactly like an unknown one, so ids cannot be probed."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from convention_qa.config import Settings
from convention_qa.contract import Answer
from convention_qa.conversations.database import database_url, migrate
from convention_qa.conversations.owners import ADMIN, LEGACY, Owner
from convention_qa.conversations.store import ConversationStore, open_conversations
from convention_qa.errors import NotFoundError

from .test_api import start_server, stop_server
from .test_feedback_api import cli

QUESTION = "Berapa negara yang menandatangani Konvensi Hanoi?"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Policy and answer check off: the fake embedder's scores are not what they were fitted on."""
    return settings.model_copy(update={"policy": "off", "strictness": "off"})


@pytest.fixture
def running(settings: Settings) -> Iterator[str]:
    url, server, thread = start_server(settings)
    yield url
    stop_server(server, thread)


def new_key(settings: Settings, name: str) -> str:
    made = cli(["keys", "create", name], settings)
    assert made.exit_code == 0, made.output
    return str(made.stdout.strip())


def owns(a: httpx.Client) -> tuple[str, str]:
    """``a`` chats and gets an answer it can rate: (conversation id, answer id)."""
    reply = a.post("/api/chat", json={"message": QUESTION})
    assert reply.status_code == 200, reply.text
    return reply.json()["session_id"], reply.json()["answer_id"]


def cannot_touch(b: httpx.Client, session: str, answer_id: str) -> None:
    """``b`` can neither list, read, export, continue, rate nor delete the conversation: each is
    the 404 an unknown id gets, with the same message."""
    assert session not in [c["id"] for c in b.get("/api/conversations").json()]
    unknown = b.get("/api/conversations/no-such-conversation-id")
    for path in (f"/api/conversations/{session}", f"/api/conversations/{session}/export?format=json"):
        reply = b.get(path)
        assert reply.status_code == 404, path
        assert reply.json()["detail"] == unknown.json()["detail"].replace("no-such-conversation-id", session)
    assert b.get(f"/api/conversations/{session}/export?format=md").status_code == 404
    assert b.post("/api/chat", json={"session_id": session, "message": "Berapa pasalnya?"}).status_code == 404
    assert b.post("/api/feedback", json={"answer_id": answer_id, "rating": "down"}).status_code == 404
    assert b.delete(f"/api/conversations/{session}").status_code == 404


def still_whole(a: httpx.Client, session: str) -> None:
    """The owner still has its conversation, unrated and whole."""
    turns = a.get(f"/api/conversations/{session}").json()["turns"]
    assert len(turns) == 1 and turns[0]["feedback"] is None


def test_two_browsers_each_see_only_their_own(running: str) -> None:
    with httpx.Client(base_url=running) as a, httpx.Client(base_url=running) as b:
        session, answer_id = owns(a)
        assert "convention_qa_owner" in a.cookies, "an anonymous owner is a signed, HttpOnly cookie"
        cannot_touch(b, session, answer_id)
        still_whole(a, session)
        theirs, their_answer = owns(b)
        cannot_touch(a, theirs, their_answer)
        assert a.post("/api/feedback", json={"answer_id": answer_id, "rating": "up"}).status_code == 200
        assert a.delete(f"/api/conversations/{session}").status_code == 204


def test_a_forged_or_tampered_owner_cookie_names_nobody_known(running: str) -> None:
    with httpx.Client(base_url=running) as a:
        session, _ = owns(a)
        signed = a.cookies["convention_qa_owner"]
    forged = signed[:-2] + ("AA" if not signed.endswith("AA") else "BB")
    with httpx.Client(base_url=running, cookies={"convention_qa_owner": forged}) as b:
        reply = b.get(f"/api/conversations/{session}")
        assert reply.status_code == 404
        assert "convention_qa_owner=" in reply.headers["set-cookie"], "a bad cookie is replaced by a new identity"
        assert "HttpOnly" in reply.headers["set-cookie"] and "SameSite=Lax" in reply.headers["set-cookie"]


def test_per_user_keys_are_owners_and_revoking_one_stops_it(settings: Settings) -> None:
    alice, bob = new_key(settings, "alice"), new_key(settings, "bob")
    assert alice.startswith("cqa_") and alice != bob
    url, server, thread = start_server(settings)
    try:
        with (
            httpx.Client(base_url=url, headers={"authorization": f"Bearer {alice}"}) as a,
            httpx.Client(base_url=url, headers={"authorization": f"Bearer {bob}"}) as b,
        ):
            session, answer_id = owns(a)
            cannot_touch(b, session, answer_id)
            still_whole(a, session)
            assert cli(["keys", "revoke", "bob"], settings).exit_code == 0
            refused = b.get("/api/conversations")
            assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
            wrong = httpx.get(f"{url}/api/conversations", headers={"authorization": "Bearer cqa_not-a-key"})
            assert wrong.status_code == 401
    finally:
        stop_server(server, thread)
    listed = cli(["keys", "list"], settings).stdout
    assert "alice" in listed and "in use" in listed and "revoked" in listed
    assert cli(["keys", "create", "alice"], settings).exit_code == 2, "a name in use is refused"
    assert cli(["keys", "create", "no spaces"], settings).exit_code == 2
    assert cli(["keys", "revoke", "nobody"], settings).exit_code == 1
    store = open_conversations(database_url(settings.data_dir, None))
    assert alice not in json.dumps([k.name for k in store.keys.list()])
    with sqlite3.connect(settings.data_dir / "conversations.db") as raw:
        hashes = [row[0] for row in raw.execute("SELECT hash FROM api_keys")]
    assert alice not in hashes and len(hashes) == 2, "only the keys' hashes are stored"


def test_the_admin_key_sees_everyone_and_nobody_gets_in_without_a_key(settings: Settings) -> None:
    admin = settings.model_copy(update={"api_key": "admin-secret-key"})
    alice, bob = new_key(admin, "alice"), new_key(admin, "bob")
    url, server, thread = start_server(admin)
    try:
        with (
            httpx.Client(base_url=url, headers={"authorization": f"Bearer {alice}"}) as a,
            httpx.Client(base_url=url, headers={"authorization": f"Bearer {bob}"}) as b,
            httpx.Client(base_url=url, headers={"authorization": "Bearer admin-secret-key"}) as root,
        ):
            hers, her_answer = owns(a)
            his, _ = owns(b)
            cannot_touch(b, hers, her_answer)
            assert {hers, his} <= {c["id"] for c in root.get("/api/conversations").json()}
            assert root.get(f"/api/conversations/{hers}/export?format=md").status_code == 200
            with httpx.Client(base_url=url) as anonymous:
                assert anonymous.get("/api/conversations").status_code == 401, "no anonymous owners behind a key"
                assert anonymous.post("/api/chat", json={"message": QUESTION}).status_code == 401
            assert root.delete(f"/api/conversations/{hers}").status_code == 204
            assert a.get(f"/api/conversations/{hers}").status_code == 404
    finally:
        stop_server(server, thread)
    stats = cli(["feedback", "stats", "--json", "--owner", "key:alice"], admin)
    assert stats.exit_code == 0, stats.output


def test_the_trusted_header_names_the_owner_only_when_the_proxy_is_trusted(settings: Settings) -> None:
    as_alice, as_bob = {"x-forwarded-user": "alice@example.org"}, {"x-forwarded-user": "bob@example.org"}
    url, server, thread = start_server(settings.model_copy(update={"trust_proxy": True}))
    try:
        # No cookies kept: the header alone names the owner, on every request.
        with httpx.Client(base_url=url, headers=as_alice) as a, httpx.Client(base_url=url, headers=as_bob) as b:
            session, answer_id = owns(a)
            a.cookies.clear()
            still_whole(a, session)
            cannot_touch(b, session, answer_id)
    finally:
        stop_server(server, thread)
    url, server, thread = start_server(settings.model_copy(update={"data_dir": settings.data_dir / "off"}))
    try:
        with httpx.Client(base_url=url, headers=as_alice) as a:
            session, _ = owns(a)
        spoofed = httpx.get(f"{url}/api/conversations/{session}", headers=as_alice)
        assert spoofed.status_code == 404, "with TRUST_PROXY off, a client cannot claim a name by the header"
    finally:
        stop_server(server, thread)


def test_feedback_stats_and_export_are_each_owners_own(running: str) -> None:
    with httpx.Client(base_url=running) as a, httpx.Client(base_url=running) as b:
        _, answer_id = owns(a)
        a.post("/api/feedback", json={"answer_id": answer_id, "rating": "down", "correction": "69 negara"})
        assert a.get("/api/feedback/stats").json()["rating"] == {"down": 1}
        assert b.get("/api/feedback/stats").json()["rating"] == {}
        assert "69 negara" in a.get("/api/feedback/export").text
        assert "69 negara" not in b.get("/api/feedback/export").text


def test_a_conversation_exports_as_markdown_and_json(running: str) -> None:
    with httpx.Client(base_url=running) as a:
        session, answer_id = owns(a)
        a.post("/api/feedback", json={"answer_id": answer_id, "rating": "down", "correction": "69 negara"})
        md = a.get(f"/api/conversations/{session}/export", params={"format": "md"})
        assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
        assert "attachment" in md.headers["content-disposition"] and ".md" in md.headers["content-disposition"]
        assert QUESTION in md.text and "69 negara" in md.text
        assert "(https://baoquocte.vn/" in md.text, "the cited passage's title links to its article"
        assert "correct answer: 69 negara" in md.text
        data = a.get(f"/api/conversations/{session}/export", params={"format": "json"}).json()
        turn = data["turns"][0]
        assert turn["question"] == QUESTION and turn["answer_id"] == answer_id
        assert turn["citations"][0]["source"].startswith("https://") and turn["citations"][0]["text"]
        assert turn["feedback"]["correction"] == "69 negara"
        assert a.get(f"/api/conversations/{session}/export", params={"format": "pdf"}).status_code == 422


def test_the_migration_gives_existing_rows_to_the_legacy_owner(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from convention_qa.conversations.database import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")  # the schema before owners
    with sqlite3.connect(tmp_path / "old.db") as raw:
        now = "2026-11-30 10:00:00.000000"
        raw.execute("INSERT INTO conversations VALUES ('old', 'Berapa negara?', ?, ?)", (now, now))
        raw.execute(
            "INSERT INTO turns VALUES ('t1', 'old', 0, 'Berapa negara?', '69 negara [1].', 0, '{}', '{}', ?)", (now,)
        )
        raw.execute("INSERT INTO feedback VALUES ('t1', 'down', NULL, '69', 0, ?)", (now,))
    engine.dispose()
    store = open_conversations(url)  # migrates to the newest revision
    with sqlite3.connect(tmp_path / "old.db") as raw:
        assert raw.execute("SELECT owner FROM conversations").fetchall() == [(LEGACY,)]
    assert [c.id for c in store.summaries(ADMIN)] == ["old"], "the admin sees the legacy conversations"
    assert [t.id for t in store.rated(ADMIN)] == ["t1"]
    for somebody in (Owner("anon:x"), Owner("key:alice"), Owner("user:legacy")):
        assert store.summaries(somebody) == [] and store.rated(somebody) == []
        with pytest.raises(NotFoundError):
            store.get("old", somebody)
    migrate(store.engine)  # running it again changes nothing
    assert store.counts() == {"conversations": 1, "answers": 1, "feedback": 1}


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> ConversationStore:
    return open_conversations(f"sqlite:///{tmp_path_factory.mktemp('owners') / 'c.db'}")


# Owner ids never hold NUL (the web layer never makes one, and Owner refuses it: see test_odd_bytes).
OWNER_IDS = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1, max_size=60
)
PROBES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)


@hypothesis_settings(max_examples=60, deadline=None)
@given(mine=OWNER_IDS, theirs=OWNER_IDS, probe=PROBES)
def test_no_owner_reaches_another_owners_conversation_by_any_id(
    shared_store: ConversationStore, mine: str, theirs: str, probe: str
) -> None:
    store, owner, other = shared_store, Owner(mine), Owner(theirs)
    answer = Answer(question="q", text="69 negara [1].", abstained=False)
    conversation = store.start("q", owner)
    answer_id = store.record(conversation, "q", answer, {}, owner)
    assert answer_id
    for target in (conversation, probe):
        if other.id == owner.id and target == conversation:
            continue
        with pytest.raises(NotFoundError) as seen:
            store.get(target, other)
        assert "conversation" in str(seen.value)
        with pytest.raises(NotFoundError):
            store.history(target, other)
        with pytest.raises(NotFoundError):
            store.record(target, "q", answer, {}, other)
        assert not store.delete(target, other)
    if other.id != owner.id:
        with pytest.raises(NotFoundError):
            store.rate(answer_id, "down", other)
        assert conversation not in {c.id for c in store.summaries(other, 1000)}
        assert answer_id not in {t.id for t in store.rated(other)}
    assert store.rate(answer_id, "up", owner).rating == "up"
    assert [t.id for t in store.get(conversation, owner)[1]] == [answer_id]
    assert conversation in {c.id for c in store.summaries(ADMIN, 100_000)}
    assert store.delete(conversation, owner)


def test_key_names_are_normalised_once(settings: Settings) -> None:
    """`keys create \" carol \"` and `keys revoke \" carol \"` name the same key, as it is stored."""
    made = cli(["keys", "create", " carol "], settings)
    assert made.exit_code == 0 and "the key of carol (owner key:carol)" in made.stderr
    assert cli(["keys", "revoke", " carol "], settings).exit_code == 0
    assert cli(["keys", "revoke", "carol"], settings).exit_code == 1, "already revoked"
    store = open_conversations(database_url(settings.data_dir, None))
    assert [k.name for k in store.keys.list()] == ["carol"]
    assert store.summaries(ADMIN) == []
