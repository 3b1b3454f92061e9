"""One conversation as a file its owner can keep: Markdown to read (questions, answers, and the
cited passages with their titles and links) or JSON with everything stored."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from convention_qa.conversations.records import ConversationSummary, TurnRecord

__all__ = ["ExportFormat", "export_conversation", "export_filename"]

ExportFormat = Literal["md", "json"]


def export_conversation(summary: ConversationSummary, turns: list[TurnRecord], fmt: ExportFormat) -> str:
    if fmt == "json":
        return json.dumps(_as_json(summary, turns), ensure_ascii=False, indent=2)
    return _as_markdown(summary, turns)


def export_filename(summary: ConversationSummary, fmt: ExportFormat) -> str:
    """A safe file name: the title's words (ASCII letters and digits only) and the date."""
    words = re.sub(r"[^A-Za-z0-9]+", "-", summary.title).strip("-").lower()[:60] or "conversation"
    return f"{words}-{summary.created_at:%Y-%m-%d}.{fmt}"


def _as_json(summary: ConversationSummary, turns: list[TurnRecord]) -> dict[str, Any]:
    return {
        "id": summary.id,
        "title": summary.title,
        "created_at": summary.created_at.isoformat(),
        "updated_at": summary.updated_at.isoformat(),
        "turns": [
            {
                "answer_id": turn.id,
                "question": turn.question,
                "answer": turn.answer,
                "abstained": turn.abstained,
                "citations": _citations(turn),
                "confidence": turn.details.get("confidence"),
                "config": turn.config,
                "asked_at": turn.created_at.isoformat(),
                "feedback": None
                if turn.feedback is None
                else {
                    "rating": turn.feedback.rating,
                    "comment": turn.feedback.comment,
                    "correction": turn.feedback.correction,
                    "not_in_articles": turn.feedback.not_in_articles,
                },
            }
            for turn in turns
        ],
    }


def _citations(turn: TurnRecord) -> list[dict[str, Any]]:
    cited = turn.details.get("citations") or []
    keep = ("n", "doc_id", "title", "source", "text", "supporting")
    return [{k: c.get(k) for k in keep} for c in cited if isinstance(c, dict)]


def _as_markdown(summary: ConversationSummary, turns: list[TurnRecord]) -> str:
    lines = [
        f"# {_line(summary.title)}",
        "",
        f"Exported from convention-qa. Started {summary.created_at:%Y-%m-%d %H:%M} UTC.",
    ]
    for number, turn in enumerate(turns, start=1):
        lines += ["", f"## {number}. {_line(turn.question)}", "", turn.answer.strip() or "(no answer)"]
        citations = _citations(turn)
        if citations:
            lines += ["", "Sources:", ""]
        for citation in citations:
            title = _line(str(citation.get("title") or citation.get("doc_id") or "source"))
            source = citation.get("source")
            named = f"[{title}]({source})" if isinstance(source, str) and source.startswith("http") else title
            lines.append(f"- [{citation.get('n')}] {named}")
            lines += [
                f"  > {_line(sentence)}" for sentence in citation.get("supporting") or [citation.get("text") or ""]
            ]
        if turn.feedback is not None:
            said = f"rated {turn.feedback.rating}"
            if turn.feedback.correction:
                said += f"; correct answer: {_line(turn.feedback.correction)}"
            if turn.feedback.not_in_articles:
                said += "; the articles do not say"
            lines += ["", f"*Your rating: {said}.*"]
    return "\n".join(lines) + "\n"


def _line(text: str) -> str:
    """One line of Markdown text: no line breaks, no leading heading or quote marks."""
    return " ".join(text.split()).lstrip("#>").strip()
