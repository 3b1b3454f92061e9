"""One web server: the HTTP API with the Gradio chat mounted on it. Built from settings at the entry point."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import threading
from pathlib import Path
from types import FrameType

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from fastapi import FastAPI, Request
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from convention_qa.config import Settings
from convention_qa.conversations.memory import InMemoryChats
from convention_qa.corpus.ingest import ingest, ingest_lock
from convention_qa.corpus.progress import Progress
from convention_qa.corpus.uploads import UploadResult, add_files
from convention_qa.errors import ConventionQAError
from convention_qa.factory import Factory, exchanges_for
from convention_qa.web import api, openai_compat, signin
from convention_qa.web.identity import Identities, OneUserHeader, OwnerCookie, Signer
from convention_qa.web.signin import SignInFirst
from convention_qa.web.transport import HttpMiddleware, StartTracking, install_error_handlers, json_reply
from convention_qa.web.ui_calls import SessionOwners, UICallErrors, UICalls, endpoints

__all__ = ["create_app", "ensure_index", "run"]

log = logging.getLogger(__name__)

SHUTDOWN_SECONDS = 3


RESTARTING = "the server is restarting: try again in a few seconds"
STOPPING = threading.Event()  # set on SIGTERM / SIGINT


class Draining(HttpMiddleware):
    """When the server stops (SIGTERM), requests still running at the end of the grace period are
    cancelled: each gets a 503 with Retry-After, which a client can act on, not a 500."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracked = StartTracking(send)
        try:
            await self.app(scope, receive, tracked)
        except asyncio.CancelledError:
            if not tracked.started:
                with contextlib.suppress(Exception):  # the connection may be gone already
                    await json_reply(send, 503, RESTARTING, ((b"retry-after", b"5"),))
            raise


class BodyLimit(HttpMiddleware):
    """Refuse request bodies over ``limit`` bytes with 413, whether or not they announce their size."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        super().__init__(app)
        self.limit = limit

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen, started, refused = 0, False, False

        async def counted() -> Message:
            # Over the limit, the app is told the client left, and the 413 is sent from here: an
            # exception raised into the app would come out as whatever status its body parser
            # gives a broken body (a 400 from the multipart parser).
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                refused = True
                if not started:
                    await self._refuse(send)
                return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the app's own reply to a body it never got whole
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, guarded)

    async def _refuse(self, send: Send) -> None:
        await json_reply(send, 413, f"request body over the {self.limit // 1_000_000} MB limit")


def create_app(factory: Factory) -> FastAPI:
    """The app for these collaborators; the index must exist (see ``ensure_index``)."""
    import gradio as gr

    from convention_qa.web.ui import Services, build_ui
    from convention_qa.web.ui_render import CSS

    settings = factory.settings
    assistant = factory.assistant()
    store = assistant.retriever.store

    app = FastAPI(
        title="convention-qa",
        version="0.1.0",
        description="Grounded, cited answers over a corpus of news articles.",
    )
    app.state.factory = factory
    app.state.assistant = assistant
    app.state.sessions = InMemoryChats(
        settings.max_sessions, exchanges_for(settings.history_messages), settings.session_idle_minutes * 60
    )
    app.state.conversations = factory.conversations()
    app.state.chat = factory.chat(assistant, app.state.conversations or app.state.sessions)
    signer = Signer(
        settings.secret_key or _kept_secret(settings.data_dir, "owner-secret"),
        max_age=settings.anonymous_cookie_days * 24 * 3600,
    )
    app.state.identities = Identities(
        admin_key=settings.api_key,
        keys=app.state.conversations.keys if app.state.conversations else None,
        signer=signer,
        user_header=settings.user_header if settings.trust_proxy else None,
    )
    install_error_handlers(app)
    app.include_router(api.service_router)
    app.include_router(api.router)
    app.include_router(openai_compat.router)
    app.include_router(signin.router)

    def upload(files: list[tuple[str, bytes]], on_progress: Progress | None = None) -> UploadResult:
        result = add_files(files, settings, store, factory.embedder(), on_progress=on_progress)
        assistant.retriever.refresh_soon()  # BM25 catches up in the background; no question waits
        return result

    def ui_user(request: Request) -> str | None:
        try:
            return app.state.identities.of(request).id  # type: ignore[no-any-return]
        except ConventionQAError:
            return None

    services = Services(
        conversations=app.state.conversations,
        chat=app.state.chat,
        reports_dir=settings.reports_dir,
        # Not a secret (Gradio serves it to every page): it only keeps the browser's conversation
        # id readable after a restart. Who may open that conversation is the owner check's job.
        secret=_kept_secret(settings.data_dir, "ui-secret"),
        identities=app.state.identities,
        stopping=STOPPING.is_set,
    )
    demo = build_ui(assistant, upload, max_upload_mb=settings.max_file_mb, services=services)
    mounted: FastAPI = gr.mount_gradio_app(
        app,
        demo,
        path="",
        css=CSS,
        footer_links=[],
        max_file_size=settings.max_file_bytes,
        auth_dependency=ui_user if settings.api_key else None,
    )
    handlers = endpoints(demo)  # every handler's argument check, made now: a handler without one fails here
    sessions = SessionOwners(lambda scope: app.state.identities.session_key(Request(scope)))
    for route in mounted.routes:  # Gradio's app is mounted whole, with its own error handling
        if isinstance(route, Mount) and isinstance(route.app, Starlette):
            route.app.add_middleware(UICallErrors)
            route.app.add_middleware(UICalls, endpoints=handlers, sessions=sessions)
    mounted.add_middleware(OwnerCookie, signer=signer)
    if settings.api_key:
        mounted.add_middleware(SignInFirst, identities=app.state.identities)
    if settings.trust_proxy:
        mounted.add_middleware(OneUserHeader, header=settings.user_header)
    mounted.add_middleware(BodyLimit, limit=settings.max_file_bytes * 5 + 1_000_000)
    mounted.add_middleware(Draining)
    return mounted


def _kept_secret(data_dir: Path, name: str) -> str:
    """A random key made once and kept under the data directory (mode 0600), so that a restarted
    server (or a replica on the same directory) reads what the last one signed."""
    path = data_dir / name
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(32))
    return path.read_text(encoding="ascii").strip()


def ensure_index(factory: Factory) -> None:
    """Index the corpus folder if this embedder has no index yet (a fresh clone's first run)."""
    store = factory.store()
    if store.count() == 0:
        log.warning("no index yet: ingesting %s", factory.settings.corpus_dir)
        with ingest_lock(factory.settings.data_dir):
            report = ingest(store, factory.embedder(), factory.settings)
        for failure in report.failed:
            log.warning("skipped %s: %s", failure.path, failure.error)


def run(target: Settings | Factory) -> None:
    """Serve until interrupted: ``python app.py`` and ``convention-qa serve`` both end here."""
    import uvicorn

    factory = target if isinstance(target, Factory) else Factory(target)
    settings = factory.settings
    ensure_index(factory)
    app = create_app(factory)
    print(f"convention-qa: open http://{settings.host}:{settings.port}", flush=True)
    # On SIGTERM, requests in flight get a few seconds to finish; then the server stops anyway.
    # Ingest is crash-safe (an article counts only when all its chunks are written), so an
    # upload cut short leaves no half-written index: the next ingest completes it.
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level="warning", timeout_graceful_shutdown=SHUTDOWN_SECONDS
    )

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            STOPPING.set()  # the chat tells whoever asks now that the server is restarting
            super().handle_exit(sig, frame)

    Server(config).run()
