"""Read question sets: the shared JSONL format (passages.jsonl + questions.jsonl).

A set folder's passages become a corpus folder of one Markdown file per passage (the passage id
is the article id), so they go through the same ingest as any article.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convention_qa.errors import ConfigError

__all__ = ["EvalPassage", "EvalQuestion", "read_jsonl_set", "write_corpus"]


@dataclass(frozen=True)
class EvalPassage:
    pid: str
    text: str
    lang: str


@dataclass(frozen=True)
class EvalQuestion:
    qid: str
    question: str
    lang: str
    gold_pid: str | None
    answerable: bool
    answers: list[str] = field(default_factory=list)
    alt_answers: list[str] = field(default_factory=list)  # e.g. answers_id: in the passage's language
    turns: list[str] = field(default_factory=list)  # earlier user turns of a conversation
    quote: str | None = None  # text the supporting passage contains
    tags: list[str] = field(default_factory=list)

    def is_gold(self, doc_id: str, text: str) -> bool:
        """Whether a passage is the one that supports the answer."""
        if self.gold_pid is None or doc_id != self.gold_pid:
            return False
        return self.quote is None or self.quote.casefold() in text.casefold()


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise ConfigError(f"{path} not found: a JSONL question set needs passages.jsonl and questions.jsonl")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
    return rows


def read_jsonl_set(folder: Path) -> tuple[list[EvalPassage], list[EvalQuestion]]:
    """Passages and questions of a set in the shared format."""
    passages = [
        EvalPassage(str(r["pid"]), str(r["text"]), str(r.get("lang", "und")))
        for r in _read_jsonl(folder / "passages.jsonl")
    ]
    questions = [
        EvalQuestion(
            qid=str(r["qid"]),
            question=str(r["question"]),
            lang=str(r.get("lang", "und")),
            gold_pid=r.get("gold_pid"),
            answerable=bool(r.get("answerable", True)),
            answers=list(r.get("answers") or []),
            alt_answers=list(r.get("answers_id") or []),
        )
        for r in _read_jsonl(folder / "questions.jsonl")
    ]
    return passages, questions


def _own_question(item: object, where: str) -> EvalQuestion:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: each question must be a mapping with at least id and question")
    turns = item.get("turns")
    question = item.get("question")
    if turns is not None:
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
            raise ConfigError(f"{where}: turns must be a non-empty list of strings")
        *earlier, question = turns
    else:
        earlier = []
    if not isinstance(question, str) or not question.strip() or "id" not in item:
        raise ConfigError(f"{where}: needs an id and a question (or turns)")
    answers = item.get("answers") or []
    if isinstance(answers, str):
        answers = [answers]
    return EvalQuestion(
        qid=str(item["id"]),
        question=question,
        lang=str(item.get("language", "und")),
        gold_pid=item.get("support"),
        answerable=bool(item.get("answerable", bool(answers))),
        answers=[str(a) for a in answers],
        turns=earlier,
        quote=item.get("quote"),
        tags=[str(t) for t in item.get("tags") or []],
    )


def read_question_file(path: Path) -> list[EvalQuestion]:
    """The project's own format: a YAML list or JSONL lines of questions (see README)."""
    if not path.is_file():
        raise ConfigError(f"question set {path} not found")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            items = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(items, list):
            raise ConfigError(f"{path}: expected a list of questions")
        questions = [_own_question(item, f"{path} item {i}") for i, item in enumerate(items, 1)]
    else:
        questions = [_own_question(row, f"{path} line {i}") for i, row in enumerate(_read_jsonl(path), 1)]
    ids = [q.qid for q in questions]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"{path}: duplicate question ids {duplicates[:5]}")
    return questions


def load_question_set(path: Path) -> tuple[list[EvalPassage] | None, list[EvalQuestion]]:
    """A folder in the shared format (its passages are the corpus), or a file in the own format."""
    if path.is_dir():
        if (path / "questions.jsonl").is_file() and (path / "questions.jsonl").stat().st_size:
            first = (path / "questions.jsonl").open(encoding="utf-8").readline()
            if '"qid"' in first:
                return read_jsonl_set(path)
        raise ConfigError(f"{path} is a folder but not a set in the shared format (questions.jsonl + passages.jsonl)")
    return None, read_question_file(path)


def write_corpus(passages: list[EvalPassage], folder: Path) -> Path:
    """One Markdown file per passage under ``folder``; unchanged files are left untouched."""
    folder.mkdir(parents=True, exist_ok=True)
    for passage in passages:
        front = {"id": passage.pid, "title": passage.pid, "language": passage.lang}
        header = "\n".join(f"{key}: {json.dumps(value)}" for key, value in front.items())
        content = f"---\n{header}\n---\n{passage.text}\n"
        path = folder / f"{passage.pid}.md"
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
    return folder
