"""The conversation database's connection: SQLite under the data directory by default (WAL mode),
or a PostgreSQL server when ``CONVENTION_QA_DATABASE_URL`` says so, so that several app replicas
share one. Alembic migrations (``migrations/``) bring the schema up to date when it is opened.

Every write is one short transaction (``Database.transaction``): a process killed mid-burst loses
at most the requests in flight, and the database opens cleanly afterwards.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from convention_qa.errors import ConversationError

__all__ = ["MIGRATIONS", "Database", "connect", "database_url", "migrate"]

MIGRATIONS = Path(__file__).with_name("migrations")


def database_url(data_dir: Path, configured: str | None) -> str:
    """The configured URL, or the SQLite file under the data directory."""
    if configured:
        return configured
    return f"sqlite:///{(data_dir / 'conversations.db').resolve()}"


class Database:
    """An engine and the transactions on it; thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._begin = sessionmaker(engine, expire_on_commit=False).begin

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One ORM session in one transaction, committed on leaving; a database that fails is a
        ConversationError (503), not a traceback."""
        try:
            with self._begin() as session:
                yield session
        except OperationalError as exc:
            reason = str(exc.orig or exc).splitlines()[0]
            raise ConversationError(f"the conversation database failed ({reason})") from None


def connect(url: str) -> Database:
    """Connect and migrate; a ConversationError that says what to fix if it cannot."""
    sqlite = url.startswith("sqlite")
    if sqlite and url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30} if sqlite else {"connect_timeout": 10},
            pool_pre_ping=not sqlite,
            **({} if sqlite else {"pool_size": 5, "max_overflow": 20}),
        )
        if sqlite:
            _sqlite_pragmas(engine)
        with _migration_lock(url):
            migrate(engine)
    except (SQLAlchemyError, OSError, ImportError) as exc:
        shown = url.split("@")[-1] if "@" in url else url
        raise ConversationError(
            f"cannot open the conversation database {shown} ({str(exc).splitlines()[0][:300]}). Check "
            "CONVENTION_QA_DATABASE_URL, or set CONVENTION_QA_CONVERSATIONS=false to keep no history"
        ) from None
    return Database(engine)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" below issues BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # with WAL: a killed process loses no commit
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # Take the write lock up front: a transaction that reads, then writes, cannot deadlock
        # with another one doing the same (SQLite would fail one of them at once).
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    """Two processes starting on one SQLite file migrate one after the other."""
    if not url.startswith("sqlite:///"):
        yield  # PostgreSQL: env.py takes an advisory lock
        return
    path = Path(url.removeprefix("sqlite:///") + ".lock")
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
