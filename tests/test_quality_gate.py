"""CI's regression gate: the shipped question set on the shipped corpus, extractive backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from convention_qa.cli import Wiring, main
from convention_qa.config import Settings

from .conftest import FROZEN_CORPUS, ROOT

pytestmark = pytest.mark.integration


def test_shipped_set_stays_above_the_thresholds(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=FROZEN_CORPUS, llm="extractive")
    runner = CliRunner()
    ingested = runner.invoke(main, ["ingest"], obj=Wiring(settings=settings))
    assert ingested.exit_code == 0, ingested.output
    out = tmp_path / "report"
    result = runner.invoke(
        main,
        [
            "eval",
            str(ROOT / "eval" / "seed.yaml"),
            "--json",
            "--out",
            str(out),
            "--check",
            str(ROOT / "eval" / "thresholds.toml"),
        ],
        obj=Wiring(settings=settings),
    )
    summary = json.loads(result.stdout.splitlines()[-1])
    assert result.exit_code == 0, f"below the thresholds: {result.stderr}\n{summary}"
    assert summary["questions"] >= 40
