"""``convention-qa calibrate``: fit the answer confidence on training runs and choose the
strictness operating points on development runs (see ``answering/confidence.py`` and
``answering/points.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from convention_qa.cli.base import friendly_errors, main

if TYPE_CHECKING:
    from convention_qa.answering.linear import Linear

__all__ = ["calibrate"]


@main.command()
@click.argument("reports", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--backend",
    type=click.Choice(["model", "extractive"]),
    default="model",
    show_default=True,
    help="Whose points these are: the answer model's, or the extractive backend's.",
)
@click.option(
    "--fit",
    "fit_runs",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="First fit the confidence model on these runs (STRICTNESS=off, on training splits; repeatable).",
)
@click.option(
    "--answerable-share",
    type=click.FloatRange(0.05, 0.95),
    default=0.8,
    show_default=True,
    help="With --fit: the share of answerable questions the fit weighs its runs to.",
)
@click.option("--write", type=click.Path(path_type=Path), help="Write (or update) this operating-points JSON file.")
@click.option("--curve", is_flag=True, help="Also print the trade-off curve: precision and coverage per threshold.")
@friendly_errors
def calibrate(
    reports: tuple[Path, ...],
    backend: str,
    fit_runs: tuple[Path, ...],
    answerable_share: float,
    write: Path | None,
    curve: bool,
) -> None:
    """Fit the answer confidence and choose the strictness operating points from evaluation runs.

    REPORTS are `convention-qa eval --out DIR` folders (or their report.json) of runs made with
    CONVENTION_QA_STRICTNESS=off on your backend and your development question sets; --fit names
    such runs on training sets, to fit the confidence model on first (without it, the model in
    the --write file, or the shipped one, scores the answers). Prints answered precision and
    coverage per run at each operating point; --write saves the model and the points, for
    CONVENTION_QA_OPERATING_POINTS.
    """
    from convention_qa.answering import confidence
    from convention_qa.answering.points import (
        DEFAULT_POINTS_FILE,
        TARGETS,
        Outcome,
        choose_points,
        operating_points,
        sweep,
    )
    from convention_qa.errors import ConfigError

    if fit_runs and backend == "extractive":
        raise ConfigError("--fit fits the answer model's confidence: the extractive backend's points use no model")
    existing = _points_file(write)
    model = None
    if backend == "model":
        if fit_runs:
            examples = [
                confidence.Example(values, bool(q.get("candidate_right")), bool(q.get("answerable")), name)
                for name, questions in _reports(fit_runs).items()
                for q in questions
                if q.get("candidate") and (values := confidence.features(q.get("check") or {})) is not None
            ]
            model = confidence.fit(examples, answerable_share)
            fitted_on: object = {"runs": [p.name for p in fit_runs], "answerable_share": answerable_share}
            click.echo(f"fitted the confidence model on {len(examples)} written answers of {len(fit_runs)} runs")
            for feature, coef in zip(model.features, model.coef, strict=True):
                click.echo(f"  {feature:>10}  {coef:+.3f}")
        else:
            where = write if write and isinstance(existing.get("model"), dict) else DEFAULT_POINTS_FILE
            kept = operating_points(where, extractive=False)
            model, fitted_on = kept.model, kept.fitted_on
            click.echo(
                f"scoring with the confidence model in {where}"
                if model
                else f"{where} holds no confidence model: scoring with the choice's own probability"
            )
    runs: dict[str, list[Outcome]] = {}
    for name, questions in _reports(reports).items():
        try:
            runs[name] = [
                Outcome(_score(q, model), bool(q.get("candidate_right")), bool(q.get("answerable"))) for q in questions
            ]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{name} is not an eval report ({type(exc).__name__}: {exc})") from None
    points, _ = choose_points(runs)
    names = list(runs)
    if curve:
        _print_curve(runs)
    click.echo("| point | threshold | " + " | ".join(f"{n} precision / coverage" for n in names) + " |")
    click.echo("|---|---:|" + "---:|" * len(names))
    for point in [*TARGETS, "off"]:
        threshold = points.get(point, 0.0)
        row = sweep(runs, [threshold])[0]
        click.echo(f"| {point} | {threshold:.3f} | " + " | ".join(_cell(row[n]) for n in names) + " |")
    if write:
        section: dict[str, object] = {**points, "runs": names}
        if model is not None:  # the model the points were chosen for goes with them
            section["confidence"] = {**model.to_dict(), "fitted_on": fitted_on}
        existing[backend] = section
        write.write_text(json.dumps(existing, indent=2) + "\n", encoding="utf-8")
        click.echo(f"wrote the {backend} points to {write}")


def _points_file(path: Path | None) -> dict[str, Any]:
    """The operating-points file calibrate updates ({} when there is none yet)."""
    from convention_qa.errors import ConfigError

    if path is None or not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ConfigError(f"{path} exists and is not a JSON points file: choose another file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} exists and is not a JSON points file: choose another file")
    return data


def _reports(paths: tuple[Path, ...]) -> dict[str, list[dict[str, Any]]]:
    """Each eval report's questions, by the run's name (its folder's)."""
    from convention_qa.errors import ConfigError

    runs: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        file = path / "report.json" if path.is_dir() else path
        try:
            questions = json.loads(file.read_text(encoding="utf-8"))["questions"]
            if not isinstance(questions, list) or not all(isinstance(q, dict) for q in questions):
                raise TypeError("questions is not a list of objects")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{file} is not an eval report ({type(exc).__name__}: {exc})") from None
        name = path.name if path.is_dir() else path.parent.name
        runs[name if name not in runs else f"{name}-{len(runs)}"] = questions
    return runs


def _score(question: dict[str, Any], model: Linear | None) -> float | None:
    """What the check compares for a question of an eval report (None: no answer was written):
    the confidence model's probability from the reader's record, else the score it recorded."""
    if not question.get("candidate"):
        return None
    from convention_qa.answering.confidence import probability

    record = question.get("check") or {}
    if (fitted := probability(record, model)) is not None:
        return fitted
    value = record.get("score", question.get("confidence"))
    return None if value is None else float(value)


def _cell(result: dict[str, Any]) -> str:
    """One run's answered precision / coverage at a threshold, as the tables show it."""
    return f"{result['precision']:.3f} / {result['coverage']:.3f}" if result["precision"] is not None else "- / 0"


def _print_curve(runs: dict[str, Any]) -> None:
    """Answered precision / coverage of each run, and their means, at thresholds 0 to 0.9."""
    from convention_qa.answering.points import sweep

    names = list(runs)
    click.echo("| threshold | " + " | ".join(f"{n} precision / coverage" for n in names) + " | mean |")
    click.echo("|---:|" + "---:|" * (len(names) + 1))
    for row in sweep(runs, [t / 20 for t in range(19)]):
        cells = [row[n] for n in names]
        given = [c["precision"] for c in cells if c["precision"] is not None]
        mean = (sum(given) / len(given) if given else 0.0, sum(c["coverage"] or 0.0 for c in cells) / len(cells))
        text = " | ".join(_cell(c) for c in cells)
        click.echo(f"| {row['threshold']:.2f} | {text} | {mean[0]:.3f} / {mean[1]:.3f} |")
