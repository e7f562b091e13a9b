"""An ingest's staging tables: where an export's rows wait until the whole export is read.

Each batch a reader hands over is committed at once into a table of the ingest's own
(``_stage_<ingest id>_<table>``), so memory holds one batch: rows appended inside an open DuckDB
transaction stay in memory until it ends, which for a 1 GB CSV grew the process past 4 GB. When the
reader is done, the workspace's tables take the staged rows in one transaction (one ``INSERT ...
SELECT`` per table, which DuckDB writes out as it goes), so readers on other cursors see none or all of an
export. A process killed while reading leaves only its staging tables and a log row saying "running":
:func:`recover` drops the one and marks the other failed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from covalue import changes, schema

#: ingests running in this process: recovery leaves them alone (another Workspace object on the same
#: file may be reading an export right now)
ACTIVE: set[str] = set()
#: what an ingest that never finished says, once the next writer has cleaned up after it
STOPPED = (
    "the process stopped before this ingest finished (killed or crashed); nothing of it was kept: "
    "ingest the export again"
)


def _prefix(ingest_id: str) -> str:
    return f"_stage_{ingest_id}_"


class Stage:
    """The staging tables of one ingest. ``add`` a batch as it comes; ``merge`` them into the
    workspace's tables (inside the caller's transaction); ``drop`` them."""

    def __init__(self, raw: Any, ingest_id: str) -> None:
        self.raw = raw
        self.prefix = _prefix(ingest_id)
        self.tables: list[str] = []
        self._seq = 0  # the order rows arrived in: the first of several rows with one key wins

    def add(self, table: str, batch: pa.Table) -> None:
        name = self.prefix + table
        cols = ", ".join(f'"{c}"' for c in schema.TABLES[table][0].names)
        if table not in self.tables:
            # typed as the workspace's table, so a first batch of nulls cannot fix a wrong type
            self.raw.execute(
                f'CREATE TABLE "{name}" AS SELECT {cols}, 0::BIGINT AS _seq FROM "{table}" LIMIT 0'
            )
            self.tables.append(table)
        seq = pa.array(range(self._seq, self._seq + batch.num_rows), pa.int64())
        self._seq += batch.num_rows
        self.raw.register("_covalue_staged", batch.append_column("_seq", seq))
        try:
            self.raw.execute(f'INSERT INTO "{name}" SELECT {cols}, _seq FROM _covalue_staged')
        finally:
            self.raw.unregister("_covalue_staged")

    def merge(self) -> dict[str, int]:
        """Add the staged rows whose key is new to the workspace's tables (the first to arrive wins
        among rows with one key); rows added per table. The winners are chosen on keys alone, then the
        wide rows stream through."""
        out = {}
        for t in self.tables:
            pk = schema.TABLES[t][1]
            cols = ", ".join(f'"{c}"' for c in schema.TABLES[t][0].names)
            name = self.prefix + t
            new_rows = (
                f'SELECT {cols} FROM "{name}" s WHERE s._seq IN ('
                f'SELECT min(_seq) FROM "{name}" WHERE "{pk}" IS NOT NULL GROUP BY "{pk}") '
                f'AND NOT EXISTS (SELECT 1 FROM "{t}" w WHERE w."{pk}" = s."{pk}")'
            )
            changes.note_added(self.raw, t, new_rows)  # the months the next analysis revisits
            added = self.raw.execute(f'INSERT INTO "{t}" {new_rows}').fetchone()
            out[t] = int(added[0]) if added else 0
        return out

    def drop(self) -> None:
        for t in self.tables:
            self.raw.execute(f'DROP TABLE IF EXISTS "{self.prefix + t}"')
        self.tables = []


def merge_new(raw: Any, table: str, stage_name: str) -> int:
    """Add the rows of ``stage_name`` (a table or registered batch) whose key is new to ``table``; the
    first occurrence wins within it. Notes the months added for the next analysis; returns the rows
    added."""
    pk = schema.TABLES[table][1]
    cols = ", ".join(f'"{c}"' for c in schema.TABLES[table][0].names)
    new_rows = (
        f"SELECT {cols} FROM ("
        f'  SELECT *, row_number() OVER (PARTITION BY "{pk}") AS _rn FROM "{stage_name}"'
        f'  WHERE "{pk}" IS NOT NULL) s '
        f'WHERE s._rn = 1 AND NOT EXISTS (SELECT 1 FROM "{table}" t WHERE t."{pk}" = s."{pk}")'
    )
    changes.note_added(raw, table, new_rows)
    inserted = raw.execute(f'INSERT INTO "{table}" {new_rows}').fetchone()
    return int(inserted[0]) if inserted else 0


def merge_batch(raw: Any, table: str, data: pa.Table) -> int:
    """:func:`merge_new` for rows in memory (typed as ``table``), through a temporary table."""
    st = f"_stage_{table}_{uuid.uuid4().hex[:8]}"
    raw.register("_covalue_batch", data)
    raw.execute(f'CREATE TEMP TABLE "{st}" AS SELECT * FROM _covalue_batch')
    raw.unregister("_covalue_batch")
    try:
        return merge_new(raw, table, st)
    finally:
        raw.execute(f'DROP TABLE IF EXISTS "{st}"')


def recover(raw: Any) -> list[str]:
    """Clean up after ingests logged as running that no process here is running any more (the process
    was killed or crashed mid-ingest): nothing of theirs reached the workspace's tables, so their
    staging tables are dropped, their rejects removed and their log rows marked failed. Returns their
    ingest ids."""
    has = raw.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'ingests' AND table_schema = 'main'"
    ).fetchone()[0]
    if not has:
        return []
    stale = [
        i
        for (i,) in raw.execute("SELECT ingest_id FROM ingests WHERE status = 'running'").fetchall()
        if i not in ACTIVE
    ]
    for ingest_id in stale:
        left = raw.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND starts_with(table_name, ?)",
            [_prefix(ingest_id)],
        ).fetchall()
        raw.execute("BEGIN TRANSACTION")
        for (name,) in left:
            raw.execute(f'DROP TABLE IF EXISTS "{name}"')
        raw.execute("DELETE FROM rejects WHERE ingest_id = ?", [ingest_id])
        raw.execute(
            "UPDATE ingests SET status = 'failed', finished_at = ?, message = ? WHERE ingest_id = ?",
            [datetime.now(UTC).replace(tzinfo=None), STOPPED, ingest_id],
        )
        raw.execute("COMMIT")
    return stale
