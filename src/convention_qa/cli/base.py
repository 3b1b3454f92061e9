"""The ``convention-qa`` command: the group, its options and what every command shares.

Exit codes: 0 success; 1 the run finished but some inputs failed; 2 nothing could be done
(bad settings, unreachable store, ...), with the reason on stderr and no traceback.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

from convention_qa.config import Settings, get_settings
from convention_qa.conversations.owners import Owner
from convention_qa.errors import ConventionQAError

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings
    from langchain_core.language_models.chat_models import BaseChatModel

    from convention_qa.conversations.store import ConversationStore
    from convention_qa.factory import Factory

__all__ = ["Wiring", "conversations_of", "factory_of", "friendly_errors", "main", "owner_option"]

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Print ConventionQAError messages as one line and exit 2, without a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConventionQAError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


@dataclass
class Wiring:
    """What commands build on; tests pass their own: ``CliRunner.invoke(main, obj=Wiring(...))``."""

    settings: Settings | None = None
    make_embedder: Callable[[str], Embeddings] | None = None
    make_chat_model: Callable[[Settings], BaseChatModel | None] | None = None


def factory_of(ctx: click.Context, **overrides: Any) -> Factory:
    from convention_qa.factory import Factory

    wiring: Wiring = ctx.obj
    assert wiring.settings is not None
    values = {k: v for k, v in overrides.items() if v is not None}
    settings = wiring.settings.model_copy(update=values) if values else wiring.settings
    factory = Factory(settings)
    if wiring.make_embedder:
        factory.make_embedder = wiring.make_embedder
    if wiring.make_chat_model:
        factory.make_chat_model = wiring.make_chat_model
    return factory


@click.group()
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
@friendly_errors
def main(ctx: click.Context, verbose: int) -> None:
    """Grounded question answering over a corpus of news articles."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(Wiring)
    if ctx.obj.settings is None:
        ctx.obj.settings = get_settings()


def conversations_of(ctx: click.Context, lacking: str = "there is no feedback") -> ConversationStore:
    """The conversation database; a ConfigError saying what is ``lacking`` when it is off."""
    from convention_qa.errors import ConfigError

    store = factory_of(ctx).conversations()
    if store is None:
        raise ConfigError(f"conversations are not stored (CONVENTION_QA_CONVERSATIONS=false): {lacking}")
    return store


def owner_option(owner: str | None) -> Owner:
    """``--owner``: one owner's ratings; by default everyone's (the CLI reads the database as admin)."""
    from convention_qa.conversations.owners import ADMIN

    return Owner(owner) if owner else ADMIN
