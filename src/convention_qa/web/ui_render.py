"""What the chat UI shows, as HTML and text: the sources panel, upload results, the page's style.
Pure functions of an Answer (or an upload result): nothing here asks or stores anything."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from convention_qa.answering.assistant import ABSTAIN_REASONS
from convention_qa.contract import Answer
from convention_qa.corpus.uploads import UploadResult

__all__ = ["CSS", "EXAMPLES", "LANGUAGE_CHOICES", "chat_text", "describe_upload", "render_sources", "restored_answer"]

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


def chat_text(content: Any) -> str:
    """A chat message's text; Gradio hands content back as a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or "")
    if isinstance(content, list):
        return " ".join(chat_text(part) for part in content).strip()
    return ""


def describe_upload(result: UploadResult) -> str:
    lines = []
    if result.saved:
        lines.append("Added: " + ", ".join(f"`{Path(s).name}`" for s in result.saved))
    for failure in result.rejected:
        lines.append(f"Rejected `{failure.path}`: {failure.error}")
    if result.report is not None:
        lines.append(f"The index now holds {result.report.chunks} passages.")
    return "\n\n".join(lines) or "Nothing to add."


def restored_answer(details: dict[str, Any]) -> Answer | None:
    try:
        return Answer.model_validate({**details, "text": details.get("answer", "")})
    except ValueError:
        return None
