"""Make erased bytes really gone. A DELETE or UPDATE only marks the old values free: DuckDB keeps the
freed blocks in its file, SQLite keeps freed pages (and its write-ahead log), PostgreSQL keeps dead
tuples until a vacuum. So after an erasure the workspace database is copied into a fresh file (only
live rows travel) that replaces the old one, and the account store is vacuumed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
from sqlalchemy import text

if TYPE_CHECKING:
    from covalue.store import Store
    from covalue.workspace import Workspace


def rewrite_workspace(ws: Workspace) -> int:
    """Copy the workspace database into a fresh file and swap it in; returns the bytes saved. The
    workspace's connection is closed first and re-opens on next use."""
    from covalue.dbfile import STORAGE_VERSION
    from covalue.workspace import DB_FILE

    db = ws.path / DB_FILE
    fresh = ws.path / (DB_FILE + ".rewrite")
    ws.close()
    before = db.stat().st_size
    for f in (fresh, Path(str(fresh) + ".wal")):
        f.unlink(missing_ok=True)
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")  # the caller shows its own
        con.execute(f"ATTACH '{_q(db)}' AS old")
        # the fresh file is written in covalue's storage format, so a rewrite also upgrades an old one
        con.execute(f"ATTACH '{_q(fresh)}' AS fresh (STORAGE_VERSION '{STORAGE_VERSION}')")
        con.execute("COPY FROM DATABASE old TO fresh")
        con.execute("DETACH fresh")
        con.execute("DETACH old")
    finally:
        con.close()
    os.replace(fresh, db)
    Path(str(db) + ".wal").unlink(missing_ok=True)
    ws.remove_scratch()
    return before - db.stat().st_size


def _q(p: Path) -> str:
    return str(p).replace("'", "''")


def vacuum_store(store: Store, tables: list[str] | None = None) -> None:
    """Rewrite the store's files without the freed rows: VACUUM and a truncating WAL checkpoint on
    SQLite, VACUUM FULL of the given tables (all when None) on PostgreSQL."""
    eng = store.engine
    with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as con:
        if eng.dialect.name == "sqlite":
            con.execute(text("VACUUM"))
            con.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        elif eng.dialect.name == "postgresql":
            if tables:
                for t in tables:
                    con.execute(text(f'VACUUM FULL "{t}"'))
            else:
                con.execute(text("VACUUM FULL"))
