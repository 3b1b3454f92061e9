"""Who is asking, told from the request. Every conversation, answer and rating belongs to an owner
(``conversations/owners.py``), and each request sees only its own (the admin key sees all).

An owner is named by, in this order:

- ``Authorization: Bearer KEY`` (or the UI's ``convention_qa_key`` cookie): the admin key
  (``CONVENTION_QA_API_KEY``) is the admin; a user key (``convention-qa keys create NAME``) is
  ``key:NAME``; any other key is refused (401);
- the user header of an authenticating reverse proxy (``X-Forwarded-User`` by default), only
  when ``CONVENTION_QA_TRUST_PROXY`` says a proxy sets it: ``user:NAME``;
- otherwise, when the server needs no key, an anonymous identity per browser, kept in a signed,
  timestamped, HttpOnly cookie (``OwnerCookie``): ``anon:ID``. The cookie is good for
  ``CONVENTION_QA_ANONYMOUS_COOKIE_DAYS`` after it was issued and is issued again (same id) while
  in use, so a copied cookie dies once its browser stops using it. A client that keeps no cookies
  is a new anonymous owner on every request.

A valid key decides before the proxy's header; a key that names no one (an OpenAI client's
placeholder ``unused``) does not stop the trusted header from deciding. The header sent more than
once is a 400 (``OneUserHeader``): a proxy that appends instead of replacing would let the client
choose.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request, cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from convention_qa.conversations.owners import ADMIN, USER_KEY_PREFIX, KeyLookup, Owner
from convention_qa.errors import AccessError, ConventionQAError, RequestError
from convention_qa.web.transport import HttpMiddleware, json_reply

__all__ = ["COOKIE", "KEY_COOKIE", "Identities", "OneUserHeader", "OwnerCookie", "Signer", "cookie_header"]

COOKIE = "convention_qa_owner"
KEY_COOKIE = "convention_qa_key"
_MAX_USER = 128
_RENEW_SECONDS = 24 * 3600  # a cookie in use is issued again at most daily


def cookie_header(scope: Scope, name: str, value: str, max_age: int) -> bytes:
    """A ``Set-Cookie`` value the page's scripts cannot read and other sites do not send."""
    secure = "; Secure" if scope.get("scheme") == "https" else ""
    return f"{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}".encode("latin-1")


class Signer:
    """Signs and reads the anonymous owner's cookie (itsdangerous' timestamped signer, keyed by the
    server's secret): a cookie older than ``max_age`` seconds names nobody."""

    def __init__(self, secret: str, max_age: float = 30 * 24 * 3600) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="convention-qa-owner")
        self.max_age = max_age

    def sign(self, anonymous_id: str) -> str:
        return str(self._serializer.dumps(anonymous_id))

    def read(self, value: str | None) -> str | None:
        read = self.read_with_age(value)
        return read[0] if read else None

    def read_with_age(self, value: str | None) -> tuple[str, float] | None:
        """The id a valid cookie names and its age in seconds; None for a bad or expired one."""
        if not value:
            return None
        try:
            loaded, issued = self._serializer.loads(value, max_age=int(self.max_age), return_timestamp=True)
        except BadSignature:  # SignatureExpired is one: too old is as good as forged
            return None
        if not (isinstance(loaded, str) and 8 <= len(loaded) <= 64):
            return None
        return loaded, max(0.0, time.time() - issued.timestamp())


class OwnerCookie(HttpMiddleware):
    """Gives every browser an anonymous identity: a request without a valid signed cookie gets a
    new id (in ``scope["state"]["anonymous_owner"]``) and the response sets the cookie; a valid
    cookie older than a day is issued again with the same id. ``scope["state"]["owner_remembered"]``
    says whether the request brought a valid cookie (a browser that blocks cookies never does)."""

    def __init__(self, app: ASGIApp, signer: Signer) -> None:
        super().__init__(app)
        self.signer = signer

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        cookies = cookie_parser(dict(scope.get("headers") or []).get(b"cookie", b"").decode("latin-1"))
        known = self.signer.read_with_age(cookies.get(COOKIE))
        anonymous = known[0] if known else secrets.token_urlsafe(16)
        state = scope.setdefault("state", {})
        state["anonymous_owner"], state["owner_remembered"] = anonymous, known is not None
        if known and known[1] < min(_RENEW_SECONDS, self.signer.max_age / 2):
            await self.app(scope, receive, send)
            return
        header = cookie_header(scope, COOKIE, self.signer.sign(anonymous), int(self.signer.max_age))

        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", header)]}
            await send(message)

        await self.app(scope, receive, with_cookie)


class OneUserHeader(HttpMiddleware):
    """The trusted proxy's user header, sent more than once, is a 400 on every route (the API and
    the UI alike): a proxy that appends to the client's header instead of replacing it would
    otherwise let the client name the user."""

    def __init__(self, app: ASGIApp, header: str) -> None:
        super().__init__(app)
        self.header = header.lower().encode("latin-1")

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if sum(1 for name, _ in scope.get("headers") or [] if name.lower() == self.header) > 1:
            await json_reply(send, 400, _twice(self.header.decode()))
            return
        await self.app(scope, receive, send)


def _twice(header: str) -> str:
    return f"the {header} header came more than once: the proxy must replace it, not append to it"


@dataclass(frozen=True)
class Identities:
    """How this server tells owners apart (from its settings); ``of`` names a request's owner."""

    admin_key: str | None = None
    keys: KeyLookup | None = None
    signer: Signer | None = None
    user_header: str | None = None  # the trusted proxy's header; None: no proxy is trusted

    def of(self, request: Request) -> Owner:
        """The owner a request acts for (see the module's docstring); AccessError when there is
        none, RequestError when the proxy's header came twice."""
        headers, cookies = request.headers, request.cookies
        authorization = headers.get("authorization", "")
        key = authorization[7:].strip() if authorization.lower().startswith("bearer ") else cookies.get(KEY_COOKIE, "")
        owner = self.owner_of_key(key) if key else None
        if owner is not None:
            return owner
        if self.user_header:
            values = headers.getlist(self.user_header)
            if len(values) > 1:
                raise RequestError(_twice(self.user_header))
            user = " ".join(values[0].split()) if values else ""
            if user and len(user) <= _MAX_USER and user.isprintable():
                return Owner(f"user:{user}")  # the proxy decides, whatever placeholder key came along
        if key and (self.admin_key or key.startswith(USER_KEY_PREFIX)):
            raise AccessError(
                "wrong or revoked API key: sign in again, or send `Authorization: Bearer KEY` with a key that is in use"
            )
        # A server that needs no key: OpenAI clients send one anyway ("unused"); it names no one.
        if self.admin_key:
            raise AccessError("missing API key: send `Authorization: Bearer KEY`, or sign in at /sign-in")
        state = request.scope.get("state") or {}
        given = state.get("anonymous_owner") if isinstance(state, dict) else None  # set by OwnerCookie
        anonymous = given or (self.signer.read(cookies.get(COOKIE)) if self.signer else None)
        if anonymous is None:
            raise AccessError("no owner: this client keeps no cookies; send `Authorization: Bearer KEY` instead")
        return Owner(f"anon:{anonymous}")

    def owner_of_key(self, key: str) -> Owner | None:
        """The owner a key names (the admin key, a user key in use); None for any other key."""
        if self.admin_key and hmac.compare_digest(key.encode(), self.admin_key.encode()):
            return ADMIN
        return self.keys.owner_of_key(key) if self.keys is not None else None

    def session_key(self, request: Request) -> str:
        """Who a page session (a Gradio session hash) belongs to: the owner's id; one shared name
        for browsers without cookies (they have no owner that lasts), another for a request that
        names nobody."""
        try:
            owner = self.of(request)
        except ConventionQAError:
            return "nobody"
        return owner.id if self.lasting(request, owner) else "no cookies"

    @staticmethod
    def lasting(request: Request, owner: Owner) -> bool:
        """Whether the owner outlives this request: a key, a proxy's user, or an anonymous owner
        whose browser sent its cookie back (one that blocks cookies is new on every request)."""
        if not owner.id.startswith("anon:"):
            return True
        state = request.scope.get("state") or {}
        return bool(isinstance(state, dict) and state.get("owner_remembered", True))
