"""The HTTP API: ask, chat, search, documents, health. Routes only; answers come from the Assistant.

Every error the user can fix is a 4xx whose ``detail`` is the same message the CLI prints.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from convention_qa.answering import Answer, Assistant, Message
from convention_qa.errors import ConfigError, ConventionQAError, ModelError, QuestionError, StoreError
from convention_qa.factory import Factory
from convention_qa.library import add_files
from convention_qa.sessions import SessionStore, UnknownSession

__all__ = ["api_router", "error_status", "install_error_handlers", "sse"]

log = logging.getLogger(__name__)

Language = Literal["auto", "id", "en", "vi"]


class ChatMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=20_000, description="The question.")
    history: list[ChatMessage] = Field(default_factory=list, max_length=50, description="Earlier turns.")
    k: int | None = Field(None, ge=1, le=20, description="Passages to retrieve.")
    language: Language = Field("auto", description="Answer language; auto = the question's.")
    stream: bool = Field(False, description="Server-Sent Events: token events, then an answer event.")


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=20_000)
    session_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    k: int | None = Field(None, ge=1, le=20)
    language: Language = "auto"
    stream: bool = False


class CitationOut(BaseModel):
    n: int
    doc_id: str
    chunk_id: str
    title: str
    source: str | None
    text: str
    start: int
    end: int
    supporting: list[str]
    score: float


class AnswerOut(BaseModel):
    answer: str
    abstained: bool
    abstain_reason: str | None = Field(None, description="off-corpus, policy, model or uncited")
    confidence: float | None = Field(None, description="The answer policy's probability that the articles answer it.")
    citations: list[CitationOut]
    timings: dict[str, float]
    language: str = Field(description="The language of the answer.")
    question_language: str
    query: str
    unsupported: list[str]
    repair: str | None = Field(None, description="Why the model's first answer was replaced: grounding or language.")
    signals: dict[str, Any] | None = Field(None, description="What the answer policy decided on.")
    closest: list[dict[str, Any]]


class ChatOut(AnswerOut):
    session_id: str


class SearchHit(BaseModel):
    chunk_id: str
    doc_id: str
    title: str
    source: str | None
    text: str
    start: int
    end: int
    score: float
    dense: float
    lexical: float


class DocumentOut(BaseModel):
    id: str
    title: str
    source: str | None = None
    language: str | None = None
    date: str | None = None
    path: str | None = None
    chunks: int


class UploadOut(BaseModel):
    saved: list[str]
    rejected: list[dict[str, str]]
    chunks: int | None


def error_status(exc: ConventionQAError) -> int:
    if isinstance(exc, QuestionError | ConfigError):
        return 400
    if isinstance(exc, ModelError):
        return 502
    if isinstance(exc, StoreError):
        return 503
    return 400


def sse(events: Iterator[dict[str, Any]], *, done_marker: bool = False) -> StreamingResponse:
    """Server-Sent Events, one JSON object per event (and OpenAI's final ``[DONE]`` if asked)."""

    def encode() -> Iterator[str]:
        for event in events:
            yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
        if done_marker:
            yield "data: [DONE]\n\n"

    return StreamingResponse(encode(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _answer_events(
    assistant: Assistant, question: str, history: list[Message], **options: Any
) -> Iterator[dict[str, Any]]:
    """token events, then one answer event (or an error event); ``session`` extras are merged in."""
    extra = options.pop("extra", {})
    on_answer = options.pop("on_answer", None)
    try:
        for event in assistant.stream(question, history, **options):
            if isinstance(event, Answer):
                if on_answer:
                    on_answer(event)
                yield {"type": "answer", **event.to_dict(), **extra}
            else:
                yield {"type": "token", "text": event}
    except ConventionQAError as exc:
        yield {"type": "error", "status": error_status(exc), "message": str(exc)}


def api_router(factory: Factory, assistant: Assistant, sessions: SessionStore, guard: Any) -> APIRouter:
    settings = factory.settings
    store = assistant.retriever.store
    router = APIRouter(dependencies=[Depends(guard)])

    def options(k: int | None, language: str) -> dict[str, Any]:
        return {"k": k, "language": None if language == "auto" else language}

    def check_length(text: str) -> None:
        if len(text.strip()) > settings.max_question_chars:
            raise HTTPException(400, f"the question is longer than {settings.max_question_chars} characters")

    @router.post("/api/ask", response_model=AnswerOut, tags=["answers"], summary="Answer one question")
    def ask(body: AskRequest) -> Any:
        check_length(body.question)
        history: list[Message] = [m.model_dump() for m in body.history]
        if body.stream:
            return sse(_answer_events(assistant, body.question, history, **options(body.k, body.language)))
        return assistant.answer(body.question, history, **options(body.k, body.language)).to_dict()

    @router.post("/api/chat", response_model=ChatOut, tags=["answers"], summary="Chat; the server keeps the history")
    def chat(body: ChatRequest) -> Any:
        check_length(body.message)
        try:
            session_id, history = sessions.open(body.session_id)
        except UnknownSession:
            raise HTTPException(404, "unknown or expired session_id: omit it to start a new conversation") from None

        def remember(answer: Answer) -> None:
            sessions.append(session_id, body.message, answer.text)

        if body.stream:
            events = _answer_events(
                assistant,
                body.message,
                history,
                extra={"session_id": session_id},
                on_answer=remember,
                **options(body.k, body.language),
            )
            return sse(events)
        answer = assistant.answer(body.message, history, **options(body.k, body.language))
        remember(answer)
        return {**answer.to_dict(), "session_id": session_id}

    @router.get("/api/search", response_model=list[SearchHit], tags=["retrieval"], summary="Passages, no answer")
    def search(
        q: Annotated[str, Query(min_length=1, max_length=2000, description="The query.")],
        k: Annotated[int, Query(ge=1, le=50)] = 5,
    ) -> Any:
        if not q.strip():
            raise HTTPException(400, "the query is empty")
        return [
            {
                "chunk_id": p.id,
                "doc_id": p.doc_id,
                "title": str(p.meta.get("title", "")),
                "source": p.meta.get("source"),
                "text": p.text,
                "start": int(p.meta.get("start", 0)),
                "end": int(p.meta.get("end", 0)),
                "score": p.score,
                "dense": p.dense,
                "lexical": p.lexical,
            }
            for p in assistant.retriever.retrieve(q, k)
        ]

    @router.get("/api/documents", response_model=list[DocumentOut], tags=["documents"])
    def documents() -> Any:
        return [
            {
                "id": doc.doc_id,
                "title": str(doc.meta.get("title", doc.doc_id)),
                "chunks": len(doc.chunk_ids),
                **{k: doc.meta.get(k) for k in ("source", "language", "date", "path")},
            }
            for doc in sorted(store.documents().values(), key=lambda d: d.doc_id)
        ]

    @router.post("/api/documents", response_model=UploadOut, tags=["documents"], summary="Upload and index files")
    def upload(files: Annotated[list[UploadFile], File(description=".md .txt .html .pdf files")]) -> Any:
        limit = int(settings.max_file_mb * 1_000_000)
        payload = []
        for item in files:
            data = item.file.read(limit + 1)
            payload.append((item.filename or "upload", data))
        result = add_files(payload, settings, store, factory.embedder())
        status = 200 if result.saved else 400
        body = {
            "saved": result.saved,
            "rejected": [{"file": f.path, "error": f.error} for f in result.rejected],
            "chunks": result.report.chunks if result.report else None,
        }
        return JSONResponse(body, status_code=status)

    @router.delete("/api/documents/{doc_id:path}", status_code=204, tags=["documents"], summary="Remove an article")
    def delete(doc_id: str) -> None:
        from convention_qa.library import remove_document

        if not remove_document(doc_id, settings, store):
            raise HTTPException(404, f"no document with id {doc_id!r}: GET /api/documents lists them")

    return router


def install_error_handlers(app: FastAPI) -> None:
    """ConventionQAError anywhere in a route: a 4xx/5xx JSON error with the message as ``detail``."""

    async def known(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ConventionQAError)
        return JSONResponse({"detail": str(exc)}, status_code=error_status(exc))

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        # FastAPI's own handler echoes each bad value back, and fails (a 500) on the values that
        # are most likely to be bad: a lone surrogate cannot be encoded, NaN is not JSON. Say
        # where and what is wrong, never the value itself.
        assert isinstance(exc, RequestValidationError)
        detail = [
            {
                "loc": [part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
                "msg": str(error.get("msg", "invalid value")).encode("utf-8", "replace").decode("utf-8"),
                "type": str(error.get("type", "value_error")),
            }
            for error in exc.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    app.add_exception_handler(ConventionQAError, known)
    app.add_exception_handler(RequestValidationError, invalid)
