"""The HTTP API: ask, chat, search, documents, health. Routes only: answers come from the
Assistant, errors become statuses in ``transport``, collaborators come through ``deps``.

Every error the user can fix is a 4xx whose ``detail`` is the same message the CLI prints.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, HTTPException, Path, Query, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from convention_qa.config import MAX_FEEDBACK_CHARS, MAX_HISTORY_MESSAGES, MAX_K, MAX_MESSAGE_CHARS, MAX_SEARCH_CHARS
from convention_qa.contract import Answer, Message, Passage
from convention_qa.conversations.export import ExportFormat, export_conversation, export_filename
from convention_qa.conversations.records import ConversationSummary, FeedbackRecord, Rating, TurnRecord
from convention_qa.corpus.uploads import add_files, remove_document
from convention_qa.errors import ConversationError, NotFoundError
from convention_qa.factory import backend_name
from convention_qa.text import visible
from convention_qa.web.deps import (
    AssistantDep,
    ChatDep,
    ConversationsDep,
    FactoryDep,
    OwnerDep,
    SessionsDep,
    SettingsDep,
    StoreDep,
    require_owner,
)
from convention_qa.web.transport import answer_sse

__all__ = ["ChatAnswer", "router", "service_router"]

log = logging.getLogger(__name__)

Language = Literal["auto", "id", "en", "vi"]


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
    session_id: str = Field(description="Send it back to continue the conversation.")
    answer_id: str | None = Field(
        default=None, description="Rate the answer with POST /api/feedback (None when conversations are not stored)."
    )


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer_id: str = Field(min_length=1, max_length=64, description="From /api/chat's answer_id.")
    rating: Rating
    comment: str | None = Field(None, max_length=MAX_FEEDBACK_CHARS)
    correction: str | None = Field(None, max_length=MAX_FEEDBACK_CHARS, description="The right answer.")
    not_in_articles: bool = Field(False, description="The articles do not hold the answer.")

    @model_validator(mode="after")
    def _consistent(self) -> FeedbackRequest:
        if self.correction is not None and not visible(self.correction):
            raise ValueError("the correction is blank: give the right answer, or leave correction out")
        if self.comment is not None and not visible(self.comment):
            self.comment = None
        if self.rating == "up" and (self.correction or self.not_in_articles):
            raise ValueError("a correction or not_in_articles goes with rating 'down'")
        if self.correction and self.not_in_articles:
            raise ValueError("give either a correction or not_in_articles, not both")
        return self


class ConversationOut(BaseModel):
    conversation: ConversationSummary
    turns: list[TurnRecord]


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


router = APIRouter(dependencies=[Depends(require_owner)])
service_router = APIRouter(tags=["service"])


@router.post("/api/ask", response_model=Answer, tags=["answers"], summary="Answer one question")
def ask(body: AskRequest, assistant: AssistantDep) -> Any:
    history: list[Message] = [m.model_dump() for m in body.history]
    request = assistant.request(body.question, history, k=body.k, language=_answer_language(body.language))
    if body.stream:
        return answer_sse(assistant.stream(request))
    return assistant.answer(request)


@router.post("/api/chat", response_model=ChatAnswer, tags=["answers"], summary="Chat; the server keeps the history")
def chat(body: ChatRequest, chat: ChatDep, owner: OwnerDep) -> Any:
    turn = chat.turn(
        body.message, owner, conversation_id=body.session_id, k=body.k, language=_answer_language(body.language)
    )

    def kept(answer: Answer) -> dict[str, Any]:
        if turn.unsaved:  # the client asked for a conversation it could continue: say it was not kept
            raise ConversationError(f"the answer could not be kept: {turn.unsaved}")
        return {"session_id": turn.conversation_id, "answer_id": turn.answer_id}

    if body.stream:
        return answer_sse(chat.stream(turn), kept)
    answer = chat.answer(turn)
    return ChatAnswer(**dict(answer), **kept(answer))


@router.get(
    "/api/conversations",
    response_model=list[ConversationSummary],
    tags=["conversations"],
    summary="Stored conversations, most recent first",
)
def conversations(
    store: ConversationsDep,
    owner: OwnerDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    return store.summaries(owner, limit, offset)


@router.get(
    "/api/conversations/{conversation_id}",
    response_model=ConversationOut,
    tags=["conversations"],
    summary="One conversation: its questions, answers with citations, configuration and feedback",
)
def conversation(conversation_id: Annotated[str, Path(max_length=64)], store: ConversationsDep, owner: OwnerDep) -> Any:
    summary, turns = store.get(conversation_id, owner)
    return ConversationOut(conversation=summary, turns=turns)


@router.get(
    "/api/conversations/{conversation_id}/export",
    tags=["conversations"],
    summary="Download a conversation: Markdown (questions, answers, cited passages) or JSON",
    response_class=Response,
)
def export(
    conversation_id: Annotated[str, Path(max_length=64)],
    store: ConversationsDep,
    owner: OwnerDep,
    format: Annotated[ExportFormat, Query(description="md or json")] = "md",
) -> Response:
    summary, turns = store.get(conversation_id, owner)
    media = "application/json" if format == "json" else "text/markdown; charset=utf-8"
    disposition = f'attachment; filename="{export_filename(summary, format)}"'
    return Response(
        export_conversation(summary, turns, format), media_type=media, headers={"Content-Disposition": disposition}
    )


@router.delete(
    "/api/conversations/{conversation_id}",
    status_code=204,
    tags=["conversations"],
    summary="Remove a conversation with its answers and their feedback",
)
def delete_conversation(
    conversation_id: Annotated[str, Path(max_length=64)], store: ConversationsDep, owner: OwnerDep
) -> None:
    if not store.delete(conversation_id, owner):
        raise NotFoundError(f"no conversation with id {conversation_id!r}: GET /api/conversations lists them")


@router.post("/api/feedback", response_model=FeedbackRecord, tags=["conversations"], summary="Rate an answer")
def feedback(body: FeedbackRequest, store: ConversationsDep, owner: OwnerDep) -> Any:
    return store.rate(
        body.answer_id,
        body.rating,
        owner,
        comment=body.comment,
        correction=body.correction,
        not_in_articles=body.not_in_articles,
    )


@router.get(
    "/api/feedback/stats",
    tags=["conversations"],
    summary="Your rated answers per rating, per article cited and per week (the admin key: everyone's)",
)
def feedback_stats(store: ConversationsDep, owner: OwnerDep) -> dict[str, dict[str, int]]:
    from convention_qa.evaluation.feedback import feedback_stats as count

    return count(store.rated(owner))


@router.get(
    "/api/feedback/export",
    response_class=Response,
    tags=["conversations"],
    summary="Your rated answers as a question set `convention-qa eval` runs (YAML; the admin key: everyone's)",
)
def feedback_export(
    store: ConversationsDep, owner: OwnerDep, rating: Literal["down", "up", "all"] = "down"
) -> Response:
    import yaml

    from convention_qa.evaluation.feedback import feedback_questions

    questions, _ = feedback_questions(store.rated(owner, None if rating == "all" else rating))
    text = yaml.safe_dump(questions, allow_unicode=True, sort_keys=False, width=100)
    return Response(
        text, media_type="application/yaml", headers={"Content-Disposition": 'attachment; filename="feedback.yaml"'}
    )


@router.get("/api/search", response_model=list[Passage], tags=["retrieval"], summary="Passages, no answer")
def search(
    q: Annotated[str, Query(min_length=1, max_length=MAX_SEARCH_CHARS, description="The query.")],
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
        shown = doc_id if len(doc_id) <= 80 else f"{doc_id[:80]}… ({len(doc_id)} characters)"
        raise HTTPException(404, f"no document with id {shown!r}: GET /api/documents lists them")


@service_router.get("/health", summary="Index and backends")
def health(assistant: AssistantDep, settings: SettingsDep, sessions: SessionsDep) -> dict[str, Any]:
    store = assistant.retriever.store
    return {
        "status": "ok",
        "index_loaded": True,
        "chunks": store.count(),
        "embedder": store.embedder_id,
        "llm": backend_name(settings, assistant),
        "store": f"server {settings.chroma_host}:{settings.chroma_port}" if settings.chroma_host else "embedded",
        "sessions": len(sessions),
        "conversations": "stored" if settings.conversations else "off",
    }
