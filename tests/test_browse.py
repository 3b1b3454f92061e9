"""The Evaluation tab's tables: reports found under a folder, questions wrong first, the same
comparison as `eval --compare`, and no way out of the reports folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convention_qa.errors import ConfigError
from convention_qa.evaluation import browse
from convention_qa.evaluation.report import compare, read_report


def write(folder: Path, f1: float) -> Path:
    folder.mkdir(parents=True)
    questions = [
        {
            "qid": "a",
            "question": "Berapa negara?",
            "answerable": True,
            "abstained": False,
            "f1": f1,
            "answer": "69",
            "expected": ["69"],
            "citations": 1,
            "cited": [{"n": 1, "doc_id": "hanoi", "text": "69 negara"}],
        },
        {
            "qid": "b",
            "question": "Siapa juara?",
            "answerable": False,
            "abstained": True,
            "f1": 0.0,
            "answer": "-",
            "expected": [],
            "citations": 0,
            "abstain_reason": "policy",
        },
        {
            "qid": "c",
            "question": "Berapa pasal?",
            "answerable": True,
            "abstained": True,
            "f1": 0.0,
            "answer": "-",
            "expected": ["68"],
            "citations": 0,
            "abstain_reason": "model",
        },
    ]
    summary = {"questions": 3, "f1": f1 / 2, "by_reason": {"policy": 1}}
    (folder / "report.json").write_text(json.dumps({"title": folder.name, "summary": summary, "questions": questions}))
    return folder


def test_reports_are_found_and_their_questions_come_wrong_first(tmp_path: Path) -> None:
    write(tmp_path / "old", 0.2)
    write(tmp_path / "runs" / "new", 1.0)
    (tmp_path / "stray").mkdir()
    assert sorted(browse.find_reports(tmp_path)) == ["old", "runs/new"]
    assert browse.find_reports(tmp_path / "missing") == []
    report, summary, charts, rows = browse.load(tmp_path, "old")
    assert report["title"] == "old"
    assert ["f1", "0.100"] in summary and ["by_reason", "policy 1"] in summary and charts == []
    assert [(r[0], r[1]) for r in rows] == [("wrong", "a"), ("wrong", "c"), ("right", "b")]
    assert "[1] hanoi: 69 negara" in rows[0][5] and rows[2][3] == "(no answer in the articles)"


def test_comparison_is_the_one_eval_compare_prints(tmp_path: Path) -> None:
    old, new = write(tmp_path / "old", 0.2), write(tmp_path / "new", 1.0)
    expected = compare(read_report(old / "report.json"), read_report(new / "report.json"))
    assert browse.compare_reports(tmp_path, "old", "new") == expected and "0.20 -> 1.00" in expected


def test_a_report_outside_the_folder_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "outside", 0.5)
    (tmp_path / "reports").mkdir()
    with pytest.raises(ConfigError, match="no report"):
        browse.load(tmp_path / "reports", "../outside")
