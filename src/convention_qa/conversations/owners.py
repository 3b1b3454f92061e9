"""Owners: every conversation, answer and rating belongs to one, and each owner sees only its own
(the admin sees all). How a request is told to be an owner is the web layer's job
(``web/identity.py``); the conversation store only takes an ``Owner`` and checks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from convention_qa.text import valid_text

__all__ = ["ADMIN", "ANONYMOUS_PREFIXES", "LEGACY", "LOCAL", "USER_KEY_PREFIX", "KeyLookup", "Owner"]

USER_KEY_PREFIX = "cqa_"  # every user key starts so: a wrong one is refused, not taken for "no key"
# Owners nobody can come back as once their cookie is gone: anonymous browsers (and the per-tab
# owners earlier versions gave the UI), kept only ANONYMOUS_RETENTION_DAYS.
ANONYMOUS_PREFIXES = ("anon:", "tab:")
LEGACY = "legacy"  # conversations kept before owners existed: only the admin sees them


@dataclass(frozen=True)
class Owner:
    """``id`` is stored with what the owner creates; the admin reads every owner's."""

    id: str
    admin: bool = False

    def __post_init__(self) -> None:
        # Both engines keep text without NULs (``tables.storable``): an owner id with one would be
        # kept as another owner's. The web layer never makes one (keys are names, users printable).
        if "\x00" in self.id or valid_text(self.id) != self.id:
            raise ValueError("an owner id cannot hold NUL characters or lone surrogates")


ADMIN = Owner("admin", admin=True)
LOCAL = Owner("local")  # the one owner of a single-user process: the CLI, a UI without a server


class KeyLookup(Protocol):
    def owner_of_key(self, key: str) -> Owner | None:
        """The owner of a user key, or None for an unknown or revoked one."""
        ...
