"""The answer policy: signals, the fitted models, the off-corpus floors and the policy file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convention_qa.answering.policy import DEFAULT_POLICY_FILE, LogisticModel, Policy, load_policy, measure
from convention_qa.config import get_settings
from convention_qa.contract import Passage, Signals
from convention_qa.errors import ConfigError
from convention_qa.text import Query


def passage(text: str, score: float, language: str = "id") -> Passage:
    return Passage(f"doc::{score}", text, {"doc_id": "doc", "language": language}, score)


def uniform(token: str) -> float:
    return 1.0


def test_signals_measure_coverage_margin_and_anchors() -> None:
    passages = [
        passage("Sebanyak 69 negara menandatangani Konvensi Hanoi pada 25 Oktober.", 0.86),
        passage("Konvensi itu memiliki 68 pasal.", 0.80),
    ]
    signed = measure(Query.read("Berapa negara yang menandatangani Konvensi Hanoi?", "id"), passages, uniform)
    assert signed.same_language and signed.coverage == 1.0 and signed.missing == 0.0
    assert signed.margin == pytest.approx(0.06) and signed.anchors == 1.0
    ratified = measure(Query.read("Berapa negara yang meratifikasi Konvensi Hanoi?", "id"), passages, uniform)
    assert ratified.coverage < signed.coverage and ratified.missing == 1.0, "the changed word is missing"
    english = measure(Query.read("How many countries signed the Hanoi Convention in 2026?", "en"), passages, uniform)
    assert not english.same_language
    assert english.anchors == pytest.approx(1 / 3), "Hanoi is found; Convention and 2026 are not"


def test_policy_answers_above_its_threshold_and_says_why_not() -> None:
    model = LogisticModel(("coverage",), (4.0,), 0.0, (0.5,), (0.25,), threshold=0.5)
    policy = Policy(floor_same=0.7, floor_cross=0.6, without_refusal=model)
    covered = Signals(0.85, 0.02, True, 1.0, 1.0, 0.0, 1.0)
    assert policy.decide(covered).answer and policy.decide(covered).reason is None
    uncovered = Signals(0.85, 0.02, True, 0.2, 0.2, 1.0, 1.0)
    decision = policy.decide(uncovered)
    assert not decision.answer and decision.reason == "policy" and decision.confidence < 0.5
    far = Signals(0.65, 0.02, True, 1.0, 1.0, 0.0, 1.0)
    assert policy.decide(far).reason == "off-corpus"
    across = policy.decide(Signals(0.65, 0.02, False, 0.0, 0.0, 0.0, 1.0))
    assert across.reason == "policy", "the cross-language floor is lower: the model decides"


def test_refusal_probability_is_used_when_known() -> None:
    with_refusal = LogisticModel(("log_refusal",), (-3.0,), 0.0, (-3.0,), (1.0,), threshold=0.5)
    without = LogisticModel(("score",), (0.0,), 5.0, (0.0,), (1.0,), threshold=0.5)
    policy = Policy(with_refusal=with_refusal, without_refusal=without)
    base = dict(score=0.85, margin=0.0, same_language=True, coverage=1.0, coverage_any=1.0, missing=0.0, anchors=1.0)
    assert not policy.decide(Signals(**base, refusal=0.9)).answer
    assert policy.decide(Signals(**base, refusal=0.001)).answer
    assert policy.decide(Signals(**base, refusal=None)).answer, "no refusal signal: the other model decides"


def test_policy_file_round_trips(tmp_path: Path) -> None:
    model = LogisticModel(("score", "anchors"), (1.5, -0.5), 0.2, (0.8, 0.9), (0.05, 0.2), threshold=0.4)
    policy = Policy(0.7, 0.65, model, None, {"fitted_on": ["x"]})
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy.to_dict()), encoding="utf-8")
    assert load_policy(str(path)) == policy


def test_shipped_policy_loads_and_has_both_models() -> None:
    policy = load_policy("default")
    assert policy is not None and policy.with_refusal and policy.without_refusal
    assert 0.5 < policy.floor_cross <= policy.floor_same < 1.0
    assert load_policy("off") is None
    assert get_settings().policy == "default" and DEFAULT_POLICY_FILE.is_file()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"version": 2}', "version 1"),
        ('{"version": 1, "floor_same": "high"}', "must be numbers"),
        ('{"version": 1, "with_refusal": {"features": ["score"], "coef": [1, 2]}}', "malformed"),
        ('{"version": 1, "with_refusal": {"features": ["shoe_size"], "coef": [1], "intercept": 0, '
         '"mean": [0], "scale": [1], "threshold": 0.5}}', "unknown features"),
    ],
)  # fmt: skip
def test_bad_policy_files_are_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "policy.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_policy(str(path))
    with pytest.raises(ConfigError, match="cannot read the answer policy"):
        load_policy(str(tmp_path / "missing.json"))
