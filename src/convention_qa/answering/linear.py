"""A fitted logistic regression over named features, as the answer policy and the answer check
store theirs: ``sigmoid(intercept + sum(coef * (x - mean) / scale))``."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from convention_qa.errors import ConfigError

__all__ = ["Linear", "read_fitted", "sigmoid"]


def read_fitted(path: Path, what: str) -> Any:
    """The JSON of a fitted-model file; a ConfigError naming ``what`` when it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} {path} is not valid JSON ({exc.msg})") from None


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@dataclass(frozen=True)
class Linear:
    """A feature missing from the values counts as its mean (it adds nothing)."""

    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def logit(self, values: dict[str, float]) -> float:
        return self.intercept + sum(
            c * (values.get(f, m) - m) / s
            for f, c, m, s in zip(self.features, self.coef, self.mean, self.scale, strict=True)
        )

    def probability(self, values: dict[str, float]) -> float:
        return sigmoid(self.logit(values))

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def read(cls, data: Any, known: Sequence[str], what: str) -> Linear:
        """The model stored in ``data``; a ConfigError naming ``what`` when it is malformed or uses
        a feature not in ``known``."""
        try:
            model = Linear(
                features=tuple(str(f) for f in data["features"]),
                coef=tuple(float(c) for c in data["coef"]),
                intercept=float(data["intercept"]),
                mean=tuple(float(m) for m in data["mean"]),
                scale=tuple(float(s) or 1.0 for s in data["scale"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{what} is malformed ({exc!r})") from None
        unknown = set(model.features) - set(known)
        if unknown or len({len(model.features), len(model.coef), len(model.mean), len(model.scale)}) != 1:
            raise ConfigError(f"{what} is malformed (unknown features {sorted(unknown)} or unequal lengths)")
        return model
