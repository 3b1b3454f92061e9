"""The Gradio chat: wiring only. Answers come from ``Assistant.stream``, uploads go through
``library.add_files``; nothing here decides what an answer is."""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

import gradio as gr

from convention_qa.answering import ABSTAIN_REASONS, Answer, Assistant
from convention_qa.config import MAX_K
from convention_qa.contract import follow
from convention_qa.documents import SUPPORTED_SUFFIXES
from convention_qa.errors import ConventionQAError
from convention_qa.library import UploadResult

__all__ = ["EXAMPLES", "build_ui"]

EXAMPLES = [
    "Berapa negara yang menandatangani Konvensi Hanoi?",
    "Siapa yang mengambil foto panorama sesi diskusi?",
    "How many articles does the Hanoi Convention have?",
    "Who chaired the high-level discussion session?",
]
LANGUAGE_CHOICES = [
    ("Auto (language of the question)", "auto"),
    ("Bahasa Indonesia", "id"),
    ("English", "en"),
    ("Tiếng Việt", "vi"),
]

CSS = """
.source-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px;
               margin-bottom: 10px; }
.source-card h4 { margin: 0 0 4px 0; font-size: 0.95em; }
.source-card .meta { font-size: 0.8em; opacity: 0.75; margin-bottom: 6px; }
.source-card mark { background: #ffe58a; color: #111; padding: 0 2px; border-radius: 2px; }
.abstained { border-left: 4px solid #d9822b; padding-left: 10px; margin-bottom: 10px; }
"""

Upload = Callable[[list[tuple[str, bytes]]], UploadResult]


def _highlight(text: str, sentences: list[str]) -> str:
    out = html.escape(text)
    for sentence in sorted(set(sentences), key=len, reverse=True):
        escaped = html.escape(sentence)
        if escaped and escaped in out:
            out = out.replace(escaped, f"<mark>{escaped}</mark>", 1)
    return out


def render_sources(answer: Answer | None) -> str:
    """The sources panel: each cited passage with its supporting sentences highlighted."""
    if answer is None:
        return "<p><em>Sources appear here: every [n] in an answer links to its passage.</em></p>"
    question = html.escape(answer.question, quote=True)
    parts = [f"<div class='sources-for meta' data-question=\"{question}\">Sources for “{question}”</div>"]
    if answer.abstained:
        why = ABSTAIN_REASONS.get(answer.abstain_reason or "", "")
        parts.append(
            "<div class='abstained'><strong>No answer in the articles.</strong> "
            + (f"Why: {html.escape(why)}. " if why else "")
            + "The closest passages are below; none of them answers the question.</div>"
        )
        for p in answer.passages[:3]:
            title = html.escape(p.meta.title or p.meta.doc_id)
            parts.append(f"<div class='source-card closest'><h4>{title}</h4><div>{html.escape(p.text)}</div></div>")
        return "\n".join(parts)
    for c in answer.citations:
        title = html.escape(c.title or c.doc_id)
        link = (
            f"<a href='{html.escape(c.source, quote=True)}' target='_blank' rel='noopener'>{title}</a>"
            if c.source and c.source.startswith(("http://", "https://"))
            else title
        )
        parts.append(
            f"<div class='source-card' id='source-{c.n}'><h4>[{c.n}] {link}</h4>"
            f"<div class='meta'>characters {c.start}-{c.end} of the article · score {c.score:.2f}</div>"
            f"<div class='passage'>{_highlight(c.text, c.supporting)}</div></div>"
        )
    for claim in answer.unsupported:
        parts.append(f"<p class='meta'>Check: the cited passage does not obviously support “{html.escape(claim)}”.</p>")
    return "\n".join(parts)


def _text(content: Any) -> str:
    """A chat message's text; Gradio hands content back as a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or "")
    if isinstance(content, list):
        return " ".join(_text(part) for part in content).strip()
    return ""


def _describe_upload(result: UploadResult) -> str:
    lines = []
    if result.saved:
        lines.append("Added: " + ", ".join(f"`{Path(s).name}`" for s in result.saved))
    for failure in result.rejected:
        lines.append(f"Rejected `{failure.path}`: {failure.error}")
    if result.report is not None:
        lines.append(f"The index now holds {result.report.chunks} passages.")
    return "\n\n".join(lines) or "Nothing to add."


def build_ui(assistant: Assistant, upload: Upload, *, max_upload_mb: float) -> gr.Blocks:
    """The chat app around one assistant; ``upload`` adds files to the corpus and indexes them."""

    def respond(
        message: str, history: list[dict[str, Any]], k: int, language: str
    ) -> Iterator[tuple[list[dict[str, Any]], str, str]]:
        message = (message or "").strip()
        if not message:
            yield history, render_sources(None), ""
            return
        past = [{"role": str(m["role"]), "content": _text(m.get("content"))} for m in history]
        history = [*history, {"role": "user", "content": message}, {"role": "assistant", "content": ""}]
        yield history, "<p><em>Searching the articles…</em></p>", ""
        try:
            request = assistant.request(message, past, k=int(k), language=None if language == "auto" else language)
            for update in follow(assistant.stream(request)):
                history[-1]["content"] = update.text
                if update.answer is not None:
                    yield history, render_sources(update.answer), ""
                else:
                    yield history, "<p><em>Writing the answer…</em></p>", ""
        except ConventionQAError as exc:
            history[-1]["content"] = f"⚠️ {exc}"
            yield history, render_sources(None), ""

    def add(files: list[Any] | None) -> str:
        if not files:
            return "Choose one or more files first."
        payload = []
        for item in files:
            path = Path(item if isinstance(item, str) else item.name)
            payload.append((path.name, path.read_bytes()))
        try:
            return _describe_upload(upload(payload))
        except ConventionQAError as exc:
            return f"⚠️ {exc}"

    demo: gr.Blocks
    with gr.Blocks(title="convention-qa", analytics_enabled=False) as demo:
        gr.Markdown("## Ask the articles\nAnswers cite the passages they rest on; click a source to read it.")
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="Conversation", height=480, elem_id="chat", buttons=["copy"])
                with gr.Row():
                    question = gr.Textbox(
                        placeholder="Ask in Indonesian, English or Vietnamese…",
                        show_label=False,
                        scale=5,
                        elem_id="question",
                        max_length=assistant.config.max_question_chars,
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                new = gr.Button("New conversation", elem_id="new-conversation")
                gr.Examples(EXAMPLES, inputs=question, label="Try")
            with gr.Column(scale=2):
                sources = gr.HTML(render_sources(None), label="Sources", elem_id="sources")
                with gr.Accordion("Settings for this conversation", open=False):
                    k = gr.Slider(1, MAX_K, value=assistant.config.k, step=1, label="Passages to retrieve", elem_id="k")
                    language = gr.Dropdown(LANGUAGE_CHOICES, value="auto", label="Answer language", elem_id="language")
                with gr.Accordion("Add articles", open=False):
                    files = gr.File(
                        file_count="multiple",
                        label=f"{', '.join(SUPPORTED_SUFFIXES)} up to {max_upload_mb:g} MB each",
                        elem_id="upload",
                    )
                    add_button = gr.Button("Add to the corpus", elem_id="add-files")
                    upload_status = gr.Markdown(elem_id="upload-status")

        inputs = [question, chatbot, k, language]
        outputs = [chatbot, sources, question]
        question.submit(respond, inputs, outputs, api_name="ask")
        send.click(respond, inputs, outputs, api_visibility="private")
        new.click(lambda: ([], render_sources(None), ""), None, outputs, api_visibility="private")
        add_button.click(add, files, upload_status, api_name="add_files")
    return demo
