"""The answer policy: signals, the fitted models, the off-corpus floors and the policy file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convention_qa.answering.policy import DEFAULT_POLICY_FILE, LogisticModel, Policy, load_policy, measure
from convention_qa.config import get_settings
from convention_qa.contract import Passage
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


def test_off_corpus_floors_differ_within_and_across_languages() -> None:
    policy = Policy(floor_same=0.7, floor_cross=0.6)
    assert policy.off_corpus(0.65, same_language=True)
    assert not policy.off_corpus(0.65, same_language=False), "the cross-language floor is lower"


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
