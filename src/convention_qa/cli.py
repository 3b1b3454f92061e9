"""The ``convention-qa`` command.

Exit codes: 0 success; 1 the run finished but some inputs failed; 2 nothing could be done
(bad settings, unreachable store, ...), with the reason on stderr and no traceback.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from langchain_core.embeddings import Embeddings
from langchain_core.language_models.chat_models import BaseChatModel

from convention_qa.config import MAX_K, Settings, get_settings
from convention_qa.errors import ConventionQAError
from convention_qa.owners import Owner

if TYPE_CHECKING:
    from convention_qa.answering import Answer, AnswerRequest, Assistant
    from convention_qa.conversations import ConversationStore
    from convention_qa.factory import Factory

__all__ = ["Wiring", "main"]

F = TypeVar("F", bound=Callable[..., Any])


def _friendly_errors(func: F) -> F:
    """Print ConventionQAError messages as one line and exit 2, without a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConventionQAError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


@dataclass
class Wiring:
    """What commands build on; tests pass their own: ``CliRunner.invoke(main, obj=Wiring(...))``."""

    settings: Settings | None = None
    make_embedder: Callable[[str], Embeddings] | None = None
    make_chat_model: Callable[[Settings], BaseChatModel | None] | None = None


def _factory(ctx: click.Context, **overrides: Any) -> Factory:
    from convention_qa.factory import Factory

    wiring: Wiring = ctx.obj
    assert wiring.settings is not None
    values = {k: v for k, v in overrides.items() if v is not None}
    settings = wiring.settings.model_copy(update=values) if values else wiring.settings
    factory = Factory(settings)
    if wiring.make_embedder:
        factory.make_embedder = wiring.make_embedder
    if wiring.make_chat_model:
        factory.make_chat_model = wiring.make_chat_model
    return factory


@click.group()
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
@_friendly_errors
def main(ctx: click.Context, verbose: int) -> None:
    """Grounded question answering over a corpus of news articles."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(Wiring)
    if ctx.obj.settings is None:
        ctx.obj.settings = get_settings()


@main.command()
@click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path), help="Folder of articles.")
@click.option("--rebuild", is_flag=True, help="Drop the index and build it again from scratch.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.pass_context
@_friendly_errors
def ingest(ctx: click.Context, corpus_dir: Path | None, rebuild: bool, as_json: bool) -> None:
    """Index the corpus folder: add new articles, update changed ones, remove deleted ones."""
    from tqdm import tqdm

    from convention_qa.ingest import ingest as run_ingest
    from convention_qa.ingest import ingest_lock

    factory = _factory(ctx, corpus_dir=corpus_dir)
    settings, embedder = factory.settings, factory.embedder()
    with ingest_lock(settings.data_dir):
        store = factory.store(reset=rebuild)
        bar = tqdm(total=0, unit="chunk", desc="embedding", disable=None, file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            report = run_ingest(store, embedder, settings, on_progress=progress)
        finally:
            bar.close()

    if as_json:
        summary = report.to_dict()
        summary["failed"] = [{"path": f.path, "error": f.error} for f in report.failed]
        click.echo(json.dumps(summary, ensure_ascii=False))
    else:
        for failure in report.failed:
            click.echo(f"failed: {failure.path}: {failure.error}", err=True)
        click.echo(
            f"added {report.added}, updated {report.updated}, removed {report.removed}, "
            f"unchanged {report.unchanged}, failed {len(report.failed)}; "
            f"{report.chunks} chunks in {store.name} ({report.embedded} embedded) "
            f"in {report.seconds:.1f} s"
        )
    sys.exit(1 if report.failed else 0)


def _print_sources(answer: Answer) -> None:
    """After an answer: its numbered sources, or the closest passages of an abstention."""
    from convention_qa.answering import ABSTAIN_REASONS

    if answer.abstained:
        if answer.abstain_reason in ABSTAIN_REASONS:
            click.echo(f"\n(no answer: {ABSTAIN_REASONS[answer.abstain_reason]})")
        if answer.passages:
            click.echo("\nClosest passages:")
            for passage in answer.passages[:3]:
                title = passage.meta.title or passage.meta.doc_id
                click.echo(f"  - {title}: {passage.text[:200]}...")
        return
    click.echo("\nSources:" if answer.confidence is None else f"\nSources (confidence {answer.confidence:.0%}):")
    for c in answer.citations:
        click.echo(f"  [{c.n}] {c.title} ({c.source or c.doc_id}), chars {c.start}-{c.end}")
        for sentence in c.supporting:
            click.echo(f'      "{sentence}"')
    for claim in answer.unsupported:
        click.echo(f"  (check: the cited passage does not obviously support: {claim})")


def _stream_answer(assistant: Assistant, request: AnswerRequest) -> Answer:
    """Print the answer as it is generated; return the final Answer."""
    from convention_qa.contract import follow

    streamed = False
    for update in follow(assistant.stream(request)):
        if update.answer is None:
            click.echo(update.delta, nl=False)
            streamed = streamed or bool(update.delta)
        elif update.replaced:  # an abstention, or a better answer than the one streamed: show it whole
            click.echo(("\r\n" if streamed else "") + update.text)
            return update.answer
        else:
            click.echo(update.delta)
            return update.answer
    raise AssertionError("the answer stream ended without an answer")


@main.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("-k", type=click.IntRange(1, MAX_K), default=None, help="Passages to retrieve.")
@click.pass_context
@_friendly_errors
def ask(ctx: click.Context, question: str, as_json: bool, k: int | None) -> None:
    """Answer one QUESTION, with the numbered sources it cites."""
    assistant = _factory(ctx).assistant()
    request = assistant.request(question, k=k)
    if as_json:
        answer = assistant.answer(request)
        click.echo(json.dumps(answer.model_dump(mode="json", by_alias=True), ensure_ascii=False))
        return
    answer = _stream_answer(assistant, request)
    _print_sources(answer)


@main.command()
@click.option("-k", type=click.IntRange(1, MAX_K), default=None, help="Passages to retrieve.")
@click.pass_context
@_friendly_errors
def chat(ctx: click.Context, k: int | None) -> None:
    """An interactive conversation; follow-up questions use the history. Ctrl-D or /quit ends it."""
    from convention_qa.errors import QuestionError

    assistant = _factory(ctx).assistant()
    history: list[dict[str, str]] = []
    click.echo("Ask about the articles (/new starts over, /quit ends).")
    while True:
        try:
            question = click.prompt("you", prompt_suffix="> ", default="", show_default=False)
        except (EOFError, click.Abort):
            click.echo()
            return
        if question.strip() in ("/quit", "/exit"):
            return
        if question.strip() == "/new":
            history.clear()
            click.echo("(new conversation)")
            continue
        if not question.strip():
            continue
        try:
            answer = _stream_answer(assistant, assistant.request(question, history, k=k))
        except QuestionError as exc:
            click.echo(f"error: {exc}", err=True)
            continue
        _print_sources(answer)
        history += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer.text},
        ]


@main.command("eval")
@click.argument("question_set", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--passages", type=click.Path(exists=True, path_type=Path), help="passages.jsonl to use as the corpus.")
@click.option(
    "-k", "--k", "k", type=click.IntRange(1, MAX_K), default=5, show_default=True, help="Passages per question."
)
@click.option("--out", type=click.Path(path_type=Path), help="Write report.json, report.md and charts here.")
@click.option("--limit", type=click.IntRange(1), help="Only the first N questions.")
@click.option("--sample", type=click.IntRange(1), help="A random sample of N questions (see --seed).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed for --sample.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option("--compare", nargs=2, type=click.Path(exists=True, path_type=Path), help="OLD.json NEW.json")
@click.option("--check", "thresholds", type=click.Path(exists=True, path_type=Path), help="Fail below these minimums.")
@click.pass_context
@_friendly_errors
def evaluate(
    ctx: click.Context,
    question_set: Path | None,
    passages: Path | None,
    k: int,
    out: Path | None,
    limit: int | None,
    sample: int | None,
    seed: int,
    as_json: bool,
    compare: tuple[Path, Path] | None,
    thresholds: Path | None,
) -> None:
    """Run QUESTION_SET through the assistant and score the answers.

    QUESTION_SET is a folder in the shared format (passages.jsonl + questions.jsonl; its passages
    become the corpus) or a YAML/JSONL file in the project's own format (see README).
    """
    from tqdm import tqdm

    from convention_qa.evaluation import report as reports
    from convention_qa.evaluation.gate import check_thresholds
    from convention_qa.evaluation.runner import evaluate as run_eval
    from convention_qa.evaluation.runner import summarize
    from convention_qa.evaluation.suite import prepare

    if compare:
        old, new = (reports.read_report(p) for p in compare)
        click.echo(reports.compare(old, new))
        return
    if question_set is None:
        raise click.UsageError("give a QUESTION_SET, or --compare OLD.json NEW.json")
    assistant, questions = prepare(
        question_set, _factory(ctx), passages=passages, limit=limit, sample=sample, seed=seed
    )
    bar = tqdm(total=len(questions), unit="question", disable=None, file=sys.stderr)
    results = run_eval(assistant, questions, k=k, on_progress=lambda done, _: bar.update(done - bar.n))
    bar.close()
    summary = summarize(results, k)
    summary["config"] = {
        "set": str(question_set),
        "llm": "extractive" if assistant.chat_model is None else ctx.obj.settings.llm,
        "embedder": ctx.obj.settings.embedder,
        "k": k,
        "sample": sample,
        "seed": seed if sample else None,
        "policy": ctx.obj.settings.policy,
        "strictness": ctx.obj.settings.strictness,
    }
    if out:
        for path in reports.write_report(out, summary, results, f"Evaluation of {question_set.name}"):
            click.echo(f"wrote {path}", err=True)
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
    else:
        for key, value in summary.items():
            if key != "config":
                click.echo(f"{key:>22}  {'n/a' if value is None else value}")
    if thresholds:
        failures = check_thresholds(summary, thresholds)
        for failure in failures:
            click.echo(f"below threshold: {failure}", err=True)
        if failures:
            sys.exit(1)


@main.group()
def feedback() -> None:
    """What users rated: export it as test questions, or count it."""


def _conversations(ctx: click.Context, lacking: str = "there is no feedback") -> ConversationStore:
    """The conversation database; a ConfigError saying what is ``lacking`` when it is off."""
    from convention_qa.errors import ConfigError

    store = _factory(ctx).conversations()
    if store is None:
        raise ConfigError(f"conversations are not stored (CONVENTION_QA_CONVERSATIONS=false): {lacking}")
    return store


def _owner(owner: str | None) -> Owner:
    """``--owner``: one owner's ratings; by default everyone's (the CLI reads the database as admin)."""
    from convention_qa.owners import ADMIN

    return Owner(owner) if owner else ADMIN


_OWNER_OPTION = click.option(
    "--owner",
    help="Only this owner's ratings: key:NAME, user:NAME, anon:ID or legacy (default: everyone's).",
)


@feedback.command("export")
@click.option(
    "--rating", type=click.Choice(["down", "up", "all"]), default="down", show_default=True, help="Which ratings."
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The YAML file to write.")
@_OWNER_OPTION
@click.pass_context
@_friendly_errors
def feedback_export(ctx: click.Context, rating: str, out: Path, owner: str | None) -> None:
    """Write rated answers as a question set that `convention-qa eval` runs as it is."""
    import yaml

    from convention_qa.evaluation.feedback import feedback_questions

    turns = _conversations(ctx).rated(_owner(owner), None if rating == "all" else rating)  # type: ignore[arg-type]
    questions, skipped = feedback_questions(turns)
    for reason in skipped:
        click.echo(f"skipped {reason}", err=True)
    if not questions:
        click.echo(f"no {rating} ratings to export" + (" with a correction" if skipped else ""), err=True)
        sys.exit(1)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(questions, allow_unicode=True, sort_keys=False, width=100)
    out.write_text(f"# {len(questions)} questions from user feedback (convention-qa feedback export)\n{text}", "utf-8")
    click.echo(f"wrote {len(questions)} questions to {out}")


@feedback.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_OWNER_OPTION
@click.pass_context
@_friendly_errors
def feedback_stats(ctx: click.Context, as_json: bool, owner: str | None) -> None:
    """Rated answers per rating, per article cited and per week."""
    from convention_qa.evaluation.feedback import feedback_stats as count

    stats = count(_conversations(ctx).rated(_owner(owner)))
    if as_json:
        click.echo(json.dumps(stats, ensure_ascii=False))
        return
    for group, values in stats.items():
        click.echo(f"per {group}:")
        for key, value in values.items() or [("(none)", 0)]:
            click.echo(f"  {key:<60} {value:>6}")


@main.group()
def keys() -> None:
    """Per-user API keys: each key's conversations and ratings are its own."""


def _key_store(ctx: click.Context) -> ConversationStore:
    return _conversations(ctx, "per-user keys live in the conversation database")


@keys.command("create")
@click.argument("name")
@click.pass_context
@_friendly_errors
def keys_create(ctx: click.Context, name: str) -> None:
    """Make a key for NAME and print it (once: only its hash is kept)."""
    key = _key_store(ctx).create_key(name)
    click.echo(key)
    click.echo(f"the key of {name} (owner key:{name}); it is not shown again", err=True)


@keys.command("list")
@click.pass_context
@_friendly_errors
def keys_list(ctx: click.Context) -> None:
    """The keys by name, with when each was made and revoked."""
    for record in _key_store(ctx).api_keys():
        state = f"revoked {record.revoked_at:%Y-%m-%d %H:%M}" if record.revoked_at else "in use"
        click.echo(f"{record.name:<40} created {record.created_at:%Y-%m-%d %H:%M}  {state}")


@keys.command("revoke")
@click.argument("name")
@click.pass_context
@_friendly_errors
def keys_revoke(ctx: click.Context, name: str) -> None:
    """Stop NAME's key working at once (its conversations stay)."""
    if not _key_store(ctx).revoke_key(name):
        click.echo(f"no key named {name!r} is in use (convention-qa keys list)", err=True)
        sys.exit(1)
    click.echo(f"revoked the key of {name}")


@main.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1, CONVENTION_QA_HOST).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default 7860, CONVENTION_QA_PORT).")
@click.pass_context
@_friendly_errors
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the HTTP API with the chat UI mounted on it (indexes the corpus first if needed)."""
    from convention_qa.server import run

    run(_factory(ctx, host=host, port=port))
