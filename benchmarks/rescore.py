"""Answered precision, coverage and SQuAD 2.0 F1 of eval reports, including reports written
before `eval` reported them (so that "before" and "after" are scored alike).

    .venv/bin/python benchmarks/rescore.py RUN_DIR_OR_REPORT [...]

An answer is right when it is given to an answerable question and has token F1 of at least 0.5
against an accepted answer or contains one whole (the definition of `convention-qa eval`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def figures(questions: list[dict[str, object]]) -> dict[str, float | None]:
    given = [q for q in questions if not q["abstained"]]
    right = [q for q in given if q["answerable"] and (float(q["f1"]) >= 0.5 or float(q["contains"]) == 1.0)]  # type: ignore[arg-type]
    out: dict[str, float | None] = {
        "answered_precision": round(len(right) / len(given), 4) if given else None,
        "coverage": round(len(given) / len(questions), 4) if questions else None,
        "answer_rate": None,
        "squad2_f1": None,
    }
    answerable = [q for q in questions if q["answerable"]]
    if answerable:
        out["answer_rate"] = round(sum(1 for q in answerable if not q["abstained"]) / len(answerable), 4)
    if len(answerable) < len(questions):
        scores = [float(q["f1"]) if q["answerable"] else float(bool(q["abstained"])) for q in questions]  # type: ignore[arg-type]
        out["squad2_f1"] = round(sum(scores) / len(scores), 4)
    return out


def main() -> int:
    for arg in sys.argv[1:]:
        path = Path(arg)
        report = path / "report.json" if path.is_dir() else path
        data = json.loads(report.read_text(encoding="utf-8"))
        print(report.parent.name, json.dumps(figures(data["questions"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
