"""Operating points: chosen from eval reports by `convention-qa calibrate`, read back by the factory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from convention_qa.answering.points import DEFAULT_POINTS_FILE, Outcome, choose_points, operating_points
from convention_qa.cli import Wiring, main
from convention_qa.config import Settings
from convention_qa.errors import ConfigError


def _report(folder: Path, rows: list[tuple[float | None, bool, bool]]) -> Path:
    folder.mkdir(parents=True)
    questions = [
        {"candidate": None if c is None else "x", "confidence": c, "candidate_right": right, "answerable": answerable}
        for c, right, answerable in rows
    ]
    (folder / "report.json").write_text(json.dumps({"questions": questions}), encoding="utf-8")
    return folder


def test_points_are_the_lowest_thresholds_reaching_each_precision() -> None:
    # 0.5 and up: 8 right of 10 (0.80); 0.4 and up: 8 of 12 (0.67); 0.3 and up: 10 of 14 (0.71)
    right, wrong = Outcome(0.95, True, True), Outcome(0.5, False, True)
    runs = {
        "a": [right] * 5
        + [Outcome(0.6, True, True)] * 3
        + [wrong] * 2
        + [Outcome(0.4, False, True)] * 2
        + [Outcome(0.3, True, True)] * 2
    }
    points, rows = choose_points(runs)
    assert points == {"strict": 0.5, "balanced": 0.3, "helpful": 0.3}
    assert rows[0]["a"]["given"] == 14


def test_calibrate_writes_points_the_factory_reads(tmp_path: Path) -> None:
    good = _report(tmp_path / "good", [(0.9, True, True), (0.8, True, True), (0.3, False, True), (None, False, False)])
    out = tmp_path / "points.json"
    result = CliRunner().invoke(
        main, ["calibrate", str(good), "--write", str(out)], obj=Wiring(settings=Settings(data_dir=tmp_path))
    )
    assert result.exit_code == 0, result.output
    assert "| balanced | 0.300 |" in result.stdout  # 2 right of 3 given: 0.67, at least balanced's 0.65
    points = operating_points(out, extractive=False)
    assert points.thresholds == {"strict": 0.8, "balanced": 0.3, "helpful": 0.3}
    with pytest.raises(ConfigError, match="no 'extractive' points"):
        operating_points(out, extractive=True)


def test_bad_points_files_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not JSON"):
        operating_points(bad, extractive=False)
    bad.write_text(json.dumps({"model": {"strict": "high", "balanced": 0.5, "helpful": 0.1}}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"model\.strict must be a number"):
        operating_points(bad, extractive=False)
    with pytest.raises(ConfigError, match="cannot read"):
        operating_points(tmp_path / "missing.json", extractive=False)
    result = CliRunner().invoke(main, ["calibrate", str(bad)], obj=Wiring(settings=Settings(data_dir=tmp_path)))
    assert result.exit_code != 0 and "not an eval report" in result.output and "Traceback" not in result.output


def test_shipped_points_load_for_both_backends() -> None:
    model, extractive = operating_points(None, extractive=False), operating_points(None, extractive=True)
    assert model.thresholds["strict"] >= model.thresholds["balanced"] >= model.thresholds["helpful"]
    assert extractive.thresholds["strict"] >= extractive.thresholds["balanced"] >= extractive.thresholds["helpful"]
    assert model.model is not None and extractive.model is None  # the fitted confidence is the model's
    assert DEFAULT_POINTS_FILE.name == "points.json"
