"""What every HTTP route shares: the status of each error, Server-Sent Events, the error handlers.

Each error type has its status on purpose (``STATUS``); a new ``ConventionQAError`` subclass
without one is caught by a test, not by falling through to a default.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from convention_qa.contract import Answer, Event, follow
from convention_qa.errors import (
    AccessError,
    ConfigError,
    ConventionQAError,
    ConversationError,
    DocumentError,
    EmbedderError,
    ModelError,
    NotFoundError,
    QuestionError,
    RequestError,
    StoreError,
)

__all__ = [
    "STATUS",
    "HttpMiddleware",
    "StartTracking",
    "answer_json",
    "answer_sse",
    "error_status",
    "install_error_handlers",
    "json_reply",
    "sse",
]

log = logging.getLogger(__name__)

STATUS: dict[type[ConventionQAError], int] = {
    AccessError: 401,  # a wrong or missing key: the request names no owner it may act for
    QuestionError: 400,  # the question as asked cannot be answered: empty, too long, k out of range
    DocumentError: 400,  # an uploaded file cannot be read
    RequestError: 400,  # the request itself is malformed (the proxy's user header twice)
    NotFoundError: 404,  # an unknown session, conversation or document
    ConfigError: 500,  # the server's own settings are wrong: not the caller's to fix
    EmbedderError: 503,  # the embedding model cannot be used right now
    StoreError: 503,  # the vector store is missing or unreachable
    ConversationError: 503,  # the conversation database cannot be reached or written right now
    ModelError: 502,  # the answer model (or its server) failed
}


def error_status(exc: ConventionQAError) -> int:
    """The HTTP status of an error (or of the nearest mapped type it derives from); 500, and a
    log line, for a type nobody mapped."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    log.error("no HTTP status mapped for %s; answering 500", type(exc).__name__)
    return 500


def answer_json(answer: Answer, **extra: Any) -> dict[str, Any]:
    """The Answer as the API sends it (the same shape as its response model)."""
    return {**answer.model_dump(mode="json", by_alias=True), **extra}


def sse(events: Iterator[dict[str, Any]], *, done_marker: bool = False) -> StreamingResponse:
    """Server-Sent Events, one JSON object per event (and OpenAI's final ``[DONE]`` if asked)."""

    def encode() -> Iterator[str]:
        for event in events:
            yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
        if done_marker:
            yield "data: [DONE]\n\n"

    return StreamingResponse(encode(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def answer_sse(events: Iterator[Event], finish: Callable[[Answer], dict[str, Any]] | None = None) -> StreamingResponse:
    """``stage`` events as the answer passes each stage, ``token`` events as it is written, then
    one ``answer`` event (or an ``error`` one).

    ``finish`` runs on the final answer (to store it, say) and adds its fields to the event.
    """

    def payloads() -> Iterator[dict[str, Any]]:
        try:
            for update in follow(events):
                if update.answer is not None:
                    extra = finish(update.answer) if finish else {}
                    yield {"type": "answer", **answer_json(update.answer, **extra)}
                elif update.stage:
                    yield {"type": "stage", "name": update.stage}
                else:
                    yield {"type": "token", "text": update.delta}
        except ConventionQAError as exc:
            yield {"type": "error", "status": error_status(exc), "message": str(exc)}
        except Exception:  # a bug: the client still learns the stream ended in an error
            log.exception("the answer stream failed")
            yield {"type": "error", "status": 500, "message": "the server failed while answering; try again"}

    return sse(payloads())


class HttpMiddleware:
    """An ASGI middleware that acts on the HTTP requests ``applies`` picks (``handle``); anything
    else (lifespan, websockets, other paths) passes through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.applies(scope):
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    def applies(self, scope: Scope) -> bool:
        return True

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class StartTracking:
    """An ASGI ``send`` that notes whether the response has started (after that, an error can no
    longer be answered with a status of its own)."""

    def __init__(self, send: Send) -> None:
        self.send, self.started = send, False

    async def __call__(self, message: Message) -> None:
        self.started = self.started or message["type"] == "http.response.start"
        await self.send(message)


async def json_reply(send: Send, status: int, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """A ``{"detail": ...}`` response sent straight from ASGI middleware (outside any route)."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


def install_error_handlers(app: FastAPI) -> None:
    """ConventionQAError anywhere in a route: its status, with the message as ``detail``."""

    async def known(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ConventionQAError)
        status = error_status(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

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
