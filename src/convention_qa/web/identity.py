"""Who is asking, told from the request. Every conversation, answer and rating belongs to an owner
(``conversations/owners.py``), and each request sees only its own (the admin key sees all).

An owner is named by, in this order:

- ``Authorization: Bearer KEY`` (or the UI's ``convention_qa_key`` cookie): the admin key
  (``CONVENTION_QA_API_KEY``) is the admin; a user key (``convention-qa keys create NAME``) is
  ``key:NAME``; any other key is refused (401);
- the user header of an authenticating reverse proxy (``X-Forwarded-User`` by default), only
  when ``CONVENTION_QA_TRUST_PROXY`` says a proxy sets it: ``user:NAME``;
- otherwise, when the server needs no key, an anonymous identity per browser, kept in a signed,
  HttpOnly cookie (``OwnerCookie``): ``anon:ID``. A client that keeps no cookies is a new
  anonymous owner on every request.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request, cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from convention_qa.conversations.owners import ADMIN, USER_KEY_PREFIX, KeyLookup, Owner
from convention_qa.errors import AccessError
from convention_qa.web.transport import HttpMiddleware

__all__ = ["COOKIE", "KEY_COOKIE", "Identities", "OwnerCookie", "Signer"]

COOKIE = "convention_qa_owner"
KEY_COOKIE = "convention_qa_key"
_MAX_USER = 128
_COOKIE_SECONDS = 400 * 24 * 3600  # browsers cap cookies at 400 days


class Signer:
    """Signs and reads the anonymous owner's cookie (itsdangerous, keyed by the server's secret)."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt="convention-qa-owner")

    def sign(self, anonymous_id: str) -> str:
        return str(self._serializer.dumps(anonymous_id))

    def read(self, value: str | None) -> str | None:
        if not value:
            return None
        try:
            loaded = self._serializer.loads(value)
        except BadSignature:
            return None
        return loaded if isinstance(loaded, str) and 8 <= len(loaded) <= 64 else None


class OwnerCookie(HttpMiddleware):
    """Gives every browser an anonymous identity: a request without a valid signed cookie gets a
    new id (in ``scope["state"]["anonymous_owner"]``) and the response sets the cookie."""

    def __init__(self, app: ASGIApp, signer: Signer) -> None:
        super().__init__(app)
        self.signer = signer

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        cookies = cookie_parser(dict(scope.get("headers") or []).get(b"cookie", b"").decode("latin-1"))
        known = self.signer.read(cookies.get(COOKIE))
        anonymous = known or secrets.token_urlsafe(16)
        scope.setdefault("state", {})["anonymous_owner"] = anonymous
        if known:
            await self.app(scope, receive, send)
            return
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        header = (
            f"{COOKIE}={self.signer.sign(anonymous)}; Path=/; Max-Age={_COOKIE_SECONDS}; HttpOnly; SameSite=Lax{secure}"
        )

        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", header.encode())]}
            await send(message)

        await self.app(scope, receive, with_cookie)


@dataclass(frozen=True)
class Identities:
    """How this server tells owners apart (from its settings); ``of`` names a request's owner."""

    admin_key: str | None = None
    keys: KeyLookup | None = None
    signer: Signer | None = None
    user_header: str | None = None  # the trusted proxy's header; None: no proxy is trusted

    def of(self, request: Request) -> Owner:
        """The owner a request acts for (see the module's docstring); AccessError when there is none."""
        headers, cookies = request.headers, request.cookies
        authorization = headers.get("authorization", "")
        key = authorization[7:].strip() if authorization.lower().startswith("bearer ") else cookies.get(KEY_COOKIE, "")
        if key:
            if self.admin_key and hmac.compare_digest(key.encode(), self.admin_key.encode()):
                return ADMIN
            owner = self.keys.owner_of_key(key) if self.keys is not None else None
            if owner is not None:
                return owner
            if self.admin_key or key.startswith(USER_KEY_PREFIX):
                raise AccessError(
                    "wrong or revoked API key: send `Authorization: Bearer KEY` with a key that is in use"
                )
            # A server that needs no key: OpenAI clients send one anyway ("unused"); it names no one.
        if self.user_header:
            user = " ".join(headers.get(self.user_header, "").split())
            if user and len(user) <= _MAX_USER and user.isprintable():
                return Owner(f"user:{user}")
        if self.admin_key:
            raise AccessError("missing API key: send `Authorization: Bearer KEY`")
        state = request.scope.get("state") or {}
        given = state.get("anonymous_owner") if isinstance(state, dict) else None  # set by OwnerCookie
        anonymous = given or (self.signer.read(cookies.get(COOKIE)) if self.signer else None)
        if anonymous is None:
            raise AccessError("no owner: this client keeps no cookies; send `Authorization: Bearer KEY` instead")
        return Owner(f"anon:{anonymous}")
