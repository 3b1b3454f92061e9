"""The regression gate: minimum (or maximum) values for summary metrics, kept in the repo."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from convention_qa.errors import ConfigError

__all__ = ["check_thresholds"]


def check_thresholds(summary: dict[str, Any], path: Path) -> list[str]:
    """Messages for every metric outside its bound; [] when all pass.

    The file is TOML with ``[min]`` and ``[max]`` tables of metric = bound.
    """
    try:
        bounds = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read thresholds {path}: {exc}") from None
    failures = []
    for kind, table in bounds.items():
        if kind not in ("min", "max") or not isinstance(table, dict):
            raise ConfigError(f"{path}: only [min] and [max] tables are allowed, not [{kind}]")
        for metric, bound in table.items():
            if metric not in summary:
                raise ConfigError(f"{path}: unknown metric {metric!r}; known: {sorted(summary)}")
            value = summary[metric]
            if value is None or (kind == "min" and value < bound) or (kind == "max" and value > bound):
                failures.append(f"{metric} = {value} ({kind} {bound})")
    return failures
