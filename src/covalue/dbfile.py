"""The workspace's DuckDB file: the storage format it is written in.

DuckDB writes a new file in the format its 0.10 release can read unless told otherwise. covalue asks
for the format of the oldest DuckDB it runs on (pyproject), whose string compression (dictionary with
FSST) writes the derived tables about a fifth faster into files about half the size. The format is
chosen when the file is made and kept by every later connection; an older workspace keeps its own until
it is rewritten (``covalue compact``, :func:`covalue.rights.compact.rewrite_workspace`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

#: the database file in a workspace folder
DB_FILE = "covalue.duckdb"


def is_workspace(path: str | Path) -> bool:
    """Whether ``path`` is a workspace folder (it holds covalue's database): named where an export is
    expected, it is a mistake to point out, not an export to read."""
    p = Path(path)
    return p.is_dir() and (p / DB_FILE).is_file()


#: the format of a new workspace file: DuckDB 1.4's, the oldest DuckDB covalue runs on
STORAGE_VERSION = "v1.4.0"


def create(db: Path) -> None:
    """Make the empty file ``db`` in :data:`STORAGE_VERSION`. A connection of its own, closed at once:
    DuckDB refuses two connections to one file with different settings in a process, so the setting is
    never left on the workspace's connection."""
    duckdb.connect(str(db), config={"storage_compatibility_version": STORAGE_VERSION}).close()


def version(raw: Any) -> str:
    """The storage format of the database ``raw`` (a duckdb connection) is connected to, e.g. ``v1.4.0``
    (``v1.0.0`` for a file DuckDB's default made)."""
    row = raw.execute(
        "SELECT tags['storage_version'] FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return str(row[0] or "").rstrip("+") if row else ""


def outdated(raw: Any) -> bool:
    """Whether the file is in an older format than :data:`STORAGE_VERSION`."""

    def parts(v: str) -> tuple[int, ...]:
        return tuple(int(x) for x in v.lstrip("v").split(".") if x.isdigit())

    found = version(raw)
    return bool(found) and parts(found) < parts(STORAGE_VERSION)
