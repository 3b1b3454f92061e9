"""Per-user API keys (``convention-qa keys``): each key names an owner, ``key:NAME``. Only a key's
SHA-256 is kept; the key itself is shown once, when it is created."""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select

from convention_qa.conversations.database import Database
from convention_qa.conversations.owners import USER_KEY_PREFIX, Owner
from convention_qa.conversations.records import ApiKeyRecord, utc
from convention_qa.conversations.tables import ApiKeyRow, now
from convention_qa.errors import ConfigError

__all__ = ["ApiKeys", "key_name"]

_KEY_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")


def key_name(name: str) -> str:
    """A key's name as it is kept and looked up (spaces around it dropped); ConfigError when it is
    not 1-64 letters, digits, '.', '_', '@' or '-'. Every command that takes a name goes through it."""
    name = name.strip()
    if not _KEY_NAME.fullmatch(name):
        raise ConfigError(f"key name {name[:64]!r}: use 1-64 letters, digits, '.', '_', '@' or '-'")
    return name


def _hash_key(key: str) -> str:
    # Keys are 256 random bits: a fast hash is enough (there is no password to guess).
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    """The keys in the conversation database; ``owner_of_key`` is what ``web/identity`` asks."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def create(self, name: str) -> str:
        """A new key for ``name`` (shown once; only its hash is kept). Its owner is ``key:NAME``:
        a key made again for a revoked name reaches that name's conversations."""
        name = key_name(name)
        key = USER_KEY_PREFIX + secrets.token_urlsafe(32)
        with self.database.transaction() as session:
            row = session.get(ApiKeyRow, name)
            if row is not None and row.revoked_at is None:
                raise ConfigError(f"a key named {name!r} is in use: revoke it first (convention-qa keys revoke {name})")
            if row is None:
                session.add(ApiKeyRow(name=name, hash=_hash_key(key)))
            else:
                row.hash, row.created_at, row.revoked_at = _hash_key(key), now(), None
        return key

    def list(self) -> list[ApiKeyRecord]:
        with self.database.transaction() as session:
            rows = session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.name)).all()
            return [ApiKeyRecord(r.name, utc(r.created_at), utc(r.revoked_at) if r.revoked_at else None) for r in rows]

    def revoke(self, name: str) -> bool:
        """Stop a key working at once; False if no key of that name is in use."""
        name = key_name(name)
        with self.database.transaction() as session:
            row = session.get(ApiKeyRow, name)
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = now()
            return True

    def owner_of_key(self, key: str) -> Owner | None:
        if not key.startswith(USER_KEY_PREFIX) or len(key) > 200:
            return None
        with self.database.transaction() as session:
            name = session.scalar(
                select(ApiKeyRow.name).where(ApiKeyRow.hash == _hash_key(key), ApiKeyRow.revoked_at.is_(None))
            )
        return Owner(f"key:{name}") if name else None
