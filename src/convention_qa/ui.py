"""The Gradio chat: wiring only. Answers come from ``Assistant.stream``, uploads go through
``library.add_files``; nothing here decides what an answer is."""

from __future__ import annotations

import html
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

import gradio as gr
from gradio.events import api

from convention_qa.answering import ABSTAIN_REASONS, Answer, Assistant
from convention_qa.config import MAX_FEEDBACK_CHARS, MAX_K
from convention_qa.contract import follow
from convention_qa.conversations import ConversationStore
from convention_qa.documents import SUPPORTED_SUFFIXES
from convention_qa.errors import ConventionQAError
from convention_qa.export import ExportFormat, export_conversation, export_filename
from convention_qa.library import UploadResult
from convention_qa.owners import AccessError, Identities, Owner

__all__ = ["EXAMPLES", "Services", "build_ui"]

log = logging.getLogger(__name__)

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
    if answer.confidence is not None:
        parts.append(
            "<div class='confidence meta' title='The measured probability that an answer like this one is right "
            f'(see README, "Answer check")\'>Confidence {answer.confidence:.0%}</div>'
        )
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


@dataclass
class Services:
    """What the UI offers beyond the chat, each optional."""

    conversations: ConversationStore | None = None  # stored conversations, the sidebar and ratings
    answer_config: dict[str, Any] = field(default_factory=dict)  # stored with each answer
    reports_dir: Path | None = None  # the Evaluation tab's folder of `eval --out` reports
    secret: str | None = None  # Gradio's BrowserState key: keeps the conversation id readable after a restart
    identities: Identities | None = None  # who the browser is; None: one local owner (a UI without a server)
    stopping: Callable[[], bool] = lambda: False  # the server is shutting down (SIGTERM)


LOCAL = Owner("local")


def _restore_answer(details: dict[str, Any]) -> Answer | None:
    try:
        return Answer.model_validate({**details, "text": details.get("answer", "")})
    except ValueError:
        return None


def build_ui(
    assistant: Assistant, upload: Upload, *, max_upload_mb: float, services: Services | None = None
) -> gr.Blocks:
    """The chat app around one assistant; ``upload`` adds files to the corpus and indexes them."""
    services = services or Services()
    store = services.conversations

    def owner_of(request: gr.Request | None) -> Owner:
        """The browser's owner: its signed cookie (or key, or the trusted proxy's user header).
        A browser that keeps no cookies is an owner for as long as its tab is open."""
        raw = getattr(request, "request", None) if request is not None else None
        if services.identities is None or raw is None:
            return LOCAL
        try:
            return services.identities.of(raw)
        except AccessError:
            return Owner(f"tab:{getattr(request, 'session_hash', None) or 'unknown'}")

    def conversation_choices(owner: Owner, current: str | None = None) -> Any:
        if store is None:
            return gr.update()
        choices = [(f"{c.title} ({c.turns})", c.id) for c in store.summaries(owner, 200)]
        return gr.update(choices=choices, value=current if current in {c for _, c in choices} else None)

    def ask(message: str, history: list[dict[str, Any]], k: int, language: str) -> tuple[list[Any], str, str]:
        """The UI's public API (gradio_client, ``/ask``): the chat's final state, nothing stored."""
        states = list(respond(message, history, k, language, None, [], None, persist=False))
        return states[-1][0], states[-1][1], states[-1][2]

    def respond(
        message: str,
        history: list[dict[str, Any]],
        k: int,
        language: str,
        conversation: str | None,
        ids: list[Any],
        request: gr.Request | None,
        *,
        persist: bool = True,
    ) -> Iterator[tuple[Any, ...]]:
        owner = owner_of(request)
        message = (message or "").strip()
        ids = list(ids or [])
        if not message:
            yield history, render_sources(None), "", conversation, ids, gr.update()
            return
        if services.stopping():
            notice = "⚠️ The server is restarting: ask again in a few seconds."
            history = [*history, {"role": "user", "content": message}, {"role": "assistant", "content": notice}]
            yield history, render_sources(None), message, conversation, [*ids, None, None], gr.update()
            return
        past = [{"role": str(m["role"]), "content": _text(m.get("content"))} for m in history]
        history = [*history, {"role": "user", "content": message}, {"role": "assistant", "content": ""}]
        ids = [*ids[: len(history) - 2], None, None]
        yield history, "<p><em>Searching the articles…</em></p>", "", conversation, ids, gr.update()
        try:
            asking = assistant.request(message, past, k=int(k), language=None if language == "auto" else language)
            for update in follow(assistant.stream(asking)):
                history[-1]["content"] = update.text
                if update.answer is None:
                    yield history, "<p><em>Writing the answer…</em></p>", "", conversation, ids, gr.update()
                    continue
                choices, panel = gr.update(), render_sources(update.answer)
                if store is not None and persist:
                    try:
                        asked, config = asking.question, services.answer_config
                        answer_id = (
                            store.record(conversation, asked, update.answer, config, owner) if conversation else None
                        )
                        if answer_id is None:  # a new chat, or its conversation was deleted meanwhile
                            conversation = store.start(asked, owner)
                            answer_id = store.record(conversation, asked, update.answer, config, owner)
                        ids[-1] = answer_id
                        choices = conversation_choices(owner, conversation)
                    except ConventionQAError as exc:  # the answer stands; only keeping it failed
                        log.warning("could not store the answer: %s", exc)
                        panel = f"<p class='meta'>⚠️ This answer was not saved: {html.escape(str(exc))}</p>" + panel
                yield history, panel, "", conversation, ids, choices
        except ConventionQAError as exc:
            history[-1]["content"] = f"⚠️ {exc}"
            yield history, render_sources(None), "", conversation, ids, gr.update()

    def restore(conversation: str | None, request: gr.Request) -> tuple[Any, ...]:
        """The conversation kept in the browser (after a reload), or an empty chat."""
        owner = owner_of(request)
        if store is None or not conversation:
            return [], render_sources(None), None, [], conversation_choices(owner)
        try:
            _, turns = store.get(conversation, owner)
        except ConventionQAError:
            return [], render_sources(None), None, [], conversation_choices(owner)
        history: list[dict[str, Any]] = []
        ids: list[Any] = []
        for turn in turns:
            history += [{"role": "user", "content": turn.question}, {"role": "assistant", "content": turn.answer}]
            ids += [None, turn.id]
        last = _restore_answer(turns[-1].details) if turns else None
        return history, render_sources(last), conversation, ids, conversation_choices(owner, conversation)

    def delete(conversation: str | None, chosen: str | None, request: gr.Request) -> tuple[Any, ...]:
        owner = owner_of(request)
        target = chosen or conversation
        if store is None or not target or not store.delete(target, owner):
            return (*[gr.update()] * 4, conversation_choices(owner, conversation), "No such conversation.")
        if target == conversation:
            return [], render_sources(None), None, [], conversation_choices(owner), "Conversation deleted."
        return (
            gr.update(),
            gr.update(),
            conversation,
            gr.update(),
            conversation_choices(owner, conversation),
            "Conversation deleted.",
        )

    def rate(ids: list[Any], data: gr.LikeData, request: gr.Request) -> tuple[Any, ...]:
        owner = owner_of(request)
        index = data.index[0] if isinstance(data.index, list | tuple) else data.index
        answer_id = ids[index] if isinstance(index, int) and 0 <= index < len(ids or []) else None
        if store is None or not answer_id:
            return gr.update(visible=False), None, "This answer cannot be rated."
        try:
            if data.liked is True or data.liked == "Like":
                store.rate(answer_id, "up", owner)
                return gr.update(visible=False), None, "Thanks: marked as a good answer."
            if data.liked is False or data.liked == "Dislike":
                store.rate(answer_id, "down", owner)
        except ConventionQAError as exc:  # e.g. the conversation was deleted in another tab
            return gr.update(visible=False), None, f"⚠️ {exc}"
        if data.liked is False or data.liked == "Dislike":
            return (
                gr.update(visible=True),
                answer_id,
                "Marked as wrong. If you know the right answer, say it below.",
            )
        return gr.update(visible=False), None, ""

    def send_feedback(
        answer_id: str | None, correction: str, not_said: bool, comment: str, request: gr.Request
    ) -> tuple[Any, ...]:
        if store is None or not answer_id:
            return gr.update(visible=False), None, "Rate an answer first.", "", False, ""
        correction, comment = (correction or "").strip(), (comment or "").strip()
        problem = None
        if len(correction) > MAX_FEEDBACK_CHARS or len(comment) > MAX_FEEDBACK_CHARS:
            problem = f"Keep it under {MAX_FEEDBACK_CHARS} characters."
        elif correction and not_said:
            problem = "Give a correct answer or tick “the articles do not say”, not both."
        if problem:
            return gr.update(), answer_id, problem, correction, not_said, comment
        try:
            store.rate(
                answer_id,
                "down",
                owner_of(request),
                comment=comment or None,
                correction=correction or None,
                not_in_articles=not_said,
            )
        except ConventionQAError as exc:
            return gr.update(visible=False), None, f"⚠️ {exc}", correction, not_said, comment
        return gr.update(visible=False), None, "Thanks: your correction is saved.", "", False, ""

    def export(conversation: str | None, chosen: str | None, fmt: ExportFormat, request: gr.Request) -> tuple[Any, ...]:
        """The open (or selected) conversation as a file to download: only the owner's."""
        target = conversation or chosen
        if store is None or not target:
            return gr.update(visible=False), "Ask something first: there is no conversation to export."
        try:
            summary, turns = store.get(target, owner_of(request))
        except ConventionQAError as exc:
            return gr.update(visible=False), f"⚠️ {exc}"
        folder = Path(tempfile.mkdtemp(prefix="convention-qa-export-"))
        path = folder / export_filename(summary, fmt)
        path.write_text(export_conversation(summary, turns, fmt), encoding="utf-8")
        return gr.update(value=str(path), visible=True), f"Exported {len(turns)} questions and answers."

    def export_markdown(conversation: str | None, chosen: str | None, request: gr.Request) -> tuple[Any, ...]:
        return export(conversation, chosen, "md", request)

    def export_as_json(conversation: str | None, chosen: str | None, request: gr.Request) -> tuple[Any, ...]:
        return export(conversation, chosen, "json", request)

    def start_over(request: gr.Request) -> tuple[Any, ...]:
        return [], render_sources(None), "", None, [], conversation_choices(owner_of(request))

    def cleared(request: gr.Request) -> tuple[Any, ...]:
        return None, [], conversation_choices(owner_of(request))

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
        conversation = gr.BrowserState(None, storage_key="convention_qa_conversation", secret=services.secret)
        answer_ids = gr.State([])
        if store is not None:
            with gr.Sidebar(label="Conversations", open=True, elem_id="sidebar"):
                past = gr.Radio(choices=[], label="Past conversations", elem_id="past", interactive=True)
                delete_button = gr.Button(
                    "Delete the selected conversation", elem_id="delete-conversation", size="sm", variant="secondary"
                )
                with gr.Row():
                    export_md = gr.Button("Export (Markdown)", elem_id="export-md", size="sm", variant="secondary")
                    export_json = gr.Button("Export (JSON)", elem_id="export-json", size="sm", variant="secondary")
                exported = gr.File(label="Exported conversation", visible=False, elem_id="exported", interactive=False)
                sidebar_status = gr.Markdown(elem_id="sidebar-status")
        else:
            past = gr.Radio(visible=False)
        with gr.Tab("Chat", elem_id="chat-tab"):
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
                    feedback_status = gr.Markdown(elem_id="feedback-status")
                    pending = gr.State(None)
                    with gr.Group(visible=False, elem_id="feedback-form") as form:
                        correction = gr.Textbox(label="The correct answer", elem_id="correction", max_lines=3)
                        not_said = gr.Checkbox(label="The articles do not say", elem_id="not-in-articles")
                        comment = gr.Textbox(label="Comment (optional)", elem_id="comment", max_lines=3)
                        send_correction = gr.Button("Send", elem_id="send-feedback")
                    gr.Examples(EXAMPLES, inputs=question, label="Try")
                with gr.Column(scale=2):
                    sources = gr.HTML(render_sources(None), label="Sources", elem_id="sources")
                    with gr.Accordion("Settings for this conversation", open=False):
                        k = gr.Slider(
                            1, MAX_K, value=assistant.config.k, step=1, label="Passages to retrieve", elem_id="k"
                        )
                        language = gr.Dropdown(
                            LANGUAGE_CHOICES, value="auto", label="Answer language", elem_id="language"
                        )
                    with gr.Accordion("Add articles", open=False):
                        files = gr.File(
                            file_count="multiple",
                            label=f"{', '.join(SUPPORTED_SUFFIXES)} up to {max_upload_mb:g} MB each",
                            elem_id="upload",
                        )
                        add_button = gr.Button("Add to the corpus", elem_id="add-files")
                        upload_status = gr.Markdown(elem_id="upload-status")
        if services.reports_dir is not None:
            from convention_qa.ui_evaluation import build_evaluation_tab

            build_evaluation_tab(services.reports_dir)

        inputs = [question, chatbot, k, language, conversation, answer_ids]
        outputs = [chatbot, sources, question, conversation, answer_ids, past]
        question.submit(respond, inputs, outputs, api_visibility="private")
        send.click(respond, inputs, outputs, api_visibility="private")
        new.click(
            start_over,
            None,
            [chatbot, sources, question, conversation, answer_ids, past],
            api_visibility="private",
        )
        chatbot.clear(
            cleared,
            None,
            [conversation, answer_ids, past],
            api_visibility="private",
        )
        add_button.click(add, files, upload_status, api_name="add_files")
        api(ask, api_name="ask")
        restored = [chatbot, sources, conversation, answer_ids, past]
        demo.load(restore, conversation, restored, api_visibility="private")
        if store is not None:
            chatbot.like(rate, answer_ids, [form, pending, feedback_status], api_visibility="private")
            send_correction.click(
                send_feedback,
                [pending, correction, not_said, comment],
                [form, pending, feedback_status, correction, not_said, comment],
                api_visibility="private",
            )
            past.input(restore, past, restored, api_visibility="private")
            delete_button.click(delete, [conversation, past], [*restored, sidebar_status], api_visibility="private")
            export_md.click(export_markdown, [conversation, past], [exported, sidebar_status], api_visibility="private")
            export_json.click(
                export_as_json, [conversation, past], [exported, sidebar_status], api_visibility="private"
            )
    return demo
