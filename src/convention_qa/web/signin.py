"""Signing in to the web UI with a key, and out again.

A browser cannot send ``Authorization: Bearer KEY``, so the UI keeps the key in a cookie
(``convention_qa_key``, HttpOnly: the page's scripts never see it; SameSite=Lax: other sites'
forms do not send it). ``POST /sign-in`` checks the key before setting the cookie, and
``POST /sign-out`` clears it. Both are plain HTML forms (the sidebar's, and the ``/sign-in``
page a server with ``CONVENTION_QA_API_KEY`` sends a browser to), and both refuse a form posted
from another site. Who the browser then is, is ``identity.Identities.of`` as for any request.
"""

from __future__ import annotations

import html
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from convention_qa.conversations.owners import Owner
from convention_qa.errors import ConventionQAError
from convention_qa.web.identity import KEY_COOKIE, Identities, cookie_header
from convention_qa.web.transport import HttpMiddleware

__all__ = ["KEY_COOKIE_DAYS", "SIGN_IN_FORM", "SIGN_OUT_FORM", "SignInFirst", "router", "signed_in_as"]

KEY_COOKIE_DAYS = 30  # then the browser asks for the key again (a revoked key stops at once anyway)
_MAX_KEY = 200

# The forms, on the /sign-in page and in the UI's sidebar alike (relative actions: work under a prefix).
SIGN_IN_FORM = (
    '<form method="post" action="sign-in" class="sign-in">'
    '<input name="key" type="password" placeholder="Your key (cqa_…)" aria-label="Your key" '
    f'autocomplete="current-password" maxlength="{_MAX_KEY}" required> <button type="submit">Sign in</button></form>'
)
SIGN_OUT_FORM = '<form method="post" action="sign-out" class="sign-out"><button type="submit">Sign out</button></form>'

router = APIRouter(tags=["sign-in"], include_in_schema=False)


def signed_in_as(owner: Owner) -> str:
    """How the UI names an owner to the person it is."""
    if owner.admin:
        return "the admin key (you see everyone's conversations)"
    kind, _, name = owner.id.partition(":")
    return {"key": f"the key {name}", "user": f"{name} (your organisation's sign-in)"}.get(kind, "")


def _page(message: str = "", status: int = 200) -> HTMLResponse:
    shown = f'<p class="problem" role="alert">{html.escape(message)}</p>' if message else ""
    body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in · convention-qa</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}}
input{{width:100%;padding:.5rem;margin:.5rem 0;box-sizing:border-box}}button{{padding:.5rem 1rem}}
.problem{{color:#b00020}}</style></head><body>
<h1>Sign in to convention-qa</h1>
<p>Paste the key your administrator gave you (<code>convention-qa keys create NAME</code> makes one).
Your conversations and ratings are then yours on every browser you sign in on.</p>
{shown}
{SIGN_IN_FORM}</body></html>"""
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _same_site(request: Request) -> bool:
    """A form posted from this site's own page (or by a client that says nothing about where it
    comes from, like curl). Browsers say where a request comes from in ``Sec-Fetch-Site``; older
    ones only in ``Origin``, compared with the host the browser asked for (the proxy's, if any)."""
    headers = request.headers
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site in {"same-origin", "none"}
    origin = headers.get("origin") or headers.get("referer")
    if origin is None:
        return True
    asked = {headers.get("host", ""), headers.get("x-forwarded-host", "").split(",")[0].strip()} - {""}
    return urlsplit(origin).netloc in asked


def _back(cookie: bytes) -> Response:
    reply = RedirectResponse("./", status_code=303)
    reply.raw_headers.append((b"set-cookie", cookie))
    reply.headers["Cache-Control"] = "no-store"
    return reply


@router.get("/sign-in")
def sign_in_page() -> HTMLResponse:
    return _page()


@router.post("/sign-in")
def sign_in(request: Request, key: Annotated[str, Form(max_length=_MAX_KEY)] = "") -> Response:
    if not _same_site(request):
        return _page("Sign in from this site's own page.", 403)
    identities: Identities = request.app.state.identities
    key = key.strip()
    try:
        owner = identities.owner_of_key(key) if key else None
    except ConventionQAError as exc:  # the key store cannot be read right now
        return _page(str(exc), 503)
    if owner is None:
        return _page("That key is wrong or revoked. Check it, or ask for a new one.", 401)
    return _back(cookie_header(request.scope, KEY_COOKIE, key, KEY_COOKIE_DAYS * 24 * 3600))


@router.post("/sign-out")
def sign_out(request: Request) -> Response:
    if not _same_site(request):
        return _page("Sign out from this site's own page.", 403)
    return _back(cookie_header(request.scope, KEY_COOKIE, "", 0))


class SignInFirst(HttpMiddleware):
    """On a server that needs a key, a browser that opens the chat without one is sent to the
    sign-in page (a 303), not shown Gradio's bare 401."""

    def __init__(self, app: ASGIApp, identities: Identities) -> None:
        super().__init__(app)
        self.identities = identities

    def applies(self, scope: Scope) -> bool:
        return scope.get("method") == "GET" and scope.get("path") in {"", "/"}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        try:
            self.identities.of(request)
        except ConventionQAError:
            if "text/html" in request.headers.get("accept", ""):
                await RedirectResponse("sign-in", status_code=303)(scope, receive, send)
                return
        await self.app(scope, receive, send)
