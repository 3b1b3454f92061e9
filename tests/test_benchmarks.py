"""Every script in benchmarks/ runs to the end on tiny inputs (a few passages, the extractive
backend), so that a change of the package's interfaces cannot break one unseen. The figures they
print are not checked here: they are measurements, not tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SEED_ARTICLE

pytestmark = pytest.mark.integration  # the bundled embedder, and a process per script

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
ENV = {"CONVENTION_QA_LLM": "extractive", "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}


def _paragraphs() -> list[str]:
    body = SEED_ARTICLE.read_text(encoding="utf-8").split("---", 2)[-1]
    return [p.strip() for p in body.split("\n\n") if len(p.strip()) > 200][:4]


def _write_set(folder: Path) -> None:
    """A question set in the shared format: passages of the seed article, questions about them."""
    folder.mkdir(parents=True)
    passages = [{"pid": f"p{i}", "text": text} for i, text in enumerate(_paragraphs())]
    questions = [
        {"qid": "q1", "question": "Berapa negara yang menandatangani Konvensi Hanoi?", "lang": "id",
         "gold_pid": "p0", "answerable": True, "answers": ["69 negara"]},
        {"qid": "q2", "question": "Berapa pasal yang dimiliki Konvensi Hanoi?", "lang": "id",
         "gold_pid": "p0", "answerable": True, "answers": ["68 pasal"]},
        {"qid": "q3", "question": "Berapa negara yang meratifikasi Konvensi Hanoi?", "lang": "id",
         "gold_pid": "p0", "answerable": False, "answers": []},
        {"qid": "q4", "question": "Siapa presiden Prancis?", "lang": "id", "gold_pid": "p1",
         "answerable": False, "answers": []},
        {"qid": "q5", "question": "Di kota mana Konvensi Hanoi ditandatangani?", "lang": "id",
         "gold_pid": "p0", "answerable": True, "answers": ["Hanoi"]},
        {"qid": "q6", "question": "Kapan Konvensi Hanoi mulai berlaku?", "lang": "id", "gold_pid": "p0",
         "answerable": False, "answers": []},
    ]  # fmt: skip
    (folder / "passages.jsonl").write_text("\n".join(json.dumps(p) for p in passages), encoding="utf-8")
    (folder / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in questions), encoding="utf-8")


def run(args: list[str], cwd: Path, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**os.environ, **ENV, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"{args[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """eval-data/ and train-data/ folders of tiny sets, and two evaluation runs of one."""
    root = tmp_path_factory.mktemp("bench")
    for name in ("idk_mrc_valid", "facqa_valid", "xling_en_dev"):
        _write_set(root / "eval-data" / name)
    for name in ("idk_mrc_train", "tydiqa_id_train", "facqa_train"):
        _write_set(root / "train-data" / name)
    for policy in ("off", "default"):
        out = root / "runs" / policy
        run(
            ["-m", "convention_qa", "eval", str(root / "eval-data" / "idk_mrc_valid"), "--out", str(out)],
            root,
            CONVENTION_QA_POLICY=policy,
            CONVENTION_QA_STRICTNESS="off",
            CONVENTION_QA_READER="free",  # the runs the free reader's fitting scripts read
            CONVENTION_QA_DATA_DIR=str(root / "data"),
        )
    return root


def test_every_script_is_run_here() -> None:
    covered = {
        "answer",
        "calibrate",
        "fit_support",
        "fit_verdict",
        "ingest",
        "load",
        "probe_owners",
        "rank",
        "rescore",
        "retrieval",
        "scale",
    }
    assert {p.stem for p in BENCHMARKS.glob("[!_]*.py")} == covered, "a new benchmark needs its run in this file"


def test_probe_owners(tmp_path: Path) -> None:
    """The ownership probe runs whole against the locked server and finds nothing (exit 0)."""
    out = run([str(BENCHMARKS / "probe_owners.py"), "--configs", "locked", "--out", str(tmp_path / "p.json")], tmp_path)
    assert "locked:" in out and "FAIL" not in out
    assert json.loads((tmp_path / "p.json").read_text())["locked"]["requests"] > 1000


def test_scale(tiny: Path) -> None:
    out = run([str(BENCHMARKS / "scale.py"), "--chunks", "300", "--questions", "5", "--passages",
               str(tiny / "eval-data"), "--ingest", "4"], tiny)  # fmt: skip
    assert "BM25 build" in out and "hybrid retrieve" in out and "during a rebuild" in out and "chunks/s" in out


def test_answer(tiny: Path) -> None:
    out = run([str(BENCHMARKS / "answer.py"), "--set", str(tiny / "eval-data" / "idk_mrc_valid"),
               "--questions", "2", "--llm", "extractive", "--chunks", "300"], tiny)  # fmt: skip
    assert "retrieve" in out


def test_calibrate(tiny: Path) -> None:
    out = run([str(BENCHMARKS / "calibrate.py"), str(tiny / "runs" / "off"), "--chart", str(tiny / "policy.png"),
               "--out", str(tiny / "policy.json")], tiny)  # fmt: skip
    assert "auc" in out.lower()


def test_fit_support(tiny: Path) -> None:
    run([str(BENCHMARKS / "fit_support.py"), str(tiny / "train-data"), "--dev", str(tiny / "eval-data"),
         "--limit", "10", "--words", "5"], tiny)  # fmt: skip


def test_fit_verdict(tiny: Path) -> None:
    runs = [str(tiny / "runs" / "off"), str(tiny / "runs" / "default")]
    run([str(BENCHMARKS / "fit_verdict.py"), "--fit", *runs, "--choose", *runs], tiny)


def test_ingest(tiny: Path) -> None:
    run([str(BENCHMARKS / "ingest.py"), "--sizes", "2", "--reopen-chunks", "200", "--embedder", "all-MiniLM-L6-v2"],
        tiny)  # fmt: skip


def test_load(tiny: Path) -> None:
    out = run([str(BENCHMARKS / "load.py"), "--llm", "extractive", "--clients", "1", "--seconds", "2"], ROOT)
    assert "requests/s" in out or "req/s" in out


def test_rescore(tiny: Path) -> None:
    out = run([str(BENCHMARKS / "rescore.py"), str(tiny / "runs" / "off"), str(tiny / "runs" / "default")], tiny)
    assert "off" in out


def test_retrieval(tiny: Path) -> None:
    run([str(BENCHMARKS / "retrieval.py"), str(tiny / "eval-data"), "--sets", "idk_mrc_valid",
         "--cache", str(tiny / "cache")], tiny)  # fmt: skip


def test_rank(tiny: Path) -> None:
    env = {"CONVENTION_QA_DATA_DIR": str(tiny / "data")}
    out = run(
        [str(BENCHMARKS / "rank.py"), "measure", str(tiny / "eval-data" / "idk_mrc_valid"), "--grid"], tiny, **env
    )
    assert "mix (shipped)" in out and "best weights" in out
    out = run([str(BENCHMARKS / "rank.py"), "fit", str(tiny / "train-data" / "tydiqa_id_train")], tiny, **env)
    assert "best weights" in out
