"""The HTTP API: ask, chat, search, documents, health. Routes only: answers come from the
Assistant, errors become statuses in ``transport``, collaborators come through ``deps``.

Every error the user can fix is a 4xx whose ``detail`` is the same message the CLI prints.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, HTTPException, Query, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from convention_qa.answering import Answer, AnswerRequest
from convention_qa.config import MAX_HISTORY_MESSAGES, MAX_K, MAX_MESSAGE_CHARS
from convention_qa.contract import Event, Final, Message, Passage
from convention_qa.deps import AssistantDep, FactoryDep, SessionsDep, SettingsDep, StoreDep, require_key
from convention_qa.library import add_files, remove_document
from convention_qa.transport import answer_sse

__all__ = ["ChatAnswer", "router", "service_router"]

log = logging.getLogger(__name__)

Language = Literal["auto", "id", "en", "vi"]
MAX_QUERY_CHARS = 2000  # of a search query


class ChatMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_MESSAGE_CHARS)


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS, description="The question.")
    history: list[ChatMessage] = Field(
        default_factory=list, max_length=MAX_HISTORY_MESSAGES, description="Earlier turns."
    )
    k: int | None = Field(None, ge=1, le=MAX_K, description="Passages to retrieve.")
    language: Language = Field("auto", description="Answer language; auto = the question's.")
    stream: bool = Field(False, description="Server-Sent Events: token events, then an answer event.")


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    session_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    k: int | None = Field(None, ge=1, le=MAX_K)
    language: Language = "auto"
    stream: bool = False


class ChatAnswer(Answer):
    session_id: str


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


def _answer_language(language: Language) -> str | None:
    return None if language == "auto" else language


router = APIRouter(dependencies=[Depends(require_key)])
service_router = APIRouter(tags=["service"])


@router.post("/api/ask", response_model=Answer, tags=["answers"], summary="Answer one question")
def ask(body: AskRequest, assistant: AssistantDep) -> Any:
    history: list[Message] = [m.model_dump() for m in body.history]
    request = assistant.request(body.question, history, k=body.k, language=_answer_language(body.language))
    if body.stream:
        return answer_sse(assistant.stream(request))
    return assistant.answer(request)


@router.post("/api/chat", response_model=ChatAnswer, tags=["answers"], summary="Chat; the server keeps the history")
def chat(body: ChatRequest, assistant: AssistantDep, sessions: SessionsDep) -> Any:
    session_id, history = sessions.open(body.session_id)
    request = assistant.request(body.message, history, k=body.k, language=_answer_language(body.language))

    def remembered(request: AnswerRequest) -> Iterator[Event]:
        for event in assistant.stream(request):
            if isinstance(event, Final):
                sessions.append(session_id, body.message, event.answer.text)
            yield event

    if body.stream:
        return answer_sse(remembered(request), session_id=session_id)
    answer = assistant.answer(request)
    sessions.append(session_id, body.message, answer.text)
    return ChatAnswer(**dict(answer), session_id=session_id)


@router.get("/api/search", response_model=list[Passage], tags=["retrieval"], summary="Passages, no answer")
def search(
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="The query.")],
    assistant: AssistantDep,
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 5,
) -> Any:
    if not q.strip():
        raise HTTPException(400, "the query is empty")
    return assistant.retriever.retrieve(q, k)


@router.get("/api/documents", response_model=list[DocumentOut], tags=["documents"])
def documents(store: StoreDep) -> Any:
    return [
        DocumentOut(
            id=doc.doc_id,
            title=doc.meta.title or doc.doc_id,
            source=doc.meta.source,
            language=doc.meta.language,
            date=doc.meta.date,
            path=doc.meta.path,
            chunks=len(doc.chunk_ids),
        )
        for doc in sorted(store.documents().values(), key=lambda d: d.doc_id)
    ]


@router.post("/api/documents", response_model=UploadOut, tags=["documents"], summary="Upload and index files")
def upload(
    files: Annotated[list[UploadFile], File(description=".md .txt .html .pdf files")],
    factory: FactoryDep,
    settings: SettingsDep,
    store: StoreDep,
) -> Any:
    payload = [(item.filename or "upload", item.file.read(settings.max_file_bytes + 1)) for item in files]
    result = add_files(payload, settings, store, factory.embedder())
    body = UploadOut(
        saved=result.saved,
        rejected=[{"file": f.path, "error": f.error} for f in result.rejected],
        chunks=result.report.chunks if result.report else None,
    )
    return JSONResponse(body.model_dump(), status_code=200 if result.saved else 400)


@router.delete("/api/documents/{doc_id:path}", status_code=204, tags=["documents"], summary="Remove an article")
def delete(doc_id: str, settings: SettingsDep, store: StoreDep) -> None:
    if not remove_document(doc_id, settings, store):
        raise HTTPException(404, f"no document with id {doc_id!r}: GET /api/documents lists them")


@service_router.get("/health", summary="Index and backends")
def health(assistant: AssistantDep, settings: SettingsDep, sessions: SessionsDep) -> dict[str, Any]:
    store = assistant.retriever.store
    return {
        "status": "ok",
        "index_loaded": True,
        "chunks": store.count(),
        "embedder": store.embedder_id,
        "llm": "extractive" if assistant.chat_model is None else settings.llm,
        "store": f"server {settings.chroma_host}:{settings.chroma_port}" if settings.chroma_host else "embedded",
        "sessions": len(sessions),
    }
