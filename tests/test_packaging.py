"""The installed wheel works on its own: prompts, fitted models and migrations are inside it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # builds the wheel

ROOT = Path(__file__).resolve().parent.parent

CHECK = """
import sys
from pathlib import Path
import convention_qa
from convention_qa.answering.policy import DEFAULT_POLICY_FILE, load_policy
from convention_qa.answering.prompts import Prompts
from convention_qa.answering.verdict import load_verdict
from convention_qa.conversations.database import MIGRATIONS

home = Path(convention_qa.__file__).parent
assert home.is_relative_to(Path(sys.argv[1])), f"imported {home}, not the wheel"
prompts = Prompts()
assert prompts.folder.is_relative_to(home), prompts.folder
for name in ("system", "answer", "condense", "translate", "repair_grounding", "repair_language"):
    assert prompts.template(name)
assert load_policy("default") is not None and load_verdict() is not None
assert (MIGRATIONS / "script.py.mako").is_file() and list((MIGRATIONS / "versions").glob("0*.py"))
print("ok", prompts.version())
"""


def test_the_wheel_carries_prompts_models_and_migrations(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy, so that the build leaves nothing in the checkout
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for folder in ("src", "prompts"):
        shutil.copytree(ROOT / folder, source / folder, symlinks=True, ignore=skip)
    for file in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / file, source / file)
    build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", str(source)]
    subprocess.run([*build, "-w", str(tmp_path)], check=True, timeout=600)
    [wheel] = tmp_path.glob("convention_qa-*.whl")
    installed = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(installed)
    elsewhere = tmp_path / "elsewhere"  # no prompts/ folder around: only the wheel's copy can answer
    elsewhere.mkdir()
    code = f"import sys; sys.path.insert(0, {str(installed)!r}); exec({CHECK!r})"
    done = subprocess.run(
        [sys.executable, "-c", code, str(installed)], cwd=elsewhere, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    from convention_qa.answering.prompts import Prompts

    assert done.stdout.split() == ["ok", Prompts().version()], "the wheel's prompts are the repository's"
