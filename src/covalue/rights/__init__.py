"""People own their data (DESIGN §8): forget a person everywhere, show a person everything held about
them, and keep raw exports and texts no longer than the workspace's retention settings.

* :mod:`covalue.rights.people` finds the person a request names (member id, pseudonym, email, account);
* :mod:`covalue.rights.forget` erases them from the workspace, the account store and its files;
* :mod:`covalue.rights.forget_log` keeps keyed hashes so that a re-ingest does not bring them back;
* :mod:`covalue.rights.subject_access` gathers every row held about them as one JSON document;
* :mod:`covalue.rights.retention` prunes uploads and raw texts past the retention limits;
* :mod:`covalue.rights.compact` rewrites the database files so erased bytes are really gone.
"""

from __future__ import annotations

FORMER_MEMBER = "a former member"
"""What is shown in place of a forgotten person: as the author of items others replied to, and in
others' texts that named them."""


def text_columns(ws: object, table: str) -> list[str]:
    """The text (VARCHAR) columns of one workspace table."""
    rows = ws.raw.execute(  # type: ignore[attr-defined]
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND data_type = 'VARCHAR' "
        "ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [c for (c,) in rows]


def base_tables(ws: object) -> list[str]:
    """The tables stored in the workspace database (not views, not a connection's temporary tables)."""
    rows = ws.raw.execute(  # type: ignore[attr-defined]
        "SELECT table_name FROM duckdb_tables() WHERE NOT temporary AND database_name = current_database() "
        "ORDER BY 1"
    ).fetchall()
    return [t for (t,) in rows]
