"""Write an evaluation run as JSON (everything), Markdown (a summary people read) and PNG charts;
compare two runs question by question."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from convention_qa.errors import ConfigError
from convention_qa.evaluation.runner import QuestionResult
from convention_qa.evaluation.selective import reliability, risk_coverage

__all__ = ["compare", "markdown_summary", "read_report", "write_report"]

_RATE_METRICS = (
    "recall@1",
    "mrr@10",
    "ndcg@10",
    "answer_rate",
    "exact_match",
    "f1",
    "contains",
    "citation_precision",
    "abstention_precision",
    "abstention_recall",
    "abstention_f1",
    "answer_language_accuracy",
    "answered_precision",
    "coverage",
    "squad2_f1",
)


def markdown_summary(summary: dict[str, Any], results: list[QuestionResult], title: str) -> str:
    lines = [f"# {title}", "", "| metric | value |", "|---|---:|"]
    for key, value in summary.items():
        if key == "config":
            continue
        if isinstance(value, dict):
            shown = ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
        else:
            shown = "n/a" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))
        lines.append(f"| {key} | {shown} |")
    misses = [
        r for r in results if (r.answerable and (r.abstained or r.f1 < 0.5)) or (not r.answerable and not r.abstained)
    ]
    if misses:
        lines += [
            "",
            f"## Questions to look at ({len(misses)})",
            "",
            "| id | question | expected | answer | note |",
            "|---|---|---|---|---|",
        ]
        for r in misses[:100]:
            expected = "; ".join(r.expected) if r.answerable else "(abstain)"
            cells = [r.qid, r.question, expected, r.answer, _note(r)]
            lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ")[:160] for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _note(r: QuestionResult) -> str:
    """Why a question went the way it did: abstention reason, repair, language, confidence."""
    notes = []
    if r.abstained:
        notes.append(f"abstained: {r.abstain_reason or 'unknown'}")
    if r.repair:
        notes.append(f"repaired: {r.repair}")
    if r.language_ok is False:
        notes.append(f"answer in {r.answer_language}")
    if r.confidence is not None:
        notes.append(f"p={r.confidence:.2f}")
    if r.abstained and r.candidate:
        notes.append(f"withheld ({'right' if r.candidate_right else 'wrong'}): {r.candidate[:60]}")
    if r.answerable and r.gold and not r.hit_rank:
        notes.append("gold passage not retrieved")
    return "; ".join(notes)


def _charts(summary: dict[str, Any], results: list[QuestionResult], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    names = [m for m in _RATE_METRICS if summary.get(m) is not None]
    recall_key = next((k for k in summary if k.startswith("recall@") and k != "recall@1"), None)
    if recall_key and summary.get(recall_key) is not None:
        names.insert(1, recall_key)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    values = [summary[m] for m in names]
    bars = ax.barh(names[::-1], values[::-1], color="#3b7dd8")
    ax.set_xlim(0, 1.08)
    ax.bar_label(bars, labels=[f"{v:.2f}" for v in values[::-1]], padding=3)
    ax.set_title(f"Quality metrics ({summary['questions']} questions)")
    written.append(_save(fig, out / "metrics.png"))

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist([r.seconds for r in results], bins=30, color="#59a14f")
    for q, style in ((50, "--"), (95, ":")):
        value = summary[f"latency_p{q}"]
        ax.axvline(value, color="black", linestyle=style, label=f"p{q} = {value:.2f} s")
    ax.set_xlabel("seconds per question")
    ax.set_ylabel("questions")
    ax.legend()
    ax.set_title("Latency")
    written.append(_save(fig, out / "latency.png"))

    scored = [(r.confidence, bool(r.candidate_right)) for r in results if r.candidate and r.confidence is not None]
    if scored:
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        curve = risk_coverage(scored, len(results))
        left.plot([c for _, c, _ in curve], [p for _, _, p in curve], color="#3b7dd8")
        given = [r for r in results if not r.abstained]
        if given:
            shown = summary.get("answered_precision") or 0.0
            left.scatter([len(given) / len(results)], [shown], color="black", zorder=3, label="this run's point")
            left.legend(loc="lower left")
        left.set_xlabel("coverage (questions answered)")
        left.set_ylabel("answered precision (answers right)")
        left.set_xlim(0, 1)
        left.set_ylim(0, 1.02)
        left.set_title("Risk-coverage, as the confidence threshold moves")
        bins = reliability(scored)
        right.plot([0, 1], [0, 1], color="grey", linestyle="--")
        right.scatter([c for c, _, _ in bins], [a for _, a, _ in bins], s=[20 + 3 * n for _, _, n in bins])
        right.set_xlabel("stated confidence")
        right.set_ylabel("share right")
        right.set_xlim(0, 1)
        right.set_ylim(0, 1)
        right.set_title(f"Calibration of written answers (ECE {summary.get('ece_written') or 0:.3f})")
        written.append(_save(fig, out / "selective.png"))
    return written


def _save(fig: Any, path: Path) -> Path:
    """Write a chart and free it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(out: Path, summary: dict[str, Any], results: list[QuestionResult], title: str) -> list[Path]:
    """report.json, report.md, metrics.png, latency.png and (when answers carry a confidence)
    selective.png, the risk-coverage curve and the reliability diagram, in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    data = {"title": title, "summary": summary, "questions": [r.to_dict() for r in results]}
    (out / "report.json").write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "report.md").write_text(markdown_summary(summary, results, title), encoding="utf-8")
    return [out / "report.json", out / "report.md", *_charts(summary, results, out)]


def read_report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read report {path}: {exc}") from None
    if not isinstance(data, dict) or "summary" not in data or "questions" not in data:
        raise ConfigError(f"{path} is not a report written by `convention-qa eval --out`")
    return data


def _score(q: dict[str, Any]) -> float:
    if not q["answerable"]:
        return 1.0 if q["abstained"] else 0.0
    return float(q["f1"])


def compare(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Metric deltas, then the questions whose score went up or down."""
    lines = ["| metric | old | new | change |", "|---|---:|---:|---:|"]
    for key, before in old["summary"].items():
        after = new["summary"].get(key)
        if isinstance(before, int | float) and isinstance(after, int | float):
            lines.append(f"| {key} | {before:.3f} | {after:.3f} | {after - before:+.3f} |")
    old_q = {q["qid"]: q for q in old["questions"]}
    better: list[str] = []
    worse: list[str] = []
    for q in new["questions"]:
        before = old_q.get(q["qid"])
        if before is None:
            continue
        delta = _score(q) - _score(before)
        if abs(delta) >= 0.01:
            row = (
                f"- {q['qid']}: {_score(before):.2f} -> {_score(q):.2f}  {q['question'][:80]}\n"
                f"    was: {before['answer'][:120]}\n    now: {q['answer'][:120]}"
            )
            (better if delta > 0 else worse).append(row)
    lines += ["", f"Better ({len(better)}):", *better, "", f"Worse ({len(worse)}):", *worse]
    only_new = len(set(q["qid"] for q in new["questions"]) - old_q.keys())
    if only_new:
        lines.append(f"\n{only_new} questions are only in the new run.")
    return "\n".join(lines)
