"""Every call that runs one of the chat UI's handlers is checked before Gradio runs it.

Gradio runs a handler from five routes: the page's own ``/gradio_api/queue/join`` (by
``fn_index``) and the public API's ``/gradio_api/run/NAME``, ``/api/NAME``, ``/call/NAME`` and
``/call/v2/NAME`` (by name, or by a ``fn_index`` in the body). Here:

- by name, only the public API is reachable (``/ask``, ``/add_files``; ``/gradio_api/info``
  lists it): the page's own handlers are a 404, whatever ``fn_index`` the body names;
- every call, the page's too, has its arguments checked against what the handler's input
  components can send (``ENDPOINTS``, made from the Blocks, so a new handler is covered the
  moment it is wired): wrong arguments are a 422 that says which one, never a 500 or a traceback
  from deep inside a handler.

Gradio hands a call's ``data`` list to the handler as it came; only the handler would find out
that ``k`` is NaN, a conversation id is a list or a text holds a lone surrogate.

A Gradio session hash is the page's channel: whoever names it can read the stream of answers
sent on it (``/gradio_api/queue/data?session_hash=...``), cancel its jobs or share its state, and
it is chosen by the client and shows up in access logs. ``SessionOwners`` binds each hash to the
owner that first used it (told from the request's cookie or key, never from the hash), and every
route that names a hash is refused (403) to anyone else. Browsers that keep no cookies share one
binding: they have no owner to tell apart.
"""

from __future__ import annotations

import inspect
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from convention_qa.config import MAX_HISTORY_MESSAGES, MAX_K, MAX_MESSAGE_CHARS
from convention_qa.web.transport import HttpMiddleware, StartTracking, json_reply

__all__ = ["PUBLIC", "Endpoint", "SessionOwners", "UICallErrors", "UICalls", "endpoints"]

_UI_HISTORY_MESSAGES = 2000  # what a long chat in one tab may hold (the answer reads only the last few)
_ID = r"^[A-Za-z0-9_-]{1,64}$"  # a conversation or answer id, as the store makes them


def _encodable(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid text (it holds a lone surrogate)") from None
    return text


_Text = Annotated[StrictStr, Field(max_length=MAX_MESSAGE_CHARS), AfterValidator(_encodable)]
_Id = Annotated[StrictStr, Field(pattern=_ID)]


class _HistoryItem(BaseModel):
    model_config = ConfigDict(extra="allow")  # Gradio adds metadata and options

    role: Literal["user", "assistant"]
    content: _Text | list[Any] | dict[str, Any] | None = None


_K = Annotated[StrictInt | StrictFloat, Field(ge=1, le=MAX_K, allow_inf_nan=False)]

# The public API's arguments, in order (its handlers take API values, not components').
PUBLIC: dict[str, tuple[tuple[str, Any], ...]] = {
    "ask": (
        ("message", _Text),
        ("history", Annotated[list[_HistoryItem] | None, Field(max_length=MAX_HISTORY_MESSAGES)]),
        ("k", _K),
        ("language", Literal["auto", "id", "en", "vi"]),
    ),
    "add_files": (("files", list[dict[str, Any]] | None),),
}


class _LikeEvent(BaseModel):
    """What the page sends with a like or dislike (Gradio's ``LikeData``)."""

    model_config = ConfigDict(extra="allow")

    index: StrictInt | tuple[StrictInt, StrictInt]
    value: Any = None
    liked: StrictBool | StrictStr | None = True


def _value_type(component: Any) -> Any:
    """What the page may send for this input component; TypeError for a kind not described here
    (a new kind of input needs a line here before it can be wired)."""
    import gradio as gr

    kinds: list[tuple[type, Any]] = [
        (gr.BrowserState, _Id | None),  # the open conversation's id, kept in the browser
        (gr.State, Any),  # Gradio keeps State on the server and ignores what is sent
        (gr.Textbox, _Text | None),
        (gr.Chatbot, Annotated[list[_HistoryItem], Field(max_length=_UI_HISTORY_MESSAGES)] | None),
        (gr.Checkbox, StrictBool | None),
        (gr.Radio, _Id | None),  # the past conversations' ids
        # A dropdown's choices can change per browser (gr.update): Gradio checks the value is one.
        (gr.Dropdown, _Text | list[_Text] | None),
        (gr.File, list[dict[str, Any]] | dict[str, Any] | None),
    ]
    for kind, value in kinds:
        if isinstance(component, kind):
            return value
    if isinstance(component, gr.Slider):
        bounds = Field(ge=component.minimum, le=component.maximum, allow_inf_nan=False)
        return Annotated[StrictInt | StrictFloat, bounds]
    if isinstance(component, gr.Dataset):
        return Annotated[StrictInt, Field(ge=0, lt=max(1, len(component.raw_samples)))] | None
    raise TypeError(f"ui_calls: no argument check for a {type(component).__name__} input; describe it in _value_type")


@dataclass(frozen=True)
class Endpoint:
    """One registered handler: how the page calls it and what it may be sent."""

    index: int
    name: str | None
    public: bool
    arguments: tuple[tuple[str, TypeAdapter[Any]], ...]  # (parameter name, the values it takes), in order
    event: type[BaseModel] | None = None  # what the event data must hold, for handlers that read it

    def problem(self, data: Any, event_data: Any) -> str | None:
        """What is wrong with a call's ``data`` (and event data), or None when it may run."""
        label = f"/{self.name}" if self.public else f"the page's {self.name or self.index} handler"
        if not isinstance(data, list):
            return f"{label}: data must be a list of {len(self.arguments)} values"
        if len(data) != len(self.arguments):
            return f"{label} takes {len(self.arguments)} values, got {len(data)}"
        for (name, kind), value in zip(self.arguments, data, strict=True):
            try:
                kind.validate_python(value)
            except ValidationError as exc:
                error = exc.errors()[0]
                inside = ".".join(str(p) for p in error.get("loc", ()))
                return f"{label}: {name}{f' ({inside})' if inside else ''}: {error.get('msg')}"
        if self.event is not None:
            try:
                self.event.model_validate(event_data)
            except ValidationError as exc:
                return f"{label}: event_data: {exc.errors()[0].get('msg')}"
        return None


def endpoints(demo: Any) -> dict[int, Endpoint]:
    """Every handler the Blocks registered, by ``fn_index``. A public handler without a line in
    ``PUBLIC`` is a TypeError: nothing reaches the API unchecked."""
    found: dict[int, Endpoint] = {}
    fns = demo.fns if isinstance(demo.fns, dict) else dict(enumerate(demo.fns))
    for index, fn in fns.items():
        public = fn.api_visibility == "public"
        if public:
            if fn.api_name not in PUBLIC:
                raise TypeError(f"ui_calls: the public endpoint /{fn.api_name} has no argument check in PUBLIC")
            kinds = PUBLIC[fn.api_name]
        else:
            names = [p for p in inspect.signature(fn.fn).parameters if p not in {"self", "request"}] if fn.fn else []
            kinds = tuple(
                (names[i] if i < len(names) else f"input {i}", _value_type(c)) for i, c in enumerate(fn.inputs)
            )
        arguments = tuple((name, TypeAdapter(kind)) for name, kind in kinds)
        event = _LikeEvent if any(t[1] == "like" for t in fn.targets) else None
        found[int(index)] = Endpoint(int(index), fn.api_name, public, arguments, event)
    return found


class SessionOwners:
    """Each Gradio session hash -> the owner that first used it (``owner_of`` tells a request's:
    an owner id, or one shared name for browsers without cookies). The newest ``capacity`` hashes
    are kept, each for ``idle_seconds`` after its last use."""

    def __init__(
        self, owner_of: Callable[[Scope], str], capacity: int = 100_000, idle_seconds: float = 24 * 3600
    ) -> None:
        self.owner_of = owner_of
        self.capacity, self.idle_seconds = capacity, idle_seconds
        self._bound: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def admits(self, scope: Scope, session_hash: str) -> bool:
        """Whether this request may use this session hash (binding it if it is new)."""
        owner, now = self.owner_of(scope), time.monotonic()
        with self._lock:
            bound = self._bound.get(session_hash)
            if bound is not None and now - bound[1] < self.idle_seconds and bound[0] != owner:
                return False
            self._bound[session_hash] = (owner, now)
            self._bound.move_to_end(session_hash)
            while len(self._bound) > self.capacity:
                self._bound.popitem(last=False)
        return True


class _Call(BaseModel):
    model_config = ConfigDict(extra="allow")

    data: Any = None
    fn_index: StrictInt | None = None
    event_data: Any = None
    session_hash: StrictStr | None = None


_NAMED = ("/gradio_api/run/", "/gradio_api/api/", "/gradio_api/call/v2/", "/gradio_api/call/")
_JOIN = "/gradio_api/queue/join"
_SESSION_BODY = {"/gradio_api/cancel", "/gradio_api/reset"}  # POST bodies that name a session hash
_LISTEN = "/gradio_api/queue/data"
_HEARTBEAT = "/gradio_api/heartbeat/"
_REFUSED = "this page session belongs to another browser or sign-in: reload the page"


def _route(scope: Scope) -> tuple[str, str | None] | None:
    """("join", None) for the page's queue, ("named", NAME) for the API's routes, ("session",
    None) for the other POSTs naming a session hash, ("listen", HASH) for the GETs that name one;
    None otherwise."""
    if scope["type"] != "http":
        return None
    path = str(scope.get("path", "")).rstrip("/")
    if scope.get("method") == "GET":
        if path == _LISTEN:
            query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
            return "listen", (query.get("session_hash") or [""])[0]
        if path.startswith(_HEARTBEAT):
            return "listen", path[len(_HEARTBEAT) :]
        return None
    if scope.get("method") != "POST":
        return None
    if path == _JOIN:
        return "join", None
    if path in _SESSION_BODY:
        return "session", None
    for prefix in _NAMED:
        if path.startswith(prefix) and "/" not in path[len(prefix) :]:
            return "named", path[len(prefix) :]
    return None


class UICalls(HttpMiddleware):
    """Checks each call of a UI handler against its ``Endpoint``, and each use of a session hash
    against ``sessions``, before Gradio sees it."""

    def __init__(self, app: ASGIApp, endpoints: dict[int, Endpoint], sessions: SessionOwners | None = None) -> None:
        super().__init__(app)
        self.endpoints = endpoints
        self.public = {e.name: e for e in self.endpoints.values() if e.public and e.name}
        self.sessions = sessions

    def applies(self, scope: Scope) -> bool:
        return _route(scope) is not None

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _route(scope)
        assert route is not None
        if route[0] == "listen":
            if self.sessions is not None and route[1] and not self.sessions.admits(scope, route[1]):
                await json_reply(send, 403, _REFUSED)
                return
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        status, problem = self._check(scope, route, body)
        if problem is not None:
            await json_reply(send, status, problem)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _check(self, scope: Scope, route: tuple[str, str | None], body: bytes) -> tuple[int, str | None]:
        kind, name = route
        try:
            call = _Call.model_validate(json.loads(body or b"null", parse_constant=lambda _: math.nan))
        except (ValueError, ValidationError):
            return 422, 'malformed call to the UI\'s API: the body must be a JSON object {"data": [...]}'
        if call.session_hash and self.sessions is not None and not self.sessions.admits(scope, call.session_hash):
            return 403, _REFUSED
        if kind == "session":
            return 200, None
        if kind == "named":
            endpoint = self.public.get(name or "")
            if endpoint is None or (call.fn_index is not None and call.fn_index != endpoint.index):
                listed = ", ".join(f"/{n}" for n in sorted(self.public))
                return 404, f"no such endpoint in the UI's API: it has {listed} (GET /gradio_api/info describes them)"
        else:
            endpoint = self.endpoints.get(call.fn_index) if call.fn_index is not None else None
            if endpoint is None:
                return 404, "no such handler: fn_index must be one the page was given (GET /config)"
        problem = endpoint.problem(call.data, call.event_data)
        return (422, f"malformed call to the UI's API: {problem}") if problem else (200, None)


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
