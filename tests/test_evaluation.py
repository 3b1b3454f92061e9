from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from convention_qa.cli import Wiring, main
from convention_qa.config import Settings
from convention_qa.errors import ConfigError
from convention_qa.evaluation.datasets import read_question_file
from convention_qa.evaluation.metrics import contains_answer, exact_match, percentile, token_f1

from .conftest import ROOT
from .fakes import HashingEmbeddings, ScriptedChatModel


def test_squad_style_scores() -> None:
    assert exact_match("The 68 articles [1].", ["68 articles"]) == 1.0
    assert token_f1("Konvensi ini memiliki 68 pasal [1].", ["68 pasal"]) == pytest.approx(2 * (2 / 5) * 1 / (2 / 5 + 1))
    assert token_f1("nothing shared", ["68 pasal"]) == 0.0
    assert contains_answer("Sebanyak 69 negara menandatangani [1].", ["69 negara"]) == 1.0
    assert contains_answer("Sebanyak 169 negara", ["69"]) == 0.0
    assert percentile([1, 2, 3, 4], 50) == 2 and percentile([], 95) == 0.0


def test_shipped_question_set_is_valid_and_covers_the_languages() -> None:
    questions = read_question_file(ROOT / "eval" / "seed.yaml")
    assert len(questions) >= 40
    assert {q.lang for q in questions} == {"id", "en", "vi"}
    assert any(q.turns for q in questions), "follow-up conversations"
    assert any(not q.answerable for q in questions)
    assert any("injection" in q.tags for q in questions)
    for tag in ("metadata", "caption", "near-miss"):
        assert {q.lang for q in questions if tag in q.tags} == {"id", "en", "vi"}, f"{tag} questions in all three"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- {question: no id}", "needs an id"),
        ("- {id: a, turns: []}", "turns must be"),
        ("- {id: a, question: x}\n- {id: a, question: y}", "duplicate question ids"),
        ("key: [unclosed", "not valid YAML"),
        ("{id: a}", "expected a list"),
    ],
)
def test_bad_question_files_name_the_problem(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "set.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        read_question_file(path)


def shared_set(folder: Path) -> Path:
    folder.mkdir()
    passages = [
        {
            "pid": "p1",
            "text": "Candi Borobudur terletak di Magelang, Jawa Tengah.",
            "lang": "id",
            "source": "t",
        },
        {
            "pid": "p2",
            "text": "Danau Toba adalah danau vulkanik terbesar di Sumatera Utara.",
            "lang": "id",
            "source": "t",
        },
    ]
    questions = [
        {
            "qid": "q1",
            "question": "Di mana letak Candi Borobudur?",
            "lang": "id",
            "gold_pid": "p1",
            "answerable": True,
            "answers": ["Magelang"],
        },
        {
            "qid": "q2",
            "question": "Danau vulkanik terbesar di Sumatera Utara?",
            "lang": "id",
            "gold_pid": "p2",
            "answerable": True,
            "answers": ["Danau Toba"],
        },
        {
            "qid": "q3",
            "question": "Siapa arsitek Candi Borobudur?",
            "lang": "id",
            "gold_pid": "p1",
            "answerable": False,
            "answers": [],
        },
    ]
    (folder / "passages.jsonl").write_text("\n".join(json.dumps(p) for p in passages), encoding="utf-8")
    (folder / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in questions), encoding="utf-8")
    return folder


def run(args: list[str], settings: Settings, model: Any = None) -> Any:
    embedder = HashingEmbeddings()
    wiring = Wiring(
        settings=settings.model_copy(update={"policy": "off", "strictness": "off"}),
        make_embedder=lambda name: embedder,
        make_chat_model=lambda s: model,
    )
    return CliRunner().invoke(main, args, obj=wiring, catch_exceptions=False)


def test_eval_on_a_shared_format_set_builds_its_own_index_and_scores(settings: Settings, tmp_path: Path) -> None:
    folder = shared_set(tmp_path / "mini")
    model = ScriptedChatModel(replies=["Magelang [1].", "Danau Toba [1].", "NOT_FOUND"])
    out = tmp_path / "report"
    result = run(["eval", str(folder), "--json", "--out", str(out)], settings, model)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["questions"] == 3 and summary["answerable"] == 2
    assert summary["recall@5"] == 1.0
    assert summary["exact_match"] == 1.0 and summary["answer_rate"] == 1.0
    assert summary["abstention_recall"] == 1.0 and summary["abstention_precision"] == 1.0
    assert summary["citation_precision"] == 1.0
    for name in ("report.json", "report.md", "metrics.png", "latency.png"):
        assert (out / name).stat().st_size > 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [q["qid"] for q in report["questions"]] == ["q1", "q2", "q3"]
    assert not (settings.data_dir / "chroma").exists(), "the set gets an index of its own"
    assert any((settings.data_dir / "eval").iterdir())


def test_eval_answers_with_the_passages_the_app_uses_unless_told(settings: Settings, tmp_path: Path) -> None:
    folder = shared_set(tmp_path / "mini")
    replies = ["Magelang [1].", "Danau Toba [1].", "NOT_FOUND"]
    told = settings.model_copy(update={"top_k": 2})
    summary = json.loads(run(["eval", str(folder), "--json"], told, ScriptedChatModel(replies=replies)).stdout)
    assert "recall@2" in summary and "recall@5" not in summary, "TOP_K, as the app, the API and the CLI answer"
    given = run(["eval", str(folder), "--json", "-k", "3"], told, ScriptedChatModel(replies=replies)).stdout
    assert "recall@3" in json.loads(given)


def test_compare_shows_what_got_better_and_worse(settings: Settings, tmp_path: Path) -> None:
    folder = shared_set(tmp_path / "mini")
    good = ScriptedChatModel(replies=["Magelang [1].", "Danau Toba [1].", "NOT_FOUND"])
    bad = ScriptedChatModel(replies=["Magelang [1].", "NOT_FOUND", "Jawa Tengah [1]."])
    run(["eval", str(folder), "--out", str(tmp_path / "old")], settings, good)
    run(["eval", str(folder), "--out", str(tmp_path / "new")], settings, bad)
    result = run(["eval", "--compare", str(tmp_path / "old/report.json"), str(tmp_path / "new/report.json")], settings)
    assert "Worse (2)" in result.stdout and "q2" in result.stdout and "q3" in result.stdout
    assert "Better (0)" in result.stdout


def test_threshold_gate_fails_the_run(settings: Settings, tmp_path: Path) -> None:
    folder = shared_set(tmp_path / "mini")
    gate = tmp_path / "gate.toml"
    gate.write_text("[min]\nexact_match = 0.9\n", encoding="utf-8")
    bad = ScriptedChatModel(replies=["Yogyakarta [1].", "Danau Toba [1].", "NOT_FOUND"])
    result = run(["eval", str(folder), "--check", str(gate)], settings, bad)
    assert result.exit_code == 1 and "below threshold: exact_match" in result.stderr
    gate.write_text("[min]\nexact_mach = 0.9\n", encoding="utf-8")
    result = run(["eval", str(folder), "--check", str(gate)], settings, bad)
    assert result.exit_code == 2 and "unknown metric" in result.stderr


def test_eval_needs_a_set(settings: Settings) -> None:
    result = CliRunner().invoke(main, ["eval"], obj=Wiring(settings=settings))
    assert result.exit_code == 2 and "QUESTION_SET" in result.output


def test_sample_is_random_reproducible_and_not_the_first_questions(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    (folder / "passages.jsonl").write_text(json.dumps({"pid": "p1", "text": "Candi Borobudur di Magelang."}))
    rows = [
        {"qid": f"q{i:02d}", "question": f"Pertanyaan {i}?", "gold_pid": "p1", "answers": ["Magelang"]}
        for i in range(40)
    ]
    (folder / "questions.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")

    def sampled(seed: int) -> list[str]:
        out = tmp_path / f"report-{seed}-{len(list(tmp_path.iterdir()))}"
        model = ScriptedChatModel(replies=["Magelang [1]."])
        result = run(["eval", str(folder), "--sample", "8", "--seed", str(seed), "--out", str(out)], settings, model)
        assert result.exit_code == 0, result.output
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        assert report["summary"]["config"]["sample"] == 8 and report["summary"]["config"]["seed"] == seed
        return [q["qid"] for q in report["questions"]]

    first = sampled(3)
    assert len(first) == 8 and first == sampled(3), "the same seed draws the same questions"
    assert first != [f"q{i:02d}" for i in range(8)] and first != sampled(4)


def test_report_counts_abstentions_by_reason_and_checks_answer_language(settings: Settings, tmp_path: Path) -> None:
    folder = shared_set(tmp_path / "mini")
    model = ScriptedChatModel(replies=["Magelang terletak di Jawa Tengah [1].", "NOT_FOUND", "NOT_FOUND"])
    out = tmp_path / "report"
    result = run(["eval", str(folder), "--json", "--out", str(out)], settings, model)
    summary = json.loads(result.stdout)
    assert summary["abstentions"] == {"model": 2}
    assert summary["answer_language_accuracy"] == 1.0
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "| abstentions | model 2 |" in markdown and "abstained: model" in markdown
