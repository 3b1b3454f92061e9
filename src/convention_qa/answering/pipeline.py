"""How an answer is made, in order (the focused reader, the default):

    condense -> retrieve -> rank sentences -> read -> check -> cite

1. :class:`~convention_qa.answering.stages.Condense` reads a follow-up with the question before it;
2. :class:`~convention_qa.answering.stages.Retrieve` finds the best passages (none: "off-corpus");
   (:class:`~convention_qa.answering.stages.Translate`, off by default, puts a question asked in
   another language than the passages into theirs);
3. :class:`~convention_qa.answering.stages.Rank` ranks their sentences for the question as asked,
   across languages, without translating it;
4. :class:`~convention_qa.answering.stages.Read` has the model choose the sentence that answers
   (or none: "model") and copy the answer from it, phrased in the language asked;
5. :class:`~convention_qa.answering.stages.Check` withholds a choice the model was unsure of ("unsure");
6. :class:`~convention_qa.answering.stages.Cite` cites the passage and sentence it comes from.

Each stage's time is in ``Answer.timings`` under its name, and what the reader decided is in
``Answer.check`` (``stage``: the stage that decided a refusal), so a report can say which stage
a wrong answer or a refusal came from. :func:`as_runnable` gives the same pipeline as a
LangChain ``Runnable`` (invoke, stream, batch; callbacks see each stage).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from convention_qa.answering.policy import measure
from convention_qa.answering.stages import Check, Cite, Condense, Rank, Read, Retrieve, Translate
from convention_qa.contract import AbstainReason, Answer, AnswerRequest, Event, Final, Stage, Token

__all__ = ["Pipeline"]


@dataclass
class Pipeline:
    condense: Condense
    retrieve: Retrieve
    translate: Translate
    rank: Rank
    read: Read
    check: Check
    cite: Cite
    strictness: str = "balanced"

    def stream(self, request: AnswerRequest, abstain_text: dict[str, str]) -> Iterator[Event]:
        """A Stage event as each stage starts, one Token with the answer once it is checked (or
        the refusal), then one Final."""
        timings: dict[str, float] = {}
        begun = time.perf_counter()

        def timed(name: str, started: float) -> None:
            timings[name] = time.perf_counter() - started

        started = time.perf_counter()
        focus = self.condense.run(request)
        timed("condense", started)
        yield Stage("retrieve")
        started = time.perf_counter()
        passages, off_corpus = self.retrieve.run(focus.query, request.k)
        timed("retrieve", started)
        answer = Answer(
            question=request.question,
            text="",
            abstained=True,
            language=request.answer_language,
            question_language=request.question_language,
            query=focus.query.text,
            passages=passages,
            timings=timings,
        )
        timings = answer.timings
        if off_corpus:  # the closest passages stay in the answer: a refusal shows them
            yield from _abstain(answer, "off-corpus", "retrieve", abstain_text)
            return
        answer.signals = measure(focus.query, passages, self.retrieve.retriever.rarity)
        if self.translate.writer is not None:
            started = time.perf_counter()
            focus, answer.translation = self.translate.run(focus, passages)
            timed("translate", started)
        yield Stage("rank")
        started = time.perf_counter()
        sentences = self.rank.run(focus, passages)
        timed("rank", started)
        yield Stage("read")
        started = time.perf_counter()
        reading = self.read.run(focus.asking, sentences, request.answer_language, focus.context)
        timed("read", started)
        reason = self.check.run(reading, self.strictness)
        answer.check = reading.to_dict()
        # What the user is shown: the check's probability that the answer is right (the model's
        # choice probability when no confidence model is fitted); none without a model.
        answer.confidence = reading.score if reading.confidence is not None else None
        if reason is not None:
            answer.withheld = reading.answer or None
            stage = "check" if reason == "unsure" and reading.problem != "echo" else "read"
            yield from _abstain(answer, reason, stage, abstain_text)
            return
        started = time.perf_counter()
        answer.text, answer.citations = self.cite.run(reading)
        timed("cite", started)
        answer.abstained = False
        timings["first_token"] = time.perf_counter() - begun
        yield Token(answer.text)
        yield Final(answer)

    def as_runnable(self, abstain_text: dict[str, str]) -> Any:
        """This pipeline as a LangChain ``Runnable``: AnswerRequest in, Answer out."""
        from langchain_core.runnables import RunnableLambda

        def run(request: AnswerRequest) -> Answer:
            for event in self.stream(request, abstain_text):
                if isinstance(event, Final):
                    return event.answer
            raise AssertionError("the pipeline ended without a Final event")

        return RunnableLambda(run, name="convention-qa")


def _abstain(answer: Answer, reason: AbstainReason, stage: str, texts: dict[str, str]) -> Iterator[Event]:
    answer.abstained, answer.abstain_reason = True, reason
    answer.text = texts.get(answer.language, texts["en"])
    answer.citations, answer.unsupported = [], []
    answer.check = {**(answer.check or {}), "stage": stage}
    yield Token(answer.text)
    yield Final(answer)
