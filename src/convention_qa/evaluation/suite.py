"""Prepare an evaluation run: the question set, and the assistant that answers it.

A set in the shared format brings its own passages: they are ingested into an index of their own
under ``DATA_DIR/eval/`` (kept between runs, so a second run embeds nothing) and answered from
there. A set in the project's own format is answered from the configured index.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from convention_qa.answering.assistant import Assistant
from convention_qa.corpus.ingest import ingest, ingest_lock
from convention_qa.errors import ConfigError
from convention_qa.evaluation.datasets import EvalPassage, EvalQuestion, load_question_set, write_corpus
from convention_qa.factory import Factory

__all__ = ["prepare"]


def _passages_file(path: Path) -> list[EvalPassage]:
    from convention_qa.evaluation.datasets import read_jsonl_set

    if path.is_dir():
        return read_jsonl_set(path)[0]
    folder = path.parent
    if path.name != "passages.jsonl":
        raise ConfigError(f"--passages must be a passages.jsonl file or a set folder, not {path}")
    return read_jsonl_set(folder)[0] if (folder / "questions.jsonl").exists() else []


def prepare(
    set_path: Path,
    factory: Factory,
    *,
    passages: Path | None = None,
    limit: int | None = None,
    sample: int | None = None,
    seed: int = 0,
) -> tuple[Assistant, list[EvalQuestion]]:
    """The assistant for the set and its questions: all, the first ``limit``, or a random ``sample``.

    A sample is drawn with ``random.Random(seed)``, so the same seed gives the same questions, in
    the set's order; the first N of a set cluster on a few passages, a sample does not.
    """
    corpus, questions = load_question_set(set_path)
    if passages is not None:
        corpus = _passages_file(passages)
        if not corpus:
            raise ConfigError(f"no passages found in {passages}")
    if sample is not None and sample < len(questions):
        chosen = set(random.Random(seed).sample(range(len(questions)), sample))
        questions = [q for i, q in enumerate(questions) if i in chosen]
    if limit is not None:
        questions = questions[:limit]
    if not questions:
        raise ConfigError(f"{set_path} holds no questions")
    if corpus is None:
        return factory.assistant(), questions

    digest = hashlib.sha256("\n".join(f"{p.pid}\t{p.text}" for p in corpus).encode()).hexdigest()[:12]
    root = factory.settings.data_dir / "eval" / f"{set_path.name}-{digest}"
    settings = factory.settings.model_copy(
        update={"data_dir": root, "corpus_dir": root / "corpus", "models_dir": factory.settings.model_dir}
    )
    eval_factory = factory.with_settings(settings)
    write_corpus(corpus, settings.corpus_dir)
    with ingest_lock(root):
        report = ingest(eval_factory.store(), eval_factory.embedder(), settings)
    if report.failed:
        reasons = "; ".join(f"{f.path}: {f.error}" for f in report.failed[:3])
        raise ConfigError(f"some passages could not be indexed: {reasons}")
    return eval_factory.assistant(), questions
