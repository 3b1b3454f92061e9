"""The ``convention-qa`` command (``main``); its commands live in ``answers`` and ``admin``, and
import what they use only when they run, so ``convention-qa --help`` starts fast."""

from convention_qa.cli import admin, answers  # registers the commands on ``main``
from convention_qa.cli.base import Wiring, main

__all__ = ["Wiring", "main"]
