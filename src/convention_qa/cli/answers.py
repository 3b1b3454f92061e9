"""``convention-qa ask``, ``chat`` and ``eval``: questions put to the assistant."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from convention_qa.cli.base import factory_of, friendly_errors, main
from convention_qa.config import MAX_K
from convention_qa.conversations.owners import LOCAL

if TYPE_CHECKING:
    from convention_qa.contract import Answer, Event

__all__ = ["ask", "chat", "evaluate"]


def _print_sources(answer: Answer) -> None:
    """After an answer: its numbered sources, or the closest passages of an abstention."""
    from convention_qa.answering.assistant import ABSTAIN_REASONS

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


def _print_stream(events: Iterator[Event]) -> Answer:
    """Print the answer as it is generated; return the final Answer."""
    from convention_qa.contract import follow

    streamed = False
    for update in follow(events):
        if update.stage:
            continue
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
@friendly_errors
def ask(ctx: click.Context, question: str, as_json: bool, k: int | None) -> None:
    """Answer one QUESTION, with the numbered sources it cites."""
    assistant = factory_of(ctx).assistant()
    request = assistant.request(question, k=k)
    if as_json:
        answer = assistant.answer(request)
        click.echo(json.dumps(answer.model_dump(mode="json", by_alias=True), ensure_ascii=False))
        return
    answer = _print_stream(assistant.stream(request))
    _print_sources(answer)


@main.command()
@click.option("-k", type=click.IntRange(1, MAX_K), default=None, help="Passages to retrieve.")
@click.pass_context
@friendly_errors
def chat(ctx: click.Context, k: int | None) -> None:
    """An interactive conversation; follow-up questions use the history. Ctrl-D or /quit ends it."""
    from convention_qa.chat import Chat
    from convention_qa.conversations.memory import InMemoryChats
    from convention_qa.errors import QuestionError
    from convention_qa.factory import exchanges_for

    assistant = factory_of(ctx).assistant()
    chat = Chat(assistant, InMemoryChats(1, exchanges_for(assistant.config.history_messages)))
    conversation: str | None = None
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
            conversation = None
            click.echo("(new conversation)")
            continue
        if not question.strip():
            continue
        try:
            turn = chat.turn(question, LOCAL, conversation_id=conversation, k=k)
            answer = _print_stream(chat.stream(turn))
        except QuestionError as exc:
            click.echo(f"error: {exc}", err=True)
            continue
        conversation = turn.conversation_id
        _print_sources(answer)


@main.command("eval")
@click.argument("question_set", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--passages", type=click.Path(exists=True, path_type=Path), help="passages.jsonl to use as the corpus.")
@click.option(
    "-k",
    "--k",
    "k",
    type=click.IntRange(1, MAX_K),
    default=None,
    help="Passages per question (default: TOP_K, as answered).",
)
@click.option("--out", type=click.Path(path_type=Path), help="Write report.json, report.md and charts here.")
@click.option("--limit", type=click.IntRange(1), help="Only the first N questions.")
@click.option("--sample", type=click.IntRange(1), help="A random sample of N questions (see --seed).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed for --sample.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option("--compare", nargs=2, type=click.Path(exists=True, path_type=Path), help="OLD.json NEW.json")
@click.option("--check", "thresholds", type=click.Path(exists=True, path_type=Path), help="Fail below these minimums.")
@click.pass_context
@friendly_errors
def evaluate(
    ctx: click.Context,
    question_set: Path | None,
    passages: Path | None,
    k: int | None,
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
    from convention_qa.factory import backend_name

    if compare:
        old, new = (reports.read_report(p) for p in compare)
        click.echo(reports.compare(old, new))
        return
    if question_set is None:
        raise click.UsageError("give a QUESTION_SET, or --compare OLD.json NEW.json")
    k = k or ctx.obj.settings.top_k  # measure what the app, the API and the CLI answer with
    assistant, questions = prepare(
        question_set, factory_of(ctx), passages=passages, limit=limit, sample=sample, seed=seed
    )
    bar = tqdm(total=len(questions), unit="question", disable=None, file=sys.stderr)
    results = run_eval(assistant, questions, k=k, on_progress=lambda done, _: bar.update(done - bar.n))
    bar.close()
    summary = summarize(results, k)
    summary["config"] = {
        "set": str(question_set),
        "llm": backend_name(ctx.obj.settings, assistant),
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
