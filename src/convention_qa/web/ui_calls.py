"""Calls to the chat UI's public API (``/gradio_api/run/NAME``, ``/gradio_api/call/NAME``,
what gradio_client sends) are checked before Gradio runs them: wrong arguments are a 422 that
says which one, not a 500 from deep inside a handler.

Gradio hands a call's ``data`` list to the handler as it came; only the handler would find out
that ``k`` is NaN or a history item is a number. The schemas here are the handlers' signatures.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, TypeAdapter, ValidationError
from starlette.types import Message, Receive, Scope, Send

from convention_qa.config import MAX_HISTORY_MESSAGES, MAX_K, MAX_MESSAGE_CHARS
from convention_qa.web.transport import HttpMiddleware, StartTracking, json_reply

__all__ = ["UICallArguments", "UICallErrors"]


class _HistoryItem(BaseModel):
    model_config = ConfigDict(extra="allow")  # Gradio adds metadata and options

    role: Literal["user", "assistant"]
    content: StrictStr | list[Any] | dict[str, Any] | None = None


_K = Annotated[StrictInt | StrictFloat, Field(ge=1, le=MAX_K, allow_inf_nan=False)]

# Each public endpoint's arguments, in order.
SCHEMAS: dict[str, TypeAdapter[Any]] = {
    "ask": TypeAdapter(
        tuple[
            Annotated[StrictStr, Field(max_length=MAX_MESSAGE_CHARS)],
            Annotated[list[_HistoryItem] | None, Field(max_length=MAX_HISTORY_MESSAGES)],
            _K,
            Literal["auto", "id", "en", "vi"],
        ]
    ),
    "add_files": TypeAdapter(tuple[list[dict[str, Any]] | None]),
}
_NAMES = {0: "message", 1: "history", 2: "k", 3: "language"}


class _Call(BaseModel):
    model_config = ConfigDict(extra="allow")

    data: list[Any]


def _problem(name: str, body: bytes) -> str | None:
    """What is wrong with a call's body, or None when it may run."""
    try:
        parsed = json.loads(body or b"null", parse_constant=lambda _: math.nan)
        call = _Call.model_validate(parsed)
    except (ValueError, ValidationError):
        return 'the body must be a JSON object {"data": [...]} (see /gradio_api/info)'
    arity = len(SCHEMAS[name].core_schema["items_schema"])
    if len(call.data) != arity:
        return f"/{name} takes {arity} values, got {len(call.data)}"
    try:
        SCHEMAS[name].validate_python(tuple(call.data))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = error.get("loc", ())
        argument = _NAMES.get(int(where[0]), str(where[0])) if name == "ask" and where else "data"
        inside = ".".join(str(p) for p in where[1:])
        return f"/{name}: {argument}{f' ({inside})' if inside else ''}: {error.get('msg')}"
    return None


class UICallArguments(HttpMiddleware):
    """Checks a public UI API call's arguments against ``SCHEMAS`` before Gradio sees it."""

    def applies(self, scope: Scope) -> bool:
        return _endpoint(scope) is not None

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = _endpoint(scope)
        assert name is not None
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        problem = _problem(name, body)
        if problem is not None:
            await json_reply(send, 422, f"malformed call to the UI's API: {problem}")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _endpoint(scope: Scope) -> str | None:
    """The public endpoint a POST calls (``ask``), or None for everything else."""
    if scope["type"] != "http" or scope.get("method") != "POST":
        return None
    path = str(scope.get("path", "")).rstrip("/")
    for prefix in ("/gradio_api/run/", "/gradio_api/call/v2/", "/gradio_api/call/"):
        if path.startswith(prefix):
            name = path[len(prefix) :]
            return name if name in SCHEMAS else None
    return None


class UICallErrors(HttpMiddleware):
    """A call to Gradio's own API (/gradio_api/...) with the wrong arguments is a 400, not a 500.

    Gradio checks a call's arguments by raising TypeError, ValueError or KeyError from inside
    its routes; before any response is sent, such an error is the caller's mistake.
    """

    def applies(self, scope: Scope) -> bool:
        return str(scope.get("path", "")).startswith("/gradio_api/")

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracked = StartTracking(send)
        try:
            await self.app(scope, receive, tracked)
        except (TypeError, ValueError, KeyError) as exc:
            if tracked.started:
                raise
            detail = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            await json_reply(send, 400, f"malformed call to the UI's API: {detail}")
