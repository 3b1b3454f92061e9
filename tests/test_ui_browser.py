"""The chat as a person uses it: headless Chromium, driven by Playwright, against `python app.py`.

Real embedder, extractive answers (no model, so the run is quick and deterministic). Screenshots
go to test-artifacts/.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import FROZEN_CORPUS, ROOT
from .servers import free_port, wait_until_up

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"


APP_ENV: dict[str, str] = {}  # the running app's settings, for the CLI to act on its data


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("ui")
    shutil.copytree(FROZEN_CORPUS, root / "corpus")
    port = free_port()
    env = APP_ENV | {
        **{k: v for k, v in os.environ.items() if not k.startswith("CONVENTION_QA_")},
        "CONVENTION_QA_DATA_DIR": str(root / "data"),
        "CONVENTION_QA_CORPUS_DIR": str(root / "corpus"),
        "CONVENTION_QA_LLM": "extractive",
        "CONVENTION_QA_STRICTNESS": "off",  # the UI, not the answer check (measured by eval)
        "CONVENTION_QA_PORT": str(port),
    }
    APP_ENV.update(env)
    log = open(root / "app.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_until_up(f"{url}/health", proc, 180, f"see {root / 'app.log'}")
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@contextlib.contextmanager
def open_page(url: str) -> Iterator[Any]:
    """A headless Chromium tab (Debian's chromium, driven by Playwright) on the app at ``url``."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: `apt-get install chromium` (make test does it)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            tab.goto(url)
            tab.wait_for_selector("#question textarea", timeout=60_000)
            yield tab
        finally:
            browser.close()


@pytest.fixture(scope="module")
def page(app_url: str) -> Iterator[Any]:
    with open_page(app_url) as tab:
        yield tab


def ask(page: object, question: str) -> str:
    """Type a question, wait for the streamed answer to finish, return its text."""
    page.fill("#question textarea", question)  # type: ignore[attr-defined]
    page.click("#ask")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        """q => [...document.querySelectorAll('#sources .sources-for')].some(e => e.dataset.question === q)""",
        arg=question,
        timeout=60_000,
    )
    return str(page.locator("#chat .message.bot").last.inner_text())  # type: ignore[attr-defined]


def new_conversation(page: object) -> None:
    page.click("#new-conversation")  # type: ignore[attr-defined]
    page.wait_for_function("() => document.querySelectorAll('#chat .message').length === 0", timeout=10_000)  # type: ignore[attr-defined]


def test_question_gets_a_cited_answer_and_the_sources_panel_shows_the_passage(page: object) -> None:
    answer = ask(page, "Berapa negara yang menandatangani Konvensi Hanoi?")
    assert "69 negara" in answer and "[1]" in answer
    highlighted = page.locator("#sources .source-card mark").first.inner_text()  # type: ignore[attr-defined]
    assert "69 negara menandatangani" in highlighted
    link = page.locator("#sources .source-card a").first  # type: ignore[attr-defined]
    assert link.get_attribute("href").startswith("https://baoquocte.vn/")
    page.screenshot(path=str(ARTIFACTS / "ui-answer.png"), full_page=True)  # type: ignore[attr-defined]


def test_follow_up_is_answered_in_context(page: object) -> None:
    new_conversation(page)
    ask(page, "Berapa negara yang menandatangani Konvensi Hanoi?")
    answer = ask(page, "Kapan mereka menandatanganinya?")  # "they": the 69 countries of the first question
    assert "25 Oktober" in answer, answer


def test_out_of_corpus_question_is_shown_as_an_abstention(page: object) -> None:
    answer = ask(page, "Siapa pemenang piala dunia sepak bola 2022?")
    assert "tidak memuat jawaban" in answer
    assert "No answer in the articles" in page.locator("#sources").inner_text()  # type: ignore[attr-defined]


def test_uploaded_article_can_be_asked_about(page: object, tmp_path: Path) -> None:
    article = tmp_path / "borobudur.md"
    article.write_text(
        "---\ntitle: Candi Borobudur\nlanguage: id\n---\nCandi Borobudur terletak di Magelang, Jawa Tengah, "
        "dan dibangun pada abad ke-9 oleh wangsa Syailendra.\n",
        encoding="utf-8",
    )
    rejected = tmp_path / "notes.docx"
    rejected.write_bytes(b"PK\x03\x04 not supported")
    page.get_by_text("Add articles").click()  # type: ignore[attr-defined]
    page.set_input_files("#upload input[type=file]", [str(article), str(rejected)])  # type: ignore[attr-defined]
    page.click("#add-files")  # type: ignore[attr-defined]
    page.wait_for_function("() => document.querySelector('#upload-status').innerText.includes('Added')", timeout=60_000)  # type: ignore[attr-defined]
    status = page.locator("#upload-status").inner_text()  # type: ignore[attr-defined]
    assert "borobudur.md" in status and "unsupported file type .docx" in status
    new_conversation(page)
    answer = ask(page, "Di mana letak Candi Borobudur?")
    assert "Magelang" in answer
    page.screenshot(path=str(ARTIFACTS / "ui-upload.png"), full_page=True)  # type: ignore[attr-defined]


def test_two_browsers_see_only_their_own_conversations_and_export_them(page: Any, app_url: str) -> None:
    mine = "Berapa pasal yang dimiliki Konvensi Hanoi?"
    new_conversation(page)
    ask(page, mine)
    page.wait_for_function(f"() => document.querySelector('#past').innerText.includes({mine!r})", timeout=30_000)
    stranger = page.context.browser.new_context(viewport={"width": 1400, "height": 1000})  # its own cookie jar
    try:
        other = stranger.new_page()
        other.goto(app_url)
        other.wait_for_selector("#question textarea", timeout=60_000)
        assert mine not in other.locator("#past").inner_text(), "a stranger's sidebar lists none of mine"
        theirs = "Siapa yang mengambil foto panorama sesi diskusi?"
        ask(other, theirs)
        other.wait_for_function(f"() => document.querySelector('#past').innerText.includes({theirs!r})", timeout=30_000)
        assert mine not in other.locator("#past").inner_text()
        other.screenshot(path=str(ARTIFACTS / "ui-other-browser.png"), full_page=True)
    finally:
        stranger.close()
    page.reload()
    page.wait_for_selector("#question textarea", timeout=60_000)
    page.wait_for_function(f"() => document.querySelector('#past').innerText.includes({mine!r})", timeout=30_000)
    assert theirs not in page.locator("#past").inner_text()

    page.click("#export-md")
    page.wait_for_selector("#exported a", timeout=30_000)
    with page.expect_download() as download:
        page.locator("#exported a").first.click()
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert mine in exported and "68 pasal" in exported and "Sources:" in exported


def test_signing_in_with_a_key_in_the_sidebar_and_out_again(page: Any, app_url: str) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "convention_qa", "keys", "create", "alice"],
        env=APP_ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    key = made.stdout.strip()
    context = page.context.browser.new_context(viewport={"width": 1400, "height": 1000})  # its own cookie jar
    try:
        tab = context.new_page()
        tab.goto(app_url)
        tab.wait_for_selector("#question textarea", timeout=60_000)
        tab.wait_for_function("() => document.querySelector('#account').innerText.includes('Not signed in')")
        tab.fill("#account input[name=key]", "cqa_not-a-key")
        tab.click("#account button[type=submit]")
        tab.wait_for_selector("text=That key is wrong or revoked", timeout=30_000)
        tab.go_back()
        tab.wait_for_selector("#account input[name=key]", timeout=60_000)
        tab.fill("#account input[name=key]", key)
        tab.click("#account button[type=submit]")
        tab.wait_for_function(
            "() => document.querySelector('#account')?.innerText.includes('Signed in with the key alice')",
            timeout=60_000,
        )
        assert "convention_qa_key" not in tab.evaluate("document.cookie"), "HttpOnly: the page cannot read the key"
        question = "Berapa pasal yang dimiliki Konvensi Hanoi?"
        ask(tab, question)
        tab.wait_for_function(f"() => document.querySelector('#past').innerText.includes({question!r})")
        tab.screenshot(path=str(ARTIFACTS / "ui-signed-in.png"), full_page=True)
        listed = tab.evaluate(
            "k => fetch('api/conversations', {headers: {authorization: 'Bearer ' + k}}).then(r => r.json())", key
        )
        assert [c["title"] for c in listed] == [question], "the answer is alice's, on every browser she signs in on"
        tab.click("#account .sign-out button")
        tab.wait_for_function(
            "() => document.querySelector('#account')?.innerText.includes('Not signed in')", timeout=60_000
        )
        assert question not in tab.locator("#past").inner_text(), "signed out: alice's history is not shown"
    finally:
        context.close()
