"""The answer contract: what goes into the pipeline and what comes out, defined once.

- :class:`ChunkMeta`: the metadata of one stored chunk, written at ingest, read everywhere.
- :class:`Passage`: a retrieved chunk with its scores.
- :class:`Citation`: a cited passage with the sentences that back the claim.
- :class:`Signals`: what the answer policy knew when it decided.
- :class:`Answer`: the final answer; the HTTP API's response model as it is.
- :class:`AnswerRequest`: a question ready to answer (its language, the answer language, k and
  the history already settled); every surface builds one with ``Assistant.request``.
- :class:`Token` and :class:`Final`: the events of ``Assistant.stream``; :func:`follow` turns
  them into what a surface shows (the one place where streamed text meets the final answer).

The API serializes these models directly; their JSON shape is the API's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, computed_field
from pydantic.dataclasses import dataclass

from convention_qa.text import Query, tokenize

__all__ = [
    "AbstainReason",
    "Answer",
    "AnswerRequest",
    "ChunkMeta",
    "Citation",
    "Event",
    "Exchange",
    "Final",
    "Hit",
    "Message",
    "Passage",
    "Repair",
    "Row",
    "Signals",
    "Stage",
    "Token",
    "Update",
    "follow",
]

Message = dict[str, str]  # {"role": "user" | "assistant", "content": str}
Rounded = Annotated[float, PlainSerializer(lambda v: round(v, 4), return_type=float)]
AbstainReason = Literal["off-corpus", "policy", "model", "uncited", "unsure"]
Repair = Literal["grounding", "language"]


class ChunkMeta(BaseModel):
    """The metadata stored with every chunk. Unknown keys (an older index) are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    doc_id: str = ""
    doc_hash: str = ""  # the article's content hash: with n_chunks, the store's manifest
    n_chunks: int = 0
    position: int = 0  # the chunk's index in its article
    start: int = 0  # character span in the cleaned article
    end: int = 0
    kind: str = "paragraph"  # paragraph | caption | header (title, outlet, date, credits)
    title: str = ""
    language: str | None = None
    path: str = ""  # relative to the corpus folder
    source: str | None = None
    date: str | None = None
    page: int | None = None  # PDF page

    def to_store(self) -> dict[str, Any]:
        """As Chroma stores it: scalars only, no None."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Row(NamedTuple):
    """A stored chunk."""

    id: str
    text: str
    meta: ChunkMeta


class Hit(NamedTuple):
    """A stored chunk found by vector search, with its cosine similarity to the query."""

    id: str
    text: str
    meta: ChunkMeta
    similarity: float


def _from_meta(name: str, kind: object) -> Any:
    """A computed field of a Passage: the named value of its chunk's metadata (serialized with
    the passage, typed ``kind`` in the API's schema)."""

    def read(self: Passage) -> Any:
        return getattr(self.meta, name)

    read.__name__, read.__annotations__ = name, {"return": kind}
    return computed_field(property(read))


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its scores; ``score`` is the fused one, in [0, 1]."""

    id: Annotated[str, Field(serialization_alias="chunk_id")]
    text: str
    meta: Annotated[ChunkMeta, Field(exclude=True)]
    score: Rounded
    dense: Rounded = 0.0  # cosine similarity
    lexical: Rounded = 0.0  # BM25 score / best BM25 score of this query
    # tokenize(text), as retrieval read it for BM25: the steps after it match words against these.
    tokens: Annotated[frozenset[str], Field(exclude=True, repr=False)] = frozenset()

    def __post_init__(self) -> None:
        if not self.tokens and self.text:  # a passage made by hand, not by the retriever
            object.__setattr__(self, "tokens", frozenset(tokenize(self.text)))

    doc_id = _from_meta("doc_id", str)
    title = _from_meta("title", str)
    source = _from_meta("source", str | None)
    start = _from_meta("start", int)
    end = _from_meta("end", int)


@dataclass(frozen=True)
class Citation:
    n: int
    chunk_id: str
    doc_id: str
    title: str
    source: str | None
    text: str  # the whole passage
    start: int  # the passage's character span in the cleaned article
    end: int
    supporting: list[str]  # the passage sentences that support the citing claim
    score: Rounded


@dataclass(frozen=True)
class Signals:
    """What is known about a question when deciding whether to answer it."""

    score: Rounded  # the best passage's retrieval score
    margin: Rounded  # the best passage's score minus the second one's (0 with one passage)
    same_language: bool  # the best passage is in the question's language
    coverage: Rounded  # IDF-weighted share of the question's words found in the best passage
    coverage_any: Rounded  # ... found in any retrieved passage
    missing: Rounded  # the rarest question word no retrieved passage has (IDF / highest IDF; 0 if none)
    anchors: Rounded  # share of the question's numbers and capitalised names found in the passages (1 if none)
    refusal: Rounded | None = None  # the model's probability of replying NOT_FOUND; None if unknown

    def to_dict(self) -> dict[str, Any]:
        """As eval reports record it (benchmarks/calibrate.py reads it back with from_dict)."""
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signals:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]


class Answer(BaseModel):
    """The answer to one question. As JSON (the API's response), ``text`` is ``answer`` and the
    retrieved passages appear only as the ``closest`` three of an abstention."""

    question: str
    text: str = Field(serialization_alias="answer")
    abstained: bool
    abstain_reason: AbstainReason | None = Field(default=None, description="Why there is no answer.")
    confidence: Rounded | None = Field(
        default=None,
        description="The calibrated probability that the answer written for the question is right "
        "(of an abstention: of the answer that was withheld); None when no answer was written.",
    )
    citations: list[Citation] = Field(default_factory=list)
    timings: dict[str, Rounded] = Field(default_factory=dict, description="Seconds per step.")
    language: str = Field(default="und", description="The language of the answer.")
    question_language: str = "und"
    query: str = Field(default="", description="The standalone question used for retrieval.")
    unsupported: list[str] = Field(default_factory=list, description="Claims their citations do not back.")
    repair: Repair | None = Field(default=None, description="Why the model's first answer was replaced.")
    signals: Signals | None = Field(default=None, description="What retrieval knew about the question.")
    check: dict[str, Any] | None = Field(
        default=None, description="What the answer check measured: its values, and the sentence the answer comes from."
    )
    translation: str | None = Field(
        default=None, description="The question as read in the passages' language, when it was translated."
    )
    passages: list[Passage] = Field(default_factory=list, exclude=True)  # everything retrieved, best first
    withheld: str | None = Field(default=None, exclude=True)  # an answer written but not given (for eval)

    @computed_field(description="An abstention's closest passages (none of them answers).")  # type: ignore[prop-decorator]
    @property
    def closest(self) -> list[Passage]:
        return self.passages[:3] if self.abstained else []


@dataclass(frozen=True)
class Exchange:
    """One past question and the answer it got, as a conversation keeps it."""

    question: str
    answer: str


@dataclass(frozen=True)
class AnswerRequest:
    """A question ready to answer: checked, its language known, the answer language chosen.

    Build it with ``Assistant.request``; nothing downstream guesses a language again.
    """

    question: str
    question_language: str  # how the question is read: retrieval, evidence, extraction
    answer_language: str  # what the answer is written in
    k: int
    history: tuple[Message, ...] = ()
    read: Query | None = None  # the question read once (tokens, anchors); made from the above if not given

    def __post_init__(self) -> None:
        if self.read is None:
            object.__setattr__(self, "read", Query.read(self.question, self.question_language))

    @property
    def query(self) -> Query:
        assert self.read is not None
        return self.read


@dataclass(frozen=True)
class Token:
    """A piece of the answer text as the model writes it."""

    text: str


@dataclass(frozen=True)
class Stage:
    """The answer has reached this stage (retrieve, rank, read, check): for progress shown while
    the answer is held until it is checked."""

    name: str


@dataclass(frozen=True)
class Final:
    """The finished answer; always the last event."""

    answer: Answer


Event = Token | Stage | Final


@dataclass(frozen=True)
class Update:
    """What a surface shows after one event."""

    text: str  # the whole answer text as it should read now
    delta: str  # what to append to what was shown before (when not ``replaced``)
    replaced: bool = False  # the final text does not continue what was streamed: show ``text`` anew
    answer: Answer | None = None  # on the last update
    stage: str | None = None  # a stage reached (no text changed)


def follow(events: Iterator[Event]) -> Iterator[Update]:
    """Streamed pieces and the final answer as display updates.

    What was streamed can differ from the final text: citation markers are cleaned, an answer
    may be replaced by a better-grounded one or by an abstention. The final update then carries
    only the missing tail when the final text continues the streamed one, else the whole text
    with ``replaced`` set.
    """
    shown = ""
    for event in events:
        if isinstance(event, Token):
            shown += event.text
            yield Update(shown, event.text)
            continue
        if isinstance(event, Stage):
            yield Update(shown, "", stage=event.name)
            continue
        final = event.answer.text
        if final.startswith(shown):
            yield Update(final, final[len(shown) :], answer=event.answer)
        else:
            yield Update(final, "", replaced=True, answer=event.answer)
        return
