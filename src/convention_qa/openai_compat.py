"""``/v1/chat/completions`` and ``/v1/models`` in the OpenAI wire format, so any OpenAI-compatible
client can chat with the corpus. Citations ride along in an extra ``citations`` field and as a
"Sources" list at the end of the content."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field, field_validator

from convention_qa.answering import Answer, Assistant, Message
from convention_qa.api import error_status, sse
from convention_qa.errors import ConventionQAError

__all__ = ["MODEL_ID", "openai_router"]

MODEL_ID = "convention-qa"


MAX_CONTENT_CHARS = 100_000  # of one message's text; the question itself has a smaller limit


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = Field(None, max_length=MAX_CONTENT_CHARS)

    @field_validator("content")
    @classmethod
    def _bounded(cls, value: str | list[dict[str, Any]] | None) -> str | list[dict[str, Any]] | None:
        if isinstance(value, list) and len(_text(value)) > MAX_CONTENT_CHARS:
            raise ValueError(f"a message's text may hold at most {MAX_CONTENT_CHARS} characters")
        return value


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # temperature, top_p, ... are accepted and ignored
    model: str = Field(MODEL_ID, max_length=200)
    messages: list[OpenAIMessage] = Field(min_length=1, max_length=100)
    stream: bool = False


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if part.get("type") == "text")
    return content or ""


def sources_block(answer: Answer) -> str:
    if not answer.citations:
        return ""
    lines = [f"[{c.n}] {c.title}" + (f" — {c.source}" if c.source else "") for c in answer.citations]
    return "\n\nSources:\n" + "\n".join(lines)


def _split(messages: list[OpenAIMessage]) -> tuple[str, list[Message]]:
    turns = [(m.role, _text(m.content)) for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user" or not turns[-1][1].strip():
        raise HTTPException(400, "the last message must be a non-empty user message: the question")
    history: list[Message] = [{"role": role, "content": text} for role, text in turns[:-1]]
    return turns[-1][1], history


def openai_router(assistant: Assistant, guard: Any) -> APIRouter:
    router = APIRouter(prefix="/v1", dependencies=[Depends(guard)], tags=["openai-compatible"])

    @router.get("/models")
    def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "convention-qa"}],
        }

    @router.post("/chat/completions")
    def completions(body: CompletionRequest) -> Any:
        question, history = _split(body.messages)
        ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if body.stream:
            return sse(_chunks(assistant, question, history, ident, created, body.model), done_marker=True)
        answer = assistant.answer(question, history)
        return {
            "id": ident,
            "object": "chat.completion",
            "created": created,
            "model": body.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text + sources_block(answer)},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "citations": [c.to_dict() for c in answer.citations],
            "abstained": answer.abstained,
        }

    return router


def _chunks(
    assistant: Assistant, question: str, history: list[Message], ident: str, created: int, model: str
) -> Iterator[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        return {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }

    yield chunk({"role": "assistant", "content": ""})
    streamed = ""
    try:
        for event in assistant.stream(question, history):
            if isinstance(event, Answer):
                # what was streamed may differ from the final text (cleaned markers, abstention)
                tail = event.text[len(streamed) :] if event.text.startswith(streamed) else "\n\n" + event.text
                yield chunk({"content": tail + sources_block(event)})
                yield chunk({}, "stop", citations=[c.to_dict() for c in event.citations], abstained=event.abstained)
            else:
                streamed += event
                yield chunk({"content": event})
    except ConventionQAError as exc:
        yield {"error": {"message": str(exc), "code": error_status(exc)}}
