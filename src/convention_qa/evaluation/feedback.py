"""What users rated: as regression questions in the project's own question-set format (so that
``convention-qa eval FILE.yaml`` runs what users flagged with no editing), and as counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from convention_qa.conversations.records import TurnRecord
from convention_qa.text import without_single_markers

__all__ = ["feedback_questions", "feedback_stats"]


def feedback_questions(turns: Sequence[TurnRecord]) -> tuple[list[dict[str, Any]], list[str]]:
    """(questions, why some rated answers were left out).

    A rated-up answer becomes its own expected answer; a rated-down one the correction it
    carries, or an unanswerable question when the user said the articles do not say. A down
    rating with neither says what is wrong, not what is right, so it cannot be a test question.
    """
    questions: list[dict[str, Any]] = []
    skipped: list[str] = []
    for turn in turns:
        feedback = turn.feedback
        if feedback is None:
            continue
        citations = turn.details.get("citations") or []
        tags = ["feedback", f"feedback-{feedback.rating}"]
        item: dict[str, Any] = {"id": f"feedback-{turn.id}"}
        if turn.history:
            item["turns"] = [*turn.history, turn.question]
        else:
            item["question"] = turn.question
        language = turn.details.get("question_language")
        if language in ("id", "en", "vi"):
            item["language"] = language
        if feedback.rating == "up":
            expected = without_single_markers(turn.answer).strip()
            if turn.abstained:
                item.update(answerable=False)
                tags.append("abstention-confirmed")
            elif expected:
                item.update(answers=[expected], answerable=True)
                tags.append("rated-up")
            else:
                skipped.append(f"{turn.id}: the rated-up answer is empty")
                continue
        elif feedback.not_in_articles:
            item.update(answerable=False)
            tags.append("not-in-articles")
        elif feedback.correction:
            item.update(answers=[feedback.correction.strip()], answerable=True)
            tags.append("correction")
        else:
            skipped.append(f"{turn.id}: rated down without a correction or 'the articles do not say'")
            continue
        if item.get("answerable") and citations:
            item["support"] = str(citations[0].get("doc_id"))
        if feedback.comment:
            item["comment"] = feedback.comment
        item["tags"] = tags
        questions.append(item)
    return questions, skipped


def feedback_stats(turns: Sequence[TurnRecord]) -> dict[str, dict[str, int]]:
    """Counts of rated answers per rating, per article cited and per ISO week."""
    per_rating: Counter[str] = Counter()
    per_article: Counter[str] = Counter()
    per_week: Counter[str] = Counter()
    for turn in turns:
        if turn.feedback is None:
            continue
        rating = turn.feedback.rating
        per_rating[rating] += 1
        articles = {str(c.get("doc_id")) for c in turn.details.get("citations") or []} or {"(no citation)"}
        per_article.update(f"{article} ({rating})" for article in sorted(articles))
        year, week, _ = turn.feedback.created_at.isocalendar()
        per_week[f"{year}-W{week:02d}"] += 1
    return {"rating": dict(per_rating), "article": dict(per_article), "week": dict(sorted(per_week.items()))}
