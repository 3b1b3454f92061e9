"""The Gradio chat: the page's layout and its wiring, in small builders. Answers come from one
chat turn (``chat.py``) through the handlers (``ui_handlers.py``); what is shown is rendered by
``ui_render.py``. Nothing here decides what an answer is."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

import gradio as gr
from gradio.events import api

from convention_qa.answering.assistant import Assistant
from convention_qa.chat import Chat
from convention_qa.config import MAX_K
from convention_qa.conversations.store import ConversationStore
from convention_qa.corpus.documents import SUPPORTED_SUFFIXES
from convention_qa.web.identity import Identities
from convention_qa.web.ui_handlers import Handlers, Upload
from convention_qa.web.ui_render import EXAMPLES, LANGUAGE_CHOICES, render_sources

__all__ = ["Services", "build_ui"]


@dataclass
class Services:
    """What the UI offers beyond the chat, each optional."""

    conversations: ConversationStore | None = None  # stored conversations, the sidebar and ratings
    chat: Chat | None = None  # chat turns kept in ``conversations`` (None: the UI builds its own)
    reports_dir: Path | None = None  # the Evaluation tab's folder of `eval --out` reports
    secret: str | None = None  # Gradio's BrowserState key: keeps the conversation id readable after a restart
    identities: Identities | None = None  # who the browser is; None: one local owner (a UI without a server)
    stopping: Callable[[], bool] = lambda: False  # the server is shutting down (SIGTERM)


@dataclass
class _Sidebar:
    past: Any
    delete: Any = None
    export_md: Any = None
    export_json: Any = None
    exported: Any = None
    status: Any = None
    account: Any = None


@dataclass
class _ChatTab:
    chatbot: Any
    question: Any
    send: Any
    new: Any
    feedback_status: Any
    pending: Any
    form: Any
    correction: Any
    not_said: Any
    comment: Any
    send_correction: Any
    sources: Any
    k: Any
    language: Any
    files: Any
    add: Any
    upload_status: Any


def build_ui(
    assistant: Assistant, upload: Upload, *, max_upload_mb: float, services: Services | None = None
) -> gr.Blocks:
    """The chat app around one assistant; ``upload`` adds files to the corpus and indexes them."""
    services = services or Services()
    store = services.conversations
    stateless = Chat(assistant)
    handlers = Handlers(
        chat=services.chat or Chat(assistant, store),
        stateless=stateless,
        store=store,
        upload=upload,
        identities=services.identities,
        stopping=services.stopping,
    )
    demo: gr.Blocks
    with gr.Blocks(title="convention-qa", analytics_enabled=False) as demo:
        conversation = gr.BrowserState(None, storage_key="convention_qa_conversation", secret=services.secret)
        answer_ids = gr.State([])
        sidebar = _sidebar() if store is not None else _Sidebar(past=gr.Radio(visible=False))
        with gr.Tab("Chat", elem_id="chat-tab"):
            tab = _chat_tab(assistant, max_upload_mb)
        if services.reports_dir is not None:
            from convention_qa.web.evaluation_tab import build_evaluation_tab

            build_evaluation_tab(services.reports_dir)
        _wire_chat(handlers, tab, sidebar, conversation, answer_ids, demo)
        if store is not None:
            _wire_conversations(handlers, tab, sidebar, conversation, answer_ids, demo)
    return demo


def _sidebar() -> _Sidebar:
    with gr.Sidebar(label="Conversations", open=True, elem_id="sidebar"):
        past = gr.Radio(choices=[], label="Past conversations", elem_id="past", interactive=True)
        delete = gr.Button(
            "Delete the selected conversation", elem_id="delete-conversation", size="sm", variant="secondary"
        )
        with gr.Row():
            export_md = gr.Button("Export (Markdown)", elem_id="export-md", size="sm", variant="secondary")
            export_json = gr.Button("Export (JSON)", elem_id="export-json", size="sm", variant="secondary")
        exported = gr.HTML(visible=False, elem_id="exported")  # a link to the owner-checked export route
        status = gr.Markdown(elem_id="sidebar-status")
        account = gr.HTML(elem_id="account")  # who you are here; sign in with a key, or out
    return _Sidebar(past, delete, export_md, export_json, exported, status, account)


def _chat_tab(assistant: Assistant, max_upload_mb: float) -> _ChatTab:
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
                k = gr.Slider(1, MAX_K, value=assistant.config.k, step=1, label="Passages to retrieve", elem_id="k")
                language = gr.Dropdown(LANGUAGE_CHOICES, value="auto", label="Answer language", elem_id="language")
            with gr.Accordion("Add articles", open=False):
                files = gr.File(
                    file_count="multiple",
                    label=f"{', '.join(SUPPORTED_SUFFIXES)} up to {max_upload_mb:g} MB each",
                    elem_id="upload",
                )
                add = gr.Button("Add to the corpus", elem_id="add-files")
                upload_status = gr.Markdown(elem_id="upload-status")
    return _ChatTab(
        chatbot,
        question,
        send,
        new,
        feedback_status,
        pending,
        form,
        correction,
        not_said,
        comment,
        send_correction,
        sources,
        k,
        language,
        files,
        add,
        upload_status,
    )


def _wire_chat(h: Handlers, tab: _ChatTab, sidebar: _Sidebar, conversation: Any, ids: Any, demo: gr.Blocks) -> None:
    """Asking, starting over, uploading, the public ``/ask`` API and restoring after a reload."""
    inputs = [tab.question, tab.chatbot, tab.k, tab.language, conversation, ids]
    outputs = [tab.chatbot, tab.sources, tab.question, conversation, ids, sidebar.past]
    tab.question.submit(h.respond, inputs, outputs, api_visibility="private")
    tab.send.click(h.respond, inputs, outputs, api_visibility="private")
    tab.new.click(h.start_over, None, outputs, api_visibility="private")
    tab.chatbot.clear(h.cleared, None, [conversation, ids, sidebar.past], api_visibility="private")
    tab.add.click(h.add, tab.files, tab.upload_status, api_name="add_files")
    api(h.ask, api_name="ask")
    restored = [tab.chatbot, tab.sources, conversation, ids, sidebar.past]
    demo.load(h.restore, conversation, restored, api_visibility="private")


def _wire_conversations(
    h: Handlers, tab: _ChatTab, sidebar: _Sidebar, conversation: Any, ids: Any, demo: gr.Blocks
) -> None:
    """Ratings and corrections, and the sidebar: open, delete, export."""
    tab.chatbot.like(h.rate, ids, [tab.form, tab.pending, tab.feedback_status], api_visibility="private")
    tab.send_correction.click(
        h.send_feedback,
        [tab.pending, tab.correction, tab.not_said, tab.comment],
        [tab.form, tab.pending, tab.feedback_status, tab.correction, tab.not_said, tab.comment],
        api_visibility="private",
    )
    restored = [tab.chatbot, tab.sources, conversation, ids, sidebar.past]
    sidebar.past.input(h.restore, sidebar.past, restored, api_visibility="private")
    chosen = [conversation, sidebar.past]
    sidebar.delete.click(h.delete, chosen, [*restored, sidebar.status], api_visibility="private")
    sidebar.export_md.click(h.export_markdown, chosen, [sidebar.exported, sidebar.status], api_visibility="private")
    sidebar.export_json.click(h.export_as_json, chosen, [sidebar.exported, sidebar.status], api_visibility="private")
    demo.load(h.account, None, sidebar.account, api_visibility="private")
