"""What the fitting scripts share (not a benchmark itself)."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold


def folds(y: np.ndarray, wanted: int = 5, seed: int = 0) -> StratifiedKFold:
    """Stratified folds for cross-validation: ``wanted`` of them, or fewer when a class has fewer
    examples (a small run still gets its figures); an error that says so when one has under two."""
    smallest = int(min(np.sum(y == 1), np.sum(y == 0)))
    if smallest < 2:
        raise SystemExit(f"cross-validation needs two examples of each class; the smaller one has {smallest}")
    return StratifiedKFold(min(wanted, smallest), shuffle=True, random_state=seed)
