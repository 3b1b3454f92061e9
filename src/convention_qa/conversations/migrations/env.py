"""Alembic environment: migrations run on the connection ``conversations.migrate`` passes in
(``alembic -x url=...`` from the command line works too)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from convention_qa.conversations.tables import Base

target_metadata = Base.metadata
_LOCK_KEY = 7_306_117_001  # PostgreSQL advisory lock: replicas starting together migrate in turn


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)  # type: ignore[arg-type]
    if getattr(connection, "dialect", None) is not None and connection.dialect.name == "postgresql":  # type: ignore[attr-defined]
        connection.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})"))  # type: ignore[attr-defined]
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("pass the database URL: alembic -x url=sqlite:///data/conversations.db upgrade head")
    with create_engine(url).begin() as own:
        _run(own)
