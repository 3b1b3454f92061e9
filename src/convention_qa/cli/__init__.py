"""The ``convention-qa`` command (``main``); its commands live in ``answers``, ``calibrate`` and ``admin``, and
import what they use only when they run, so ``convention-qa --help`` starts fast."""

from convention_qa.cli import admin, answers, calibrate  # registers the commands on ``main``
from convention_qa.cli.base import Wiring, main

__all__ = ["Wiring", "main"]
