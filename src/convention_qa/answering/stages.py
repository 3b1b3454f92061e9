"""The stages of the focused answer, each one class with one ``run()`` that takes and returns
typed values. :mod:`convention_qa.answering.pipeline` lists their order.

- :class:`Condense`: a follow-up read with the question it follows, by rule (no model call);
- :class:`Retrieve`: the best passages; none close enough is an off-corpus refusal;
- :class:`Rank`: the passages' sentences, best first (:mod:`convention_qa.answering.ranking`);
- :class:`Read`: choose the sentence that answers and copy the answer (:mod:`convention_qa.answering.reader`);
- :class:`Check`: give the answer only when the choice is confident enough;
- :class:`Cite`: the answer with its citation, pointing at the sentence it was copied from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from convention_qa.answering.confidence import probability
from convention_qa.answering.evidence import Evidence, citation
from convention_qa.answering.linear import Linear
from convention_qa.answering.policy import Policy
from convention_qa.answering.ranking import RankedSentence, SentenceRanker
from convention_qa.answering.reader import Reader, Reading, checked_translation
from convention_qa.answering.retrieval import Retriever
from convention_qa.answering.writer import Writer
from convention_qa.contract import AbstainReason, AnswerRequest, Citation, Passage
from convention_qa.text import Query, looks_like_follow_up, strip_markers

__all__ = ["Check", "Cite", "Condense", "Focus", "Rank", "Read", "Retrieve", "Translate"]

_CONTEXT_CHARS = 300  # of the earlier question a follow-up is read with


@dataclass(frozen=True)
class Focus:
    """What the question is about: the query retrieval reads (for a follow-up, the earlier
    question and this one), the question as asked, and the earlier question a follow-up leans on
    ('' for a question that stands alone)."""

    query: Query
    asking: Query
    context: str = ""

    @property
    def leaning(self) -> Query | None:
        """The earlier question, read, for the ranking of a follow-up's sentences."""
        return Query.read(self.context, self.asking.language) if self.context else None


@dataclass
class Condense:
    """A follow-up is read together with the previous question (its focus: the "it" of "how many
    articles does it have?"); a question that stands alone is read as it is."""

    def run(self, request: AnswerRequest) -> Focus:
        asking = request.query
        previous = [m["content"] for m in request.history if m.get("role") == "user" and m.get("content")]
        if not previous or not looks_like_follow_up(asking):
            return Focus(asking, asking)
        earlier = strip_markers(previous[-1])[:_CONTEXT_CHARS]
        return Focus(Query.read(f"{earlier} {asking.text}", asking.language), asking, earlier)


@dataclass
class Retrieve:
    """The ``k`` best passages, and whether even the best is too far from the question to answer
    it (below the policy's off-corpus floor)."""

    retriever: Retriever
    policy: Policy | None = None  # its off-corpus floors

    def run(self, query: Query, k: int) -> tuple[list[Passage], bool]:
        passages = self.retriever.retrieve(query, k)
        if not passages:
            return passages, True
        same_language = passages[0].meta.language in (query.language, None)
        return passages, self.policy is not None and self.policy.off_corpus(passages[0].score, same_language)


@dataclass
class Translate:
    """With ``TRANSLATE=true``: a question asked in another language than its passages is put into
    theirs by the model, and the sentences are ranked and read for that translation (the answer
    is still given in the language asked). A translation that is not one (a preamble such as
    "Berikut adalah ...:", a lost number, far too long) is not used. Off by default: measured
    against reading the question as asked in "Answer quality"."""

    writer: Writer | None  # None: off

    def run(self, focus: Focus, passages: Sequence[Passage]) -> tuple[Focus, str | None]:
        if self.writer is None or self.writer.chat_model is None or not passages:
            return focus, None
        target = passages[0].meta.language
        if target in (focus.asking.language, None):
            return focus, None
        reply = self.writer.translate(focus.asking.text, target)
        translated = checked_translation(reply, focus.asking.text, target) if reply else ""
        if not translated:
            return focus, None
        return Focus(focus.query, Query.read(translated, target), focus.context), translated


@dataclass
class Rank:
    ranker: SentenceRanker

    def run(self, focus: Focus, passages: Sequence[Passage]) -> list[RankedSentence]:
        return self.ranker.run(focus.asking, passages, focus.leaning)


@dataclass
class Read:
    reader: Reader

    def run(self, question: Query, sentences: list[RankedSentence], language: str, context: str = "") -> Reading:
        return self.reader.run(question, sentences, language, context)


@dataclass
class Check:
    """Whether to give what was read: an answer below the operating point's confidence is withheld.

    ``points`` maps the named strictness settings to the minimum confidence (chosen on the
    development splits; ``convention-qa calibrate`` measures them); a number is used as it is;
    "off" gives every answer. With a fitted ``model``, the confidence is its probability that the
    answer is right, from what the reader decided (:mod:`convention_qa.answering.confidence`);
    without one, the reader's own score.
    """

    points: dict[str, float]
    model: Linear | None = None

    def threshold(self, strictness: str) -> float:
        if strictness == "off":
            return 0.0
        if strictness in self.points:
            return self.points[strictness]
        return float(strictness)

    def run(self, reading: Reading, strictness: str) -> AbstainReason | None:
        if reading.choice is None:
            return "uncited" if reading.problem == "not-copied" else "model"
        if (fitted := probability(reading.to_dict(), self.model)) is not None:
            reading.score = fitted
        if reading.problem == "echo":
            return "unsure"  # the words copied only repeat the question
        if not reading.answer:
            return "uncited"
        if reading.score is not None and reading.score < self.threshold(strictness):
            return "unsure"
        return None


@dataclass
class Cite:
    """The answer with one [n] marker, and its citation: the passage the chosen sentence is in,
    with that sentence as what supports the answer. Passages are numbered in the order the
    reader saw their sentences."""

    def run(self, reading: Reading) -> tuple[str, list[Citation]]:
        chosen = reading.sentence
        if chosen is None:
            return reading.answer, []
        order: list[str] = []
        for sentence in reading.shown:
            if sentence.passage.id not in order:
                order.append(sentence.passage.id)
        n = order.index(chosen.passage.id) + 1
        item = Evidence(n, chosen.passage, [chosen.span])
        return f"{reading.answer} [{n}]", [citation(item, [chosen.passage.text[chosen.span[0] : chosen.span[1]]])]
