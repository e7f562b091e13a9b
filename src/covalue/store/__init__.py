"""What people enter in the web app (accounts, roles, sessions, audit log, upload jobs), kept with
SQLAlchemy 2 in a SQLite file in the workspace by default, or in PostgreSQL when
``COVALUE_DATABASE_URL`` is set. Alembic migrations are applied when the store is opened.

    store = Store.open(workspace_path)          # migrations applied
    with store.session() as db: ...
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

import covalue.store.collaboration  # registers the Collaboration canvas tables on Base.metadata
import covalue.store.shared_value  # noqa: F401  (registers the Shared Value tables on Base.metadata)
from covalue.store.models import ROLES, AuditEvent, Base, Job, LoginAttempt, Role, User, utcnow

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "ROLES",
    "AuditEvent",
    "Base",
    "Job",
    "LoginAttempt",
    "Role",
    "Store",
    "User",
    "database_url",
    "utcnow",
]

STORE_FILE = "store.sqlite"
ENV_URL = "COVALUE_DATABASE_URL"
MIGRATIONS = Path(__file__).parent / "migrations"


def database_url(workspace: str | Path | None) -> str:
    """``COVALUE_DATABASE_URL`` when set, else a SQLite file inside the workspace."""
    url = os.environ.get(ENV_URL)
    if url:
        return url
    if workspace is None:
        raise ValueError(f"no workspace and no {ENV_URL}: nowhere to keep accounts")
    return f"sqlite:///{Path(workspace).resolve() / STORE_FILE}"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # the web server uses the store from several threads; WAL lets readers run beside a writer
        eng = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(eng, "connect")
        def _pragmas(dbapi_con, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_con.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url:
                cur.execute("PRAGMA journal_mode=WAL")
                # in WAL mode NORMAL stays consistent after a crash and spares an fsync per commit
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return eng
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config  # a migration's tools: imported when a store is opened

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.set_main_option(
            "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
        )
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the store's schema to the newest migration."""
    from alembic import command

    cfg = alembic_config(engine)
    with engine.begin() as con:
        cfg.attributes["connection"] = con
        command.upgrade(cfg, "head")


class Store:
    """An opened store: an engine with migrations applied and a session factory."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(
        cls, workspace: str | Path | None = None, *, url: str | None = None, migrate: bool = True
    ) -> Store:
        engine = make_engine(url or database_url(workspace))
        if migrate:
            upgrade(engine)
        return cls(engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed at the end of the block (rolled back on error)."""
        db = self._sessions()
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise
        finally:
            db.close()

    def dispose(self) -> None:
        self.engine.dispose()


def exists(workspace: str | Path) -> bool:
    """Whether the workspace has a store: ``COVALUE_DATABASE_URL`` is set, or the web app (or an account
    command) has created the SQLite file. Readers that only show what people entered check this first, so
    that a report never creates a store as a side effect."""
    return bool(os.environ.get(ENV_URL)) or (Path(workspace) / STORE_FILE).exists()


@contextmanager
def existing(workspace: str | Path | None, *, migrate: bool = True) -> Iterator[Store | None]:
    """The workspace's store for the block when it has one (see :func:`exists`), else None; disposed
    after."""
    if workspace is None or not exists(workspace):
        yield None
        return
    store = Store.open(workspace, migrate=migrate)
    try:
        yield store
    finally:
        store.dispose()
