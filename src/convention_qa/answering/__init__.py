"""The Assistant and its steps: retrieval, evidence, the answer policy, the model's jobs,
extraction, grounding checks, the answer check (verdict), prompts and chat models."""

from typing import TYPE_CHECKING

from convention_qa._lazy import lazy_exports

if TYPE_CHECKING:
    from convention_qa.answering.assistant import Assistant
    from convention_qa.answering.llm import make_chat_model
    from convention_qa.answering.policy import Policy, load_policy
    from convention_qa.answering.retrieval import Retriever
    from convention_qa.answering.verdict import Verdict, load_verdict

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
