"""``convention-qa ingest``, ``serve``, ``feedback`` and ``keys``: the corpus, the server and
what is kept in the conversation database."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from convention_qa.cli.base import conversations_of, factory_of, friendly_errors, main, owner_option

if TYPE_CHECKING:
    from convention_qa.conversations.keys import ApiKeys

__all__ = ["feedback", "ingest", "keys", "serve"]


@main.command()
@click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path), help="Folder of articles.")
@click.option("--rebuild", is_flag=True, help="Drop the index and build it again from scratch.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.pass_context
@friendly_errors
def ingest(ctx: click.Context, corpus_dir: Path | None, rebuild: bool, as_json: bool) -> None:
    """Index the corpus folder: add new articles, update changed ones, remove deleted ones."""
    from tqdm import tqdm

    from convention_qa.corpus.ingest import ingest as run_ingest
    from convention_qa.corpus.ingest import ingest_lock
    from convention_qa.corpus.progress import IngestProgress

    factory = factory_of(ctx, corpus_dir=corpus_dir)
    settings, embedder = factory.settings, factory.embedder()
    with ingest_lock(settings.data_dir):
        store = factory.store(reset=rebuild)
        # The bar counts the corpus's bytes read (tqdm's ETA comes from them); the text after it
        # says the chunks written and how fast they are embedded.
        bar = tqdm(total=0, unit="B", unit_scale=True, desc="ingest", disable=None, file=sys.stderr)

        def progress(now: IngestProgress) -> None:
            bar.total = now.bytes_total
            bar.update(now.bytes_done - bar.n)
            bar.set_postfix_str(f"{now.chunks} chunks, {now.rate:.1f} chunks/s", refresh=False)

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


@main.group()
def feedback() -> None:
    """What users rated: export it as test questions, or count it."""


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
@friendly_errors
def feedback_export(ctx: click.Context, rating: str, out: Path, owner: str | None) -> None:
    """Write rated answers as a question set that `convention-qa eval` runs as it is."""
    import yaml

    from convention_qa.evaluation.feedback import feedback_questions

    turns = conversations_of(ctx).rated(owner_option(owner), None if rating == "all" else rating)  # type: ignore[arg-type]
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
@friendly_errors
def feedback_stats(ctx: click.Context, as_json: bool, owner: str | None) -> None:
    """Rated answers per rating, per article cited and per week."""
    from convention_qa.evaluation.feedback import feedback_stats as count

    stats = count(conversations_of(ctx).rated(owner_option(owner)))
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


def _key_store(ctx: click.Context) -> ApiKeys:
    return conversations_of(ctx, "per-user keys live in the conversation database").keys


@keys.command("create")
@click.argument("name")
@click.pass_context
@friendly_errors
def keys_create(ctx: click.Context, name: str) -> None:
    """Make a key for NAME and print it (once: only its hash is kept)."""
    from convention_qa.conversations.keys import key_name

    name = key_name(name)
    key = _key_store(ctx).create(name)
    click.echo(key)
    click.echo(f"the key of {name} (owner key:{name}); it is not shown again", err=True)


@keys.command("list")
@click.pass_context
@friendly_errors
def keys_list(ctx: click.Context) -> None:
    """The keys by name, with when each was made and revoked."""
    for record in _key_store(ctx).list():
        state = f"revoked {record.revoked_at:%Y-%m-%d %H:%M}" if record.revoked_at else "in use"
        click.echo(f"{record.name:<40} created {record.created_at:%Y-%m-%d %H:%M}  {state}")


@keys.command("revoke")
@click.argument("name")
@click.pass_context
@friendly_errors
def keys_revoke(ctx: click.Context, name: str) -> None:
    """Stop NAME's key working at once (its conversations stay)."""
    from convention_qa.conversations.keys import key_name

    name = key_name(name)
    if not _key_store(ctx).revoke(name):
        click.echo(f"no key named {name!r} is in use (convention-qa keys list)", err=True)
        sys.exit(1)
    click.echo(f"revoked the key of {name}")


@main.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1, CONVENTION_QA_HOST).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default 7860, CONVENTION_QA_PORT).")
@click.pass_context
@friendly_errors
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the HTTP API with the chat UI mounted on it (indexes the corpus first if needed)."""
    from convention_qa.web.server import run

    run(factory_of(ctx, host=host, port=port))
