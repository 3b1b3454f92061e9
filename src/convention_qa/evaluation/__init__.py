"""Question sets, metrics and reports for measuring answer quality."""

from typing import TYPE_CHECKING

from convention_qa._lazy import lazy_exports

if TYPE_CHECKING:
    from convention_qa.evaluation.datasets import load_question_set
    from convention_qa.evaluation.report import write_report
    from convention_qa.evaluation.runner import evaluate, summarize

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
