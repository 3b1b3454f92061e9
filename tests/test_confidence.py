"""The answer confidence: a model over what the reader decided, fitted by `convention-qa calibrate --fit`."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from convention_qa.answering.confidence import FEATURES, Example, features, fit, weights
from convention_qa.answering.linear import Linear
from convention_qa.answering.points import operating_points
from convention_qa.answering.ranking import RankedSentence
from convention_qa.answering.reader import Reading
from convention_qa.answering.stages import Check
from convention_qa.cli import Wiring, main
from convention_qa.config import Settings
from convention_qa.contract import ChunkMeta, Passage
from convention_qa.errors import ConfigError


def _sentence(text: str, score: float) -> RankedSentence:
    passage = Passage("p1", text, ChunkMeta(doc_id="p1", title="p1", language="id"), 0.8)
    return RankedSentence(passage, 0, (0, len(text)), text, score, 0.9, 0.5, 0.0)


def _reading(choice: int, probability: float = 0.9) -> Reading:
    shown = [_sentence("Sebanyak 110 negara hadir.", 1.2), _sentence("Sebanyak 69 negara menandatangani.", 0.7)]
    reading = Reading(shown, choice=choice, span="69 negara", answer="69 negara")
    reading.confidence = reading.score = probability
    reading.none_probability = 0.05
    return reading


def test_features_are_read_from_the_readers_record_as_a_report_keeps_it() -> None:
    record = json.loads(json.dumps(_reading(2).to_dict()))  # as an eval report stores it
    values = features(record)
    assert values is not None and set(values) == set(FEATURES)
    assert values["choice"] == pytest.approx(math.log(0.9))
    assert values["none"] == pytest.approx(math.log(0.05))
    assert values["first"] == 0.0 and values["margin"] == pytest.approx(-0.5)
    assert features({"choice": None, "confidence": None}) is None  # no model's choice: nothing to score
    assert features({"choice": True, "confidence": 0.5}) is None
    assert features(["not", "a", "record"]) is None  # type: ignore[arg-type]
    assert features({"choice": 1, "confidence": 0.5, "sentence_score": "high"}) is None


def test_the_check_compares_the_fitted_probability_not_the_choice_probability() -> None:
    # A model that trusts the best-ranked sentence and distrusts one ranked far below it.
    model = Linear(FEATURES, (0.0, 0.0, 0.0, 4.0), 1.0, (0.0,) * 4, (1.0,) * 4)
    check = Check({"balanced": 0.5}, model)
    sure_but_far = _reading(2, probability=0.95)
    assert check.run(sure_but_far, "balanced") == "unsure"
    assert sure_but_far.score == pytest.approx(1 / (1 + math.exp(-(1.0 - 2.0))))  # margin -0.5
    best = _reading(1, probability=0.4)
    assert check.run(best, "balanced") is None and best.score == pytest.approx(1 / (1 + math.exp(-1.0)))
    assert Check({"balanced": 0.5}).run(_reading(2, probability=0.95), "balanced") is None  # without the model


def test_the_fit_weighs_runs_alike_and_answerable_questions_to_their_share() -> None:
    examples = [Example(dict.fromkeys(FEATURES, 0.0), True, True, "big")] * 30
    examples += [Example(dict.fromkeys(FEATURES, 0.0), False, False, "small")] * 5
    examples += [Example(dict.fromkeys(FEATURES, 0.0), True, True, "small")] * 5
    w = weights(examples, 0.8)
    answerable = sum(x for x, e in zip(w, examples, strict=True) if e.answerable)
    assert answerable / sum(w) == pytest.approx(0.8)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        weights(examples, 1.0)


def test_the_fit_learns_which_way_each_signal_points() -> None:
    rng = random.Random(3)
    examples = []
    for i in range(300):
        right = i % 2 == 0
        values = {
            "choice": math.log(rng.uniform(0.6, 1.0) if right else rng.uniform(0.2, 0.8)),
            "none": math.log(rng.uniform(0.001, 0.05) if right else rng.uniform(0.02, 0.3)),
            "first": 1.0 if right or rng.random() < 0.3 else 0.0,
            "margin": 0.0 if right else -rng.uniform(0.0, 0.4),
        }
        examples.append(Example(values, right, True, "run"))
    model = fit(examples)
    coef = dict(zip(model.features, model.coef, strict=True))
    assert coef["choice"] > 0 and coef["none"] < 0 and coef["first"] > 0 and coef["margin"] > 0
    with pytest.raises(ConfigError, match="at least 20"):
        fit(examples[:10])


def _report(folder: Path, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    questions = []
    for i in range(n):
        right = rng.random() < 0.6
        first = right or rng.random() < 0.3
        check = {
            "choice": 1 if first else 2,
            "confidence": rng.uniform(0.5, 1.0) if right else rng.uniform(0.2, 0.9),
            "none_probability": rng.uniform(0.0, 0.1),
            "sentence_score": 1.0 if first else 0.6,
            "top_score": 1.0,
        }
        questions.append({"candidate": "x", "check": check, "candidate_right": right, "answerable": i % 5 != 0})
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps({"questions": questions}), encoding="utf-8")
    return folder


def test_calibrate_fits_on_training_runs_and_chooses_points_on_development_runs(tmp_path: Path) -> None:
    train, dev = _report(tmp_path / "train", 200, 1), _report(tmp_path / "dev", 100, 2)
    out = tmp_path / "points.json"
    wiring = Wiring(settings=Settings(data_dir=tmp_path))
    result = CliRunner().invoke(main, ["calibrate", str(dev), "--fit", str(train), "--write", str(out)], obj=wiring)
    assert result.exit_code == 0, result.output
    assert "fitted the confidence model on 200 written answers of 1 runs" in result.output
    points = operating_points(out, extractive=False)
    assert points.model is not None and points.model.features == FEATURES
    written = json.loads(out.read_text(encoding="utf-8"))["model"]
    assert written["confidence"]["fitted_on"] == {"runs": ["train"], "answerable_share": 0.8}
    assert written["runs"] == ["dev"]
    # Choosing again without --fit keeps the model the file holds, and scores with it.
    again = CliRunner().invoke(main, ["calibrate", str(dev), "--write", str(out)], obj=wiring)
    assert again.exit_code == 0, again.output
    assert f"scoring with the confidence model in {out}" in again.output
    assert operating_points(out, extractive=False) == points
    extractive = CliRunner().invoke(
        main, ["calibrate", str(dev), "--backend", "extractive", "--fit", str(train)], obj=wiring
    )
    assert extractive.exit_code != 0 and "extractive backend's points use no model" in extractive.output
    bad = CliRunner().invoke(
        main,
        ["calibrate", str(dev), "--fit", str(tmp_path / "train" / "report.json"), "--answerable-share", "2"],
        obj=wiring,
    )
    assert bad.exit_code != 0 and "Traceback" not in bad.output


def test_a_bad_confidence_model_in_a_points_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "points.json"
    points = {"strict": 0.6, "balanced": 0.4, "helpful": 0.2}
    bad.write_text(
        json.dumps({"model": {**points, "confidence": {"features": ["bogus"], "coef": [1.0]}}}), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"model\.confidence is malformed"):
        operating_points(bad, extractive=False)
    model = {"features": ["choice", "bogus"], "coef": [1, 1], "intercept": 0, "mean": [0, 0], "scale": [1, 1]}
    bad.write_text(json.dumps({"model": {**points, "confidence": model}}), encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown features"):
        operating_points(bad, extractive=False)
