"""Reports under a folder, as tables for the web UI's Evaluation tab."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convention_qa.errors import ConfigError
from convention_qa.evaluation.report import compare, read_report

__all__ = ["QUESTION_HEADERS", "SUMMARY_HEADERS", "compare_reports", "find_reports", "load", "question_rows"]

SUMMARY_HEADERS = ["metric", "value"]
QUESTION_HEADERS = ["status", "id", "question", "expected", "answer", "citations", "note"]


def find_reports(root: Path) -> list[str]:
    """The report folders (holding report.json) under ``root``, newest first, as paths relative to it."""
    if not root.is_dir():
        return []
    found = [p.parent for p in root.rglob("report.json") if p.is_file()]
    found.sort(key=lambda p: (-p.joinpath("report.json").stat().st_mtime, str(p)))
    return [str(p.relative_to(root)) or "." for p in found]


def _folder(root: Path, name: str) -> Path:
    folder = (root / name).resolve()
    if not folder.is_relative_to(root.resolve()) or not (folder / "report.json").is_file():
        raise ConfigError(f"no report {name!r} under {root}")
    return folder


def is_miss(q: dict[str, Any]) -> bool:
    """Wrong: an answerable question abstained on or answered with F1 below 0.5, or an
    unanswerable one answered."""
    if q.get("answerable"):
        return bool(q.get("abstained")) or float(q.get("f1") or 0.0) < 0.5
    return not q.get("abstained")


def question_rows(report: dict[str, Any]) -> list[list[str]]:
    """One row per question, the wrong ones first."""
    rows = []
    for q in sorted(report["questions"], key=lambda q: (not is_miss(q), str(q.get("qid")))):
        expected = "; ".join(q.get("expected") or []) if q.get("answerable") else "(no answer in the articles)"
        cited = q.get("cited") or []
        citations = " | ".join(f"[{c.get('n')}] {c.get('doc_id')}: {str(c.get('text', ''))[:160]}" for c in cited)
        note = f"abstained: {q.get('abstain_reason') or '?'}" if q.get("abstained") else f"F1 {q.get('f1', 0):.2f}"
        rows.append(
            [
                "wrong" if is_miss(q) else "right",
                str(q.get("qid")),
                str(q.get("question")),
                expected,
                str(q.get("answer")),
                citations or f"{q.get('citations', 0)} citation(s)",
                note,
            ]
        )
    return rows


def load(root: Path, name: str) -> tuple[dict[str, Any], list[list[str]], list[Path], list[list[str]]]:
    """(the report, its summary rows, its charts, its question rows)."""
    folder = _folder(root, name)
    report = read_report(folder / "report.json")
    summary = []
    for key, value in report["summary"].items():
        if isinstance(value, dict):
            shown = ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
        else:
            shown = "n/a" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))
        summary.append([key, shown])
    charts = [folder / name for name in ("metrics.png", "latency.png") if (folder / name).is_file()]
    return report, summary, charts, question_rows(report)


def compare_reports(root: Path, old: str, new: str) -> str:
    """The same per-question diff as ``convention-qa eval --compare``."""
    return compare(read_report(_folder(root, old) / "report.json"), read_report(_folder(root, new) / "report.json"))
