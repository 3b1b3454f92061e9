"""Sign-in holds on every surface: the web UI's handlers never take an owner from what the page
sends (Gradio's session hash), exports die with their conversation, the anonymous cookie
expires unless used, the proxy's header counts once, and a key can be given to the UI through a
sign-in form that sets an HttpOnly cookie. Each test runs two clients against a real server."""

from __future__ import annotations

import contextlib
import glob
import html
import re
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from convention_qa.config import Settings
from convention_qa.conversations.database import database_url
from convention_qa.conversations.store import open_conversations

from .gradio_calls import fn_indexes, join, outputs
from .test_api import start_server, stop_server
from .test_feedback_api import cli
from .test_owners import new_key

pytestmark = pytest.mark.integration  # a real server per test

QUESTION = "Berapa negara yang menandatangani Konvensi Hanoi?"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Policy and answer check off: the fake embedder's scores are not what they were fitted on."""
    return settings.model_copy(update={"policy": "off", "strictness": "off"})


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[str]:
    url, server, thread = start_server(settings)
    try:
        yield url
    finally:
        stop_server(server, thread)


def conversations_of(settings: Settings) -> dict[str, str]:
    """Every stored conversation's id -> owner, read from the database itself."""
    store = open_conversations(database_url(settings.data_dir, None))
    with store.database.transaction() as session:
        from sqlalchemy import select

        from convention_qa.conversations.tables import ConversationRow

        return {row.id: row.owner for row in session.scalars(select(ConversationRow)).all()}


def said(message: dict[str, Any]) -> str:
    """A chat message's text, as the page receives it (a string or a list of parts)."""
    content = message["content"]
    return content if isinstance(content, str) else " ".join(str(p.get("text", "")) for p in content)


def ask_in_ui(client: httpx.Client, message: str = QUESTION, **kwargs: Any) -> list[Any]:
    """The chat's ``respond`` as the page calls it; its final outputs (chatbot, sources panel,
    question box, conversation id, answer ids, sidebar)."""
    history = kwargs.pop("history", [])
    return outputs(client, "respond", [message, history, 5, "auto", kwargs.pop("conversation", None), []], **kwargs)


def test_a_wrong_or_revoked_key_in_the_ui_names_no_owner_and_the_session_hash_names_none(settings: Settings) -> None:
    """The reported attack: X sends a revoked key with session_hash=victimhash1 and asks; Y joins
    the same session hash with a made-up key. Nobody may become ``tab:victimhash1``, and a
    session hash opens nobody's conversations."""
    revoked = new_key(settings, "mallory")
    assert cli(["keys", "revoke", "mallory"], settings).exit_code == 0
    with serving(settings) as url:
        with httpx.Client(base_url=url, cookies={"convention_qa_key": revoked}, timeout=60) as x:
            chat = ask_in_ui(x, session_hash="victimhash1")[0]
            assert "sign in again" in said(chat[-1]), "a revoked key is told to sign in again, not answered"
            sidebar = outputs(x, "start_over", [], session_hash="victimhash1")[-1]
            assert sidebar["choices"] == []
        with httpx.Client(base_url=url, headers={"authorization": "Bearer cqa_anything"}, timeout=60) as y:
            assert "sign in again" in said(ask_in_ui(y, session_hash="victimhash1")[0][-1])
            assert outputs(y, "cleared", [], session_hash="victimhash1")[-1]["choices"] == []
        with httpx.Client(base_url=url, timeout=60) as victim, httpx.Client(base_url=url, timeout=60) as other:
            victim.get("/")
            conversation = ask_in_ui(victim, session_hash="victimhash2")[3]
            other.get("/")
            assert join(other, _index(other, "restore"), [conversation], "victimhash2").status_code == 403
            restored = outputs(other, "restore", [conversation], session_hash="otherhash")
            assert restored[0] == [] and restored[2] is None, "the conversation id opens nothing for another"
            link = outputs(other, "export_markdown", [conversation, None], session_hash="otherhash")
            assert "no conversation" in link[1]
    owners = conversations_of(settings)
    assert list(owners.values()) == [owners[conversation]] and owners[conversation].startswith("anon:")


def _index(client: httpx.Client, name: str) -> int:
    return fn_indexes(client)[name]


def test_a_page_session_is_its_first_owners_alone(settings: Settings) -> None:
    """The session hash is the channel the page's answers stream on, and it shows up in access
    logs: someone else who names it can neither listen to it nor run handlers in it."""
    with (
        serving(settings) as url,
        httpx.Client(base_url=url, timeout=60) as victim,
        httpx.Client(base_url=url, timeout=60) as intruder,
    ):
        victim.get("/")
        intruder.get("/")
        joined = join(victim, _index(victim, "respond"), [QUESTION, [], 5, "auto", None, []], "livehash1")
        assert joined.status_code == 200
        listened = intruder.get("/gradio_api/queue/data", params={"session_hash": "livehash1"})
        assert listened.status_code == 403 and "another browser" in listened.json()["detail"]
        assert intruder.get("/gradio_api/heartbeat/livehash1").status_code == 403
        cancel = {"session_hash": "livehash1", "fn_index": 0, "event_id": joined.json()["event_id"]}
        assert intruder.post("/gradio_api/cancel", json=cancel).status_code == 403
        with httpx.Client(base_url=url, timeout=60) as no_cookies:  # a new anonymous owner
            assert no_cookies.get("/gradio_api/queue/data", params={"session_hash": "livehash1"}).status_code == 403
        with victim.stream("GET", "/gradio_api/queue/data", params={"session_hash": "livehash1"}) as stream:
            heard = "".join(line for line in stream.iter_lines() if "process_completed" in line)
        assert "69 negara" in heard, "the page itself still gets its answer"


def _link(update: dict[str, Any]) -> str:
    found = re.search(r'href="([^"]+)"', update["value"] or "")
    assert found, update
    return html.unescape(found.group(1))


def test_exports_are_links_to_the_owner_checked_route_and_die_with_their_conversation(settings: Settings) -> None:
    before = set(glob.glob(f"{tempfile.gettempdir()}/convention-qa-export-*"))
    with (
        serving(settings) as url,
        httpx.Client(base_url=url, timeout=60) as a,
        httpx.Client(base_url=url, timeout=60) as b,
    ):
        a.get("/")
        conversation = ask_in_ui(a)[3]
        shown, status = outputs(a, "export_markdown", [conversation, None])
        assert shown["visible"] and "download" in status
        link = _link(shown)
        assert link == f"api/conversations/{conversation}/export?format=md", "relative: works under a prefix"
        mine = a.get(f"/{link}")
        assert mine.status_code == 200 and QUESTION in mine.text
        assert "attachment" in mine.headers["content-disposition"]
        json_link = _link(outputs(a, "export_as_json", [conversation, None])[0])
        assert a.get(f"/{json_link}").json()["turns"][0]["question"] == QUESTION
        b.get("/")
        assert b.get(f"/{link}").status_code == 404, "another browser cannot follow the link"
        assert httpx.get(f"{url}/{link}").status_code == 404, "nor can a client without cookies"
        deleted = outputs(a, "delete", [conversation, None])
        assert deleted[-1] == "Conversation deleted."
        assert a.get(f"/{link}").status_code == 404, "deleting the conversation deletes its exports"
    assert set(glob.glob(f"{tempfile.gettempdir()}/convention-qa-export-*")) == before, "nothing written to disk"


def test_an_admins_export_is_not_a_file_another_key_can_fetch(settings: Settings) -> None:
    admin = settings.model_copy(update={"api_key": "admin-secret-key"})
    alice = new_key(admin, "alice")
    with (
        serving(admin) as url,
        httpx.Client(base_url=url, headers={"authorization": "Bearer admin-secret-key"}, timeout=60) as root,
        httpx.Client(base_url=url, headers={"authorization": f"Bearer {alice}"}, timeout=60) as her,
    ):
        conversation = ask_in_ui(root)[3]
        link = _link(outputs(root, "export_markdown", [conversation, None])[0])
        assert root.get(f"/{link}").status_code == 200
        assert her.get(f"/{link}").status_code == 404
        assert root.delete(f"/api/conversations/{conversation}").status_code == 204
        assert root.get(f"/{link}").status_code == 404
        assert httpx.get(f"{url}/{link}").status_code == 401


def test_the_anonymous_cookie_expires_unless_used_and_is_renewed_while_it_is(settings: Settings) -> None:
    lifetime = 6.0  # seconds; it is renewed once it is half that old
    # The signed time is in whole seconds, so a cookie is good for up to ``lifetime + 1`` s.
    with serving(settings.model_copy(update={"anonymous_cookie_days": lifetime / 86400})) as url:
        with httpx.Client(base_url=url, timeout=60) as a:
            issued = time.time()
            session = a.post("/api/chat", json={"message": QUESTION}).json()["session_id"]
            first = a.cookies["convention_qa_owner"]
            assert "Max-Age=6;" in a.get("/api/conversations").headers.get("set-cookie", "Max-Age=6;")
            time.sleep(lifetime * 0.6)
            renewed = a.get(f"/api/conversations/{session}")
            assert renewed.status_code == 200 and "convention_qa_owner=" in renewed.headers["set-cookie"]
            assert a.cookies["convention_qa_owner"] != first, "issued again, with a new time"
            time.sleep(max(0.0, issued + lifetime + 2 - time.time()))  # the first cookie is now too old
            assert a.get(f"/api/conversations/{session}").status_code == 200, "the browser in use keeps its owner"
        copied = httpx.get(f"{url}/api/conversations/{session}", cookies={"convention_qa_owner": first})
        assert copied.status_code == 404, "a copy of an expired cookie names nobody"


def test_the_proxys_header_twice_is_a_400_everywhere(settings: Settings) -> None:
    with serving(settings.model_copy(update={"trust_proxy": True})) as url:
        twice = [("x-forwarded-user", "alice"), ("x-forwarded-user", "mallory")]
        for path in ("/api/conversations", "/", "/config", "/gradio_api/info"):
            reply = httpx.get(f"{url}{path}", headers=twice)
            assert reply.status_code == 400, path
            assert "more than once" in reply.json()["detail"]
        chat = httpx.post(f"{url}/api/chat", json={"message": QUESTION}, headers=twice)
        assert chat.status_code == 400
        once = httpx.get(f"{url}/api/conversations", headers=[("x-forwarded-user", "alice")])
        assert once.status_code == 200


def test_behind_the_proxy_an_openai_placeholder_key_leaves_the_header_to_decide(settings: Settings) -> None:
    locked = settings.model_copy(update={"api_key": "admin-secret-key", "trust_proxy": True})
    with serving(locked) as url:
        as_alice = {"x-forwarded-user": "alice", "authorization": "Bearer unused"}
        made = httpx.post(f"{url}/api/chat", json={"message": QUESTION}, headers=as_alice)
        assert made.status_code == 200, made.text
        session = made.json()["session_id"]
        assert httpx.get(f"{url}/api/conversations/{session}", headers={"x-forwarded-user": "alice"}).status_code == 200
        models = httpx.get(f"{url}/v1/models", headers=as_alice)
        assert models.status_code == 200
        assert httpx.get(f"{url}/api/conversations", headers={"authorization": "Bearer unused"}).status_code == 401
    assert set(conversations_of(locked).values()) == {"user:alice"}


def test_a_plain_http_client_is_told_what_to_keep_and_openapi_declares_how(settings: Settings) -> None:
    with serving(settings) as url:
        first = httpx.post(f"{url}/api/chat", json={"message": QUESTION})
        assert "convention_qa_owner=" in first.headers["set-cookie"]
        again = httpx.post(f"{url}/api/chat", json={"message": "Kapan?", "session_id": first.json()["session_id"]})
        assert again.status_code == 404
        assert "belongs to the cookie or key that started it" in again.json()["detail"]
        schema = httpx.get(f"{url}/openapi.json").json()
        schemes = schema["components"]["securitySchemes"]
        assert schemes["key"] == {"type": "http", "scheme": "bearer", "description": schemes["key"]["description"]}
        assert {(s.get("in"), s.get("name")) for s in schemes.values()} >= {
            ("cookie", "convention_qa_key"),
            ("cookie", "convention_qa_owner"),
        }
        chat = schema["paths"]["/api/chat"]["post"]
        assert {name for option in chat["security"] for name in option} == set(schemes)


def test_a_browser_that_blocks_cookies_is_told_and_keeps_its_follow_ups_in_the_tab(settings: Settings) -> None:
    with serving(settings) as url:
        # httpx without a cookie jar: every request arrives with no cookie, as from such a browser.
        class NoCookies(httpx.Client):
            def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
                self.cookies.clear()
                request.headers.pop("cookie", None)
                return super().send(request, **kwargs)

        with NoCookies(base_url=url, timeout=60) as tab:
            first = ask_in_ui(tab)
            assert "sends no cookies" in first[1] and first[3] is None, "said plainly, and nothing kept"
            follow_up = ask_in_ui(tab, "Kapan ditandatangani?", history=first[0])
            assert len(follow_up[0]) == 4 and said(follow_up[0][-1]), "the tab's own history carries on"
    assert conversations_of(settings) == {}, "no conversation is kept for an owner nobody can come back as"


def test_signing_in_sets_an_httponly_key_cookie_and_signing_out_clears_it(settings: Settings) -> None:
    alice = new_key(settings, "alice")
    with serving(settings) as url:
        with httpx.Client(base_url=url, timeout=60) as browser:
            wrong = browser.post("/sign-in", data={"key": "cqa_wrong"})
            assert wrong.status_code == 401 and "wrong or revoked" in wrong.text
            huge = browser.post("/sign-in", data={"key": "cqa_" + "x" * 5000})
            assert huge.status_code == 422 and "convention_qa_key" not in browser.cookies
            forged = browser.post("/sign-in", data={"key": alice}, headers={"sec-fetch-site": "cross-site"})
            assert forged.status_code == 403 and "convention_qa_key" not in browser.cookies
            elsewhere = browser.post("/sign-in", data={"key": alice}, headers={"origin": "https://evil.example"})
            assert elsewhere.status_code == 403
            signed = browser.post("/sign-in", data={"key": f"  {alice} "}, headers={"sec-fetch-site": "same-origin"})
            assert signed.status_code == 303 and signed.headers["location"] == "./"
            cookie = signed.headers["set-cookie"]
            assert "convention_qa_key=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
            session = browser.post("/api/chat", json={"message": QUESTION}).json()["session_id"]
            account = outputs(browser, "account", [])[0]
            assert "Signed in with the key alice" in account and 'action="sign-out"' in account
            out = browser.post("/sign-out", headers={"sec-fetch-site": "same-origin"})
            assert out.status_code == 303 and "Max-Age=0" in out.headers["set-cookie"]
            assert browser.get(f"/api/conversations/{session}").status_code == 404, "signed out: anonymous again"
            assert 'action="sign-in"' in outputs(browser, "account", [])[0]
        with httpx.Client(base_url=url, headers={"authorization": f"Bearer {alice}"}) as api:
            assert api.get(f"/api/conversations/{session}").status_code == 200, "the UI's answers were alice's"
    assert conversations_of(settings)[session] == "key:alice"


def test_a_locked_server_sends_a_browser_to_the_sign_in_page(settings: Settings) -> None:
    locked = settings.model_copy(update={"api_key": "admin-secret-key"})
    with serving(locked) as url:
        page = httpx.get(f"{url}/", headers={"accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == "sign-in"
        form = httpx.get(f"{url}/sign-in")
        assert form.status_code == 200 and 'type="password"' in form.text
        with httpx.Client(base_url=url) as browser:
            assert browser.post("/sign-in", data={"key": "admin-secret-key"}).status_code == 303
            assert browser.get("/", headers={"accept": "text/html"}).status_code == 200
            assert browser.get("/api/conversations").status_code == 200
        assert httpx.get(f"{url}/api/conversations").status_code == 401, "API clients still get the 401"
