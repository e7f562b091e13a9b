"""Alembic environment of the covalue store: runs on the connection the caller hands over
(``config.attributes["connection"]``), or on ``sqlalchemy.url`` for the alembic command line."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from covalue.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    con = config.attributes.get("connection")
    if con is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as own:
            _run(own)
        engine.dispose()
    else:
        _run(con)


def _run(con) -> None:  # type: ignore[no-untyped-def]
    # batch mode lets later migrations alter SQLite tables (which lack most ALTER TABLE forms)
    context.configure(connection=con, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
