"""Owners: every conversation, answer and rating belongs to one, and each owner sees only its own
(the admin sees all). How a request is told to be an owner is the web layer's job
(``web/identity.py``); the conversation store only takes an ``Owner`` and checks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["ADMIN", "LEGACY", "LOCAL", "USER_KEY_PREFIX", "KeyLookup", "Owner"]

USER_KEY_PREFIX = "cqa_"  # every user key starts so: a wrong one is refused, not taken for "no key"
LEGACY = "legacy"  # conversations kept before owners existed: only the admin sees them


@dataclass(frozen=True)
class Owner:
    """``id`` is stored with what the owner creates; the admin reads every owner's."""

    id: str
    admin: bool = False


ADMIN = Owner("admin", admin=True)
LOCAL = Owner("local")  # the one owner of a single-user process: the CLI, a UI without a server


class KeyLookup(Protocol):
    def owner_of_key(self, key: str) -> Owner | None:
        """The owner of a user key, or None for an unknown or revoked one."""
        ...
