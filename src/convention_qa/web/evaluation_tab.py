"""The web UI's Evaluation tab: the reports of `convention-qa eval --out` under a folder, as
tables and charts, and the comparison of two. Wiring only; the tables come from
``evaluation.browse``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from convention_qa.errors import ConventionQAError
from convention_qa.evaluation import browse

__all__ = ["build_evaluation_tab"]


def build_evaluation_tab(reports_dir: Path) -> None:
    """Reports under ``reports_dir``: summary, charts and questions (wrong first); compare two."""

    def choices() -> Any:
        names = browse.find_reports(reports_dir)
        return gr.update(choices=names, value=names[0] if names else None)

    def show(name: str | None) -> tuple[Any, ...]:
        if not name:
            return (
                [],
                [],
                [],
                f"No reports under `{reports_dir}` yet: run `convention-qa eval SET --out {reports_dir}/NAME`.",
            )
        try:
            report, summary, charts, rows = browse.load(reports_dir, name)
        except ConventionQAError as exc:
            return [], [], [], f"⚠️ {exc}"
        wrong = sum(1 for r in rows if r[0] == "wrong")
        return (
            summary,
            [str(c) for c in charts],
            rows,
            f"**{report.get('title', name)}**: {wrong} of {len(rows)} wrong.",
        )

    def diff(old: str | None, new: str | None) -> str:
        if not old or not new:
            return "Choose two reports."
        try:
            return "```\n" + browse.compare_reports(reports_dir, old, new) + "\n```"
        except ConventionQAError as exc:
            return f"⚠️ {exc}"

    with gr.Tab("Evaluation", elem_id="evaluation-tab") as tab:
        gr.Markdown(f"Reports written by `convention-qa eval SET --out {reports_dir}/NAME`.")
        with gr.Row():
            report = gr.Dropdown([], label="Report", elem_id="report", scale=4)
            refresh = gr.Button("Refresh", elem_id="refresh-reports", scale=1, size="sm")
        headline = gr.Markdown(elem_id="report-headline")
        with gr.Row():
            summary = gr.Dataframe(headers=browse.SUMMARY_HEADERS, label="Summary", elem_id="report-summary", scale=1)
            charts = gr.Gallery(
                label="Charts", elem_id="report-charts", columns=1, height=460, object_fit="contain", scale=2
            )
        questions = gr.Dataframe(
            headers=browse.QUESTION_HEADERS, label="Questions, wrong first", elem_id="report-questions", wrap=True
        )
        with gr.Accordion("Compare two reports", open=False):
            with gr.Row():
                old = gr.Dropdown([], label="Old", elem_id="compare-old")
                new = gr.Dropdown([], label="New", elem_id="compare-new")
            compare_button = gr.Button("Compare", elem_id="compare")
            comparison = gr.Markdown(elem_id="comparison")
        shown = [summary, charts, questions, headline]
        tab.select(choices, None, report, api_visibility="private").then(show, report, shown, api_visibility="private")
        refresh.click(choices, None, report, api_visibility="private").then(
            show, report, shown, api_visibility="private"
        )
        report.input(show, report, shown, api_visibility="private")
        for dropdown in (old, new):
            tab.select(
                lambda: gr.update(choices=browse.find_reports(reports_dir)), None, dropdown, api_visibility="private"
            )
        compare_button.click(diff, [old, new], comparison, api_visibility="private")
