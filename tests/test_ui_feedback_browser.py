"""The feedback loop as a person goes through it, in headless Chromium against `python app.py`:
ask, rate the answer down with a correction, reload, restart the server and resume, export the
feedback and evaluate it, open the report in the Evaluation tab. The steps run in this order."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .conftest import FROZEN_CORPUS, ROOT
from .servers import free_port, wait_until_up
from .test_ui_browser import ARTIFACTS, ask, open_page

pytestmark = pytest.mark.integration
QUESTION = "Berapa negara yang menandatangani Konvensi Hanoi?"


class App:
    """`python app.py` on a fixed port and data folder, which can be restarted."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CONVENTION_QA_")},
            "CONVENTION_QA_DATA_DIR": str(root / "data"),
            "CONVENTION_QA_CORPUS_DIR": str(root / "corpus"),
            "CONVENTION_QA_REPORTS_DIR": str(root / "reports"),
            "CONVENTION_QA_LLM": "extractive",
            "CONVENTION_QA_STRICTNESS": "off",  # the UI, not the answer check (measured by eval)
            "CONVENTION_QA_PORT": str(self.port),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.root / "app.log").open("ab")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], env=self.env, stdout=log, stderr=log)
        wait_until_up(f"{self.url}/health", self.proc, 180, f"see {self.root / 'app.log'}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "convention_qa", *args], env=self.env, capture_output=True, text=True, timeout=600
        )


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    root = tmp_path_factory.mktemp("feedback-ui")
    shutil.copytree(FROZEN_CORPUS, root / "corpus")
    running = App(root)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def page(app: App) -> Iterator[Any]:
    with open_page(app.url) as tab:
        yield tab


def same_owner(page: Any) -> httpx.Client:
    """An API client that is the browser's owner (its signed cookie): it sees what the page saved."""
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert "convention_qa_owner" in cookies, "the page got an owner cookie"
    return httpx.Client(cookies=cookies, timeout=60)


def chat_text(page: Any) -> str:
    return str(page.locator("#chat").inner_text())


def test_1_ask_a_question(page: Any) -> None:
    answer = ask(page, QUESTION)
    assert "69 negara" in answer and "[1]" in answer
    page.wait_for_function("() => document.querySelector('#past').innerText.includes('Berapa negara')")


def test_2_rate_the_answer_down_with_a_correction(page: Any, app: App) -> None:
    page.locator("#chat button[aria-label='Dislike']").last.click()
    page.wait_for_selector("#feedback-form #correction textarea", state="visible", timeout=30_000)
    page.fill("#correction textarea", "69 negara menandatangani Konvensi Hanoi")
    page.fill("#comment textarea", "the answer should be short")
    page.click("#send-feedback")
    page.wait_for_function(
        "() => document.querySelector('#feedback-status').innerText.includes('correction is saved')", timeout=30_000
    )
    http = same_owner(page)
    assert httpx.get(f"{app.url}/api/conversations").json() == [], "another client sees none of it"
    conversations = http.get(f"{app.url}/api/conversations").json()
    turns = http.get(f"{app.url}/api/conversations/{conversations[0]['id']}").json()["turns"]
    feedback = turns[0]["feedback"]
    assert feedback["rating"] == "down" and feedback["correction"] == "69 negara menandatangani Konvensi Hanoi"
    page.screenshot(path=str(ARTIFACTS / "ui-feedback.png"), full_page=True)


def test_3_reload_the_page_and_the_conversation_is_still_there(page: Any) -> None:
    page.reload()
    page.wait_for_selector("#question textarea", timeout=60_000)
    page.wait_for_function(f"() => document.querySelector('#chat').innerText.includes({QUESTION!r})", timeout=30_000)
    assert "69 negara" in chat_text(page)


def test_4_restart_the_server_and_resume_the_conversation(page: Any, app: App) -> None:
    app.stop()
    app.start()
    page.reload()
    page.wait_for_selector("#question textarea", timeout=60_000)
    page.wait_for_function(f"() => document.querySelector('#chat').innerText.includes({QUESTION!r})", timeout=30_000)
    page.click("#new-conversation")  # leave it, then pick it from the sidebar
    page.wait_for_function("() => document.querySelectorAll('#chat .message').length === 0", timeout=10_000)
    page.locator("#past label").filter(has_text="Berapa negara").first.click()
    page.wait_for_function(f"() => document.querySelector('#chat').innerText.includes({QUESTION!r})", timeout=30_000)
    answer = ask(page, "Berapa pasal yang dimilikinya?")
    assert "68" in answer, answer
    conversations = same_owner(page).get(f"{app.url}/api/conversations").json()
    assert len(conversations) == 1 and conversations[0]["turns"] == 2, "the follow-up went into the same conversation"


def test_5_export_the_feedback_and_evaluate_it(app: App) -> None:
    out = app.root / "feedback.yaml"
    exported = app.cli("feedback", "export", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    questions = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert [q["answers"] for q in questions] == [["69 negara menandatangani Konvensi Hanoi"]]
    evaluated = app.cli("eval", str(out), "--out", str(app.root / "reports" / "feedback"))
    assert evaluated.returncode == 0, evaluated.stderr
    assert (app.root / "reports" / "feedback" / "report.json").is_file()


def test_6_open_the_report_in_the_evaluation_tab(page: Any) -> None:
    page.get_by_role("tab", name="Evaluation").click()
    page.wait_for_function(
        "() => document.querySelector('#report-headline') && "
        "document.querySelector('#report-headline').innerText.includes('of 1')",
        timeout=30_000,
    )
    table = str(page.locator("#report-questions").inner_text())
    assert QUESTION in table and "69 negara menandatangani Konvensi Hanoi" in table
    assert "answer_rate" in str(page.locator("#report-summary").inner_text())
    assert page.locator("#report-charts img").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "ui-evaluation.png"), full_page=True)


def test_7_delete_the_conversation_from_the_sidebar(page: Any, app: App) -> None:
    page.get_by_role("tab", name="Chat").click()
    page.locator("#past label").filter(has_text="Berapa negara").first.click()
    page.wait_for_function(f"() => document.querySelector('#chat').innerText.includes({QUESTION!r})", timeout=30_000)
    page.click("#delete-conversation")
    page.wait_for_function("() => document.querySelectorAll('#chat .message').length === 0", timeout=30_000)
    page.wait_for_function("() => !document.querySelector('#past').innerText.includes('Berapa negara')")
    assert httpx.get(f"{app.url}/api/conversations").json() == []
