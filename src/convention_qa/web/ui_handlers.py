"""The chat UI's event handlers, as Gradio calls them. Wiring only: a question is one chat turn
(``chat.py``), ratings and exports go to the conversation store, uploads to ``corpus/uploads``."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import gradio as gr

from convention_qa.chat import Chat, messages
from convention_qa.config import MAX_FEEDBACK_CHARS
from convention_qa.contract import Exchange, follow
from convention_qa.conversations.export import ExportFormat, export_filename
from convention_qa.conversations.owners import LOCAL, Owner
from convention_qa.conversations.store import ConversationStore
from convention_qa.corpus.progress import IngestProgress
from convention_qa.corpus.uploads import UploadResult
from convention_qa.errors import ConventionQAError, NotFoundError
from convention_qa.web.identity import Identities
from convention_qa.web.signin import SIGN_IN_FORM, SIGN_OUT_FORM, signed_in_as
from convention_qa.web.ui_render import chat_text, describe_upload, render_sources, restored_answer

__all__ = ["Handlers", "Upload"]

log = logging.getLogger(__name__)

Upload = Callable[..., UploadResult]  # (files, on_progress=None): save, ingest, report
RESTARTING = "⚠️ The server is restarting: ask again in a few seconds."
NO_COOKIES = (
    "<p class='meta' id='no-cookies'>⚠️ This browser sends no cookies, so this conversation is not kept: "
    "follow-up questions still work in this tab, but a reload loses it and it is not in your history. "
    "Allow cookies for this site, or sign in with a key, to keep it.</p>"
)


# What the chat bubble says while the answer is held until it is checked.
_STAGES = {
    "retrieve": "⏳ *Searching the articles…*",
    "rank": "⏳ *Finding the sentences that answer…*",
    "read": "⏳ *Reading the best sentences…*",
}


@dataclass
class Handlers:
    """``chat`` keeps what is asked in the chat window (its memory is ``store`` when there is
    one); ``stateless`` answers the UI's public ``/ask`` API, which keeps nothing."""

    chat: Chat
    stateless: Chat
    store: ConversationStore | None
    upload: Upload
    identities: Identities | None = None
    stopping: Callable[[], bool] = lambda: False

    def owner_of(self, request: gr.Request | None) -> Owner:
        """The browser's owner: its key cookie (or the trusted proxy's user header), else its signed
        anonymous cookie. Never anything the page sends in clear (Gradio's session hash is the
        client's to choose): a wrong or revoked key is an AccessError that says to sign in again."""
        raw = getattr(request, "request", None) if request is not None else None
        if self.identities is None or raw is None:
            return LOCAL
        return self.identities.of(raw)

    def lasting(self, request: gr.Request | None, owner: Owner) -> bool:
        """Whether the owner outlives this request (a browser that blocks cookies is a new one on
        each): only then is a conversation kept for it."""
        raw = getattr(request, "request", None) if request is not None else None
        return self.identities is None or raw is None or self.identities.lasting(raw, owner)

    def conversation_choices(self, owner: Owner | None, current: str | None = None) -> Any:
        if self.store is None:
            return gr.update()
        if owner is None:  # signed out by a wrong key: show nobody's
            return gr.update(choices=[], value=None)
        choices = [(f"{c.title} ({c.turns})", c.id) for c in self.store.summaries(owner, 200)]
        return gr.update(choices=choices, value=current if current in {c for _, c in choices} else None)

    def ask(self, message: str, history: list[dict[str, Any]], k: int, language: str) -> tuple[list[Any], str, str]:
        """The UI's public API (gradio_client, ``/ask``): the chat's final state, nothing stored."""
        states = list(self.respond(message, history, k, language, None, [], None, keep=False))
        return states[-1][0], states[-1][1], states[-1][2]

    def respond(
        self,
        message: str,
        history: list[dict[str, Any]],
        k: int,
        language: str,
        conversation: str | None,
        ids: list[Any],
        request: gr.Request | None,
        *,
        keep: bool = True,
    ) -> Iterator[tuple[Any, ...]]:
        message = (message or "").strip()
        ids = list(ids or [])
        try:
            owner = self.owner_of(request)
        except ConventionQAError as exc:  # a wrong or revoked key: nothing is answered for nobody
            if message:
                history, ids = [*history, *messages([Exchange(message, f"⚠️ {exc}")])], [*ids, None, None]
            yield history, render_sources(None), message, conversation, ids, gr.update()
            return
        unkept = keep and self.store is not None and not self.lasting(request, owner)  # no cookies: no history
        if not message:
            yield history, render_sources(None), "", conversation, ids, gr.update()
            return
        if self.stopping():
            history = [*history, *messages([Exchange(message, RESTARTING)])]
            yield history, render_sources(None), message, conversation, [*ids, None, None], gr.update()
            return
        shown = [{"role": str(m["role"]), "content": chat_text(m.get("content"))} for m in history]
        history = [*history, *messages([Exchange(message, "")])]
        ids = [*ids[: len(history) - 2], None, None]
        yield history, "<p><em>Searching the articles…</em></p>", "", conversation, ids, gr.update()
        chat = self.chat if keep and self.store is not None and not unkept else self.stateless
        try:
            ask = partial(
                chat.turn, message, owner, history=shown, k=int(k), language=None if language == "auto" else language
            )
            try:
                turn = ask(conversation_id=conversation if chat.memory else None)
            except NotFoundError:  # deleted in another tab: this question starts a new conversation
                conversation, turn = None, ask()
            for update in follow(chat.stream(turn)):
                history[-1]["content"] = update.text or _STAGES.get(update.stage or "", "")
                if update.answer is None:
                    yield history, "<p><em>Writing the answer…</em></p>", "", conversation, ids, gr.update()
                    continue
                choices, panel = gr.update(), render_sources(update.answer)
                if chat.memory is not None:
                    conversation, ids[-1] = turn.conversation_id or conversation, turn.answer_id
                    choices = self.conversation_choices(owner, conversation)
                if turn.unsaved:  # the answer stands; only keeping it failed
                    panel = f"<p class='meta'>⚠️ This answer was not saved: {html.escape(turn.unsaved)}</p>" + panel
                elif unkept:
                    panel = NO_COOKIES + panel
                yield history, panel, "", conversation, ids, choices
        except ConventionQAError as exc:
            history[-1]["content"] = f"⚠️ {exc}"
            yield history, render_sources(None), "", conversation, ids, gr.update()

    def restore(self, conversation: str | None, request: gr.Request) -> tuple[Any, ...]:
        """The conversation kept in the browser (after a reload), or an empty chat."""
        try:
            owner = self.owner_of(request)
        except ConventionQAError as exc:
            return [], f"<p class='meta'>⚠️ {html.escape(str(exc))}</p>", None, [], self.conversation_choices(None)
        if self.store is None or not conversation:
            return [], render_sources(None), None, [], self.conversation_choices(owner)
        try:
            _, turns = self.store.get(conversation, owner)
        except ConventionQAError:
            return [], render_sources(None), None, [], self.conversation_choices(owner)
        history = messages(Exchange(turn.question, turn.answer) for turn in turns)
        ids = [i for turn in turns for i in (None, turn.id)]
        last = restored_answer(turns[-1].details) if turns else None
        return history, render_sources(last), conversation, ids, self.conversation_choices(owner, conversation)

    def delete(self, conversation: str | None, chosen: str | None, request: gr.Request) -> tuple[Any, ...]:
        try:
            owner = self.owner_of(request)
        except ConventionQAError as exc:
            return (*[gr.update()] * 4, self.conversation_choices(None), f"⚠️ {exc}")
        target = chosen or conversation
        choices = self.conversation_choices
        if self.store is None or not target or not self.store.delete(target, owner):
            return (*[gr.update()] * 4, choices(owner, conversation), "No such conversation.")
        if target == conversation:
            return [], render_sources(None), None, [], choices(owner), "Conversation deleted."
        kept = choices(owner, conversation)
        return gr.update(), gr.update(), conversation, gr.update(), kept, "Conversation deleted."

    def rate(self, ids: list[Any], data: gr.LikeData, request: gr.Request) -> tuple[Any, ...]:
        index = data.index[0] if isinstance(data.index, list | tuple) else data.index
        answer_id = ids[index] if isinstance(index, int) and 0 <= index < len(ids or []) else None
        if self.store is None or not answer_id:
            return gr.update(visible=False), None, "This answer cannot be rated."
        liked = data.liked is True or data.liked == "Like"
        disliked = data.liked is False or data.liked == "Dislike"
        try:
            if liked or disliked:
                self.store.rate(answer_id, "up" if liked else "down", self.owner_of(request))
        except ConventionQAError as exc:  # e.g. the conversation was deleted in another tab
            return gr.update(visible=False), None, f"⚠️ {exc}"
        if liked:
            return gr.update(visible=False), None, "Thanks: marked as a good answer."
        if disliked:
            return gr.update(visible=True), answer_id, "Marked as wrong. If you know the right answer, say it below."
        return gr.update(visible=False), None, ""

    def send_feedback(
        self, answer_id: str | None, correction: str, not_said: bool, comment: str, request: gr.Request
    ) -> tuple[Any, ...]:
        if self.store is None or not answer_id:
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
            self.store.rate(
                answer_id,
                "down",
                self.owner_of(request),
                comment=comment or None,
                correction=correction or None,
                not_in_articles=not_said,
            )
        except ConventionQAError as exc:
            return gr.update(visible=False), None, f"⚠️ {exc}", correction, not_said, comment
        return gr.update(visible=False), None, "Thanks: your correction is saved.", "", False, ""

    def export(self, conversation: str | None, chosen: str | None, fmt: ExportFormat, request: gr.Request) -> Any:
        """A link to download the open (or selected) conversation. The file is made when the link
        is followed, by the API's owner-checked export route (``/api/conversations/ID/export``):
        nothing is written to disk, so nothing outlives the conversation or reaches another owner."""
        target = conversation or chosen
        if self.store is None or not target:
            return gr.update(visible=False), "Ask something first: there is no conversation to export."
        try:
            summary, turns = self.store.get(target, self.owner_of(request))
        except ConventionQAError as exc:
            return gr.update(visible=False), f"⚠️ {exc}"
        name = export_filename(summary, fmt)
        href = f"api/conversations/{quote(summary.id, safe='')}/export?format={fmt}"  # relative: works under a prefix
        link = f'<a href="{html.escape(href)}" download="{html.escape(name)}">⬇ {html.escape(name)}</a>'
        return gr.update(value=link, visible=True), f"{len(turns)} questions and answers: download them above."

    def export_markdown(self, conversation: str | None, chosen: str | None, request: gr.Request) -> Any:
        return self.export(conversation, chosen, "md", request)

    def export_as_json(self, conversation: str | None, chosen: str | None, request: gr.Request) -> Any:
        return self.export(conversation, chosen, "json", request)

    def account(self, request: gr.Request) -> str:
        """The sidebar's account box: who this browser is here, with a sign-in form (a key) or a
        sign-out button. The forms post to ``signin.py``'s routes, which set or clear the
        HttpOnly key cookie (a Gradio handler cannot)."""
        if self.identities is None or getattr(request, "request", None) is None:
            return ""
        try:
            owner = self.owner_of(request)
        except ConventionQAError as exc:
            return f"<p class='meta'>⚠️ {html.escape(str(exc))}</p>{SIGN_IN_FORM}{SIGN_OUT_FORM}"
        named = signed_in_as(owner)
        if named and owner.id.startswith("user:"):
            return f"<p class='meta'>Signed in as {html.escape(named)}.</p>"
        if named:
            return f"<p class='meta'>Signed in with {html.escape(named)}.</p>{SIGN_OUT_FORM}"
        days = self.identities.signer.max_age / 86400 if self.identities.signer else 0
        kept = (
            f"Your conversations are kept for this browser only (a cookie good for {days:g} days, renewed "
            "while you use it)."
            if self.lasting(request, owner)
            else "This browser sends no cookies: nothing is kept."
        )
        invite = "Sign in with a key to keep them on every browser:"
        return f"<p class='meta'>Not signed in. {kept} {invite}</p>{SIGN_IN_FORM}"

    def start_over(self, request: gr.Request) -> tuple[Any, ...]:
        return [], render_sources(None), "", None, [], self.conversation_choices(self._owner_or_none(request))

    def cleared(self, request: gr.Request) -> tuple[Any, ...]:
        return None, [], self.conversation_choices(self._owner_or_none(request))

    def _owner_or_none(self, request: gr.Request | None) -> Owner | None:
        try:
            return self.owner_of(request)
        except ConventionQAError:
            return None

    def add(self, files: list[Any] | None, progress: gr.Progress = gr.Progress()) -> str:  # noqa: B008
        """Add files to the corpus; the upload box shows the ingest's progress (chunks, rate, time left)."""
        if not files:
            return "Choose one or more files first."
        payload = []
        for item in files:
            path = Path(item if isinstance(item, str) else item.name)
            payload.append((path.name, path.read_bytes()))

        def show(now: IngestProgress) -> None:
            share = now.bytes_done / now.bytes_total if now.bytes_total else None
            progress(share, desc=f"Indexing: {now.describe()}")

        try:
            return describe_upload(self.upload(payload, on_progress=show))
        except ConventionQAError as exc:
            return f"⚠️ {exc}"
