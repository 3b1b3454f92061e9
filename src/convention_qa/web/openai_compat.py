"""``/v1/chat/completions`` and ``/v1/models`` in the OpenAI wire format, so any OpenAI-compatible
client can chat with the corpus. Citations ride along in an extra ``citations`` field and as a
"Sources" list at the end of the content."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from convention_qa.config import MAX_MESSAGE_CHARS
from convention_qa.contract import Answer, Citation, Event, Message, follow
from convention_qa.errors import ConventionQAError
from convention_qa.web.deps import AssistantDep, require_owner
from convention_qa.web.transport import error_status, sse

__all__ = ["MODEL_ID", "router"]

MODEL_ID = "convention-qa"
_CITATIONS = TypeAdapter(list[Citation])


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = Field(None, max_length=MAX_MESSAGE_CHARS)

    @field_validator("content")
    @classmethod
    def _bounded(cls, value: str | list[dict[str, Any]] | None) -> str | list[dict[str, Any]] | None:
        if isinstance(value, list) and len(_text(value)) > MAX_MESSAGE_CHARS:
            raise ValueError(f"a message's text may hold at most {MAX_MESSAGE_CHARS} characters")
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


def _citations(answer: Answer) -> list[Any]:
    return list(_CITATIONS.dump_python(answer.citations, mode="json"))


def _split(messages: list[OpenAIMessage]) -> tuple[str, list[Message]]:
    turns = [(m.role, _text(m.content)) for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user" or not turns[-1][1].strip():
        raise HTTPException(400, "the last message must be a non-empty user message: the question")
    history: list[Message] = [{"role": role, "content": text} for role, text in turns[:-1]]
    return turns[-1][1], history


router = APIRouter(prefix="/v1", dependencies=[Depends(require_owner)], tags=["openai-compatible"])


@router.get("/models")
def models() -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "convention-qa"}],
    }


@router.post("/chat/completions")
def completions(body: CompletionRequest, assistant: AssistantDep) -> Any:
    question, history = _split(body.messages)
    request = assistant.request(question, history)
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if body.stream:
        return sse(_chunks(assistant.stream(request), ident, created, body.model), done_marker=True)
    answer = assistant.answer(request)
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
        "citations": _citations(answer),
        "abstained": answer.abstained,
    }


def _chunks(events: Iterator[Event], ident: str, created: int, model: str) -> Iterator[dict[str, Any]]:
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
    try:
        for update in follow(events):
            if update.stage:
                continue  # the protocol has no progress events
            if update.answer is None:
                yield chunk({"content": update.delta})
                continue
            # content only grows in this protocol: a final text that does not continue what was
            # streamed (an abstention, a replaced answer) follows it after a blank line
            tail = "\n\n" + update.text if update.replaced else update.delta
            yield chunk({"content": tail + sources_block(update.answer)})
            yield chunk({}, "stop", citations=_citations(update.answer), abstained=update.answer.abstained)
    except ConventionQAError as exc:
        yield {"error": {"message": str(exc), "code": error_status(exc)}}
