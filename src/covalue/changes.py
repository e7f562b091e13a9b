"""What changed since the last analysis, and whether the next one can build on it.

Every write to ``items`` or ``actions`` notes the (community, month) of the rows it adds in
``changed_months`` (:func:`note_added`); a delete or an in-place rewrite notes "everything"
(:func:`note_everything`). Each analysis records what shaped it besides the canonical rows (the models,
the settings it reads, the experiment tables, the spaces) in ``analysis_basis`` and ``analysis_spaces``
(:func:`settle`). :func:`plan` reads both: the months to revisit, or why the next run must be full.
:mod:`covalue.incremental` does the revisiting.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis.expr.types as ir

from covalue.periods import month_start

if TYPE_CHECKING:
    from covalue.workspace import Workspace

#: (community, month) of rows added since the last analysis; a null month means "everything"
CHANGES = "changed_months"
#: per analysis, the fingerprint of what shaped it (models, settings, spaces, experiments)
BASIS = "analysis_basis"
#: the spaces as the last analysis read them (a new space is harmless; a renamed or moved one is not)
SPACES = "analysis_spaces"
MONTH_SQL = "(year({c}) * 12 + month({c}) - 1)"
_TIME = {"items": "created_at", "actions": "ts"}


def _ensure(raw: Any) -> None:
    raw.execute(
        f"CREATE TABLE IF NOT EXISTS {CHANGES} (community_id VARCHAR, month BIGINT, "
        "noted_at TIMESTAMP DEFAULT current_localtimestamp())"
    )


def note_added(raw: Any, table: str, rows_sql: str) -> None:
    """Note the months of the rows ``rows_sql`` (a SELECT over rows about to be added to ``table``)."""
    col = _TIME.get(table)
    if col is None:
        return
    _ensure(raw)
    raw.execute(
        f"INSERT INTO {CHANGES} (community_id, month) SELECT DISTINCT community_id, "
        f"{MONTH_SQL.format(c=col)} FROM ({rows_sql}) _added"
    )


def note_everything(raw: Any) -> None:
    """Rows were deleted or rewritten in place: the next analysis runs in full."""
    _ensure(raw)
    raw.execute(f"INSERT INTO {CHANGES} (community_id, month) VALUES (NULL, NULL)")


# -- deciding ----------------------------------------------------------------------------------------
def _code() -> str:
    """A hash of the code that computes the derived tables: a release that computes them otherwise
    (or keeps other columns) starts with a full run rather than mixing its rows with the old ones."""
    from covalue import incremental, metrics, touched

    h = hashlib.sha256()
    code = [
        *sorted(Path(metrics.__file__).parent.glob("*.py")),
        Path(incremental.__file__),
        Path(touched.__file__),
    ]
    for path in code:
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def fingerprint(ws: Workspace, maturity: dict[str, Any], roles: dict[str, Any]) -> str:
    """What shapes every result besides the canonical rows: the models, the settings read by the
    analysis, the experiment tables people edit in the web app, and the analysis code itself."""
    from covalue import journey

    parts: list[Any] = [maturity, roles, _code()]
    existing = set(ws.con.list_tables())
    for t in (journey.EXPERIMENTS_TABLE, journey.EXPERIMENT_ITEMS_TABLE):
        if t in existing:
            rows = ws.raw.execute(
                f"SELECT md5(string_agg(x::VARCHAR, '|' ORDER BY x::VARCHAR)) FROM \"{t}\" x"
            )
            parts.append([t, rows.fetchone()[0]])
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def settle(ws: Workspace, analysis_id: str, print_: str, since: datetime) -> None:
    """Record the analysis's fingerprint and clear the changes it took in (noted before ``since``)."""
    raw = ws.raw
    _ensure(raw)
    raw.execute(f"CREATE TABLE IF NOT EXISTS {BASIS} (analysis_id VARCHAR, fingerprint VARCHAR)")
    raw.execute(f"DELETE FROM {BASIS}")
    raw.execute(f"INSERT INTO {BASIS} VALUES (?, ?)", [analysis_id, print_])
    raw.execute(f"CREATE OR REPLACE TABLE {SPACES} AS SELECT {_SPACE_COLS} FROM spaces")
    raw.execute(f"DELETE FROM {CHANGES} WHERE noted_at <= ?", [since])


@dataclass
class Plan:
    """What an incremental run starts from: the changed months, or why it must run in full."""

    full_reason: str | None = None
    months: list[int] = field(default_factory=list)
    since: datetime | None = None


#: an update recomputes only what changed while the months that changed hold less than this share of
#: the items; beyond it a full run is quicker
FULL_SHARE = 0.25


def plan(ws: Workspace, print_: str, roles: dict[str, Any], derived: tuple[str, ...]) -> Plan:
    """Whether the last analysis can be brought up to date, and from which months."""
    raw = ws.raw
    existing = set(ws.con.list_tables())
    if BASIS not in existing or CHANGES not in existing or not all(t in existing for t in derived):
        return Plan("no earlier analysis to build on")
    basis = raw.execute(f"SELECT analysis_id, fingerprint FROM {BASIS}").fetchall()
    last = raw.execute("SELECT analysis_id FROM analyses ORDER BY finished_at DESC LIMIT 1").fetchall()
    if not basis or not last or basis[0][0] != last[0][0]:
        return Plan("the last analysis left no basis")
    if basis[0][1] != print_:
        return Plan("the models, the settings, the experiments or the analysis code changed")
    since = raw.execute("SELECT current_localtimestamp()").fetchone()[0]
    rows = raw.execute(f"SELECT DISTINCT month FROM {CHANGES} WHERE noted_at <= ?", [since]).fetchall()
    if any(m is None for (m,) in rows):
        return Plan("rows were deleted or rewritten")
    months = sorted(int(m) for (m,) in rows)
    if months:
        # items the last analysis did not classify are the new ones
        new, total = raw.execute(
            "SELECT count(*) FILTER (WHERE r.item_id IS NULL), count(*) FROM items i "
            "LEFT JOIN (SELECT item_id FROM item_roles) r USING (item_id)"
        ).fetchone()
        if total and new >= FULL_SHARE * total:
            # a large upload into a small workspace: reading every thread it touches costs more than
            # analysing everything again (and holds more in memory at once)
            return Plan(f"{new:,} of {total:,} items are new")
        floor = ws.settings.analysis.update_from_actions
        n = raw.execute("SELECT count(*) FROM actions").fetchone()[0] if floor else 0
        if n < floor:
            # a small workspace: a full run from the kept SQL is as quick as an update's fixed cost
            return Plan(f"{n:,} actions, fewer than the {floor:,} from which an update is quicker")
    answer_kinds = list(roles["structure"]["answer_kinds"]) or ["\x00"]
    marks = ",".join("?" * len(answer_kinds))
    differ = raw.execute(
        f"SELECT count(*) FROM ((SELECT DISTINCT community_id FROM items WHERE kind IN ({marks})) "
        f"EXCEPT (SELECT DISTINCT community_id FROM item_roles WHERE kind IN ({marks})))",
        [*answer_kinds, *answer_kinds],
    ).fetchone()[0]
    if differ:
        return Plan("a community now marks answers")
    return Plan(None, months, since)


def in_months(col: str, months: list[int]) -> str:
    """A SQL predicate: ``col`` falls in one of ``months`` (ranges, so zone maps can skip blocks)."""
    spans: list[tuple[int, int]] = []
    for m in months:
        if spans and spans[-1][1] == m - 1:
            spans[-1] = (spans[-1][0], m)
        else:
            spans.append((m, m))
    return (
        "("
        + " OR ".join(
            f"({col} >= TIMESTAMP '{month_start(a)}' AND {col} < TIMESTAMP '{month_start(b + 1)}')"
            for a, b in spans
        )
        + ")"
        if spans
        else "FALSE"
    )


def people_ok(ws: Workspace, who: ir.Table, months: list[int]) -> bool:
    """People changed only by accounts no older row names (new people in the new rows)."""
    ws.con.create_table("_inc_people", who, temp=True, overwrite=True)
    refs = [("items", "author_id"), ("actions", "actor_id"), ("actions", "target_id")]
    cols = "identity_id, member_id, is_bot"
    return _only_added(ws.raw, "analysis_people", "_inc_people", cols, "identity_id", months, refs)


_SPACE_COLS = "space_id, source, name, kind, community_id"


def spaces_ok(ws: Workspace, months: list[int]) -> bool:
    """Spaces changed only by spaces no older row names (a new channel): the snapshot kept by
    :func:`settle` against the table now."""
    if SPACES not in set(ws.con.list_tables()):
        return False
    refs = [("items", "space_id"), ("actions", "space_id")]
    return _only_added(ws.raw, SPACES, "spaces", _SPACE_COLS, "space_id", months, refs)


def _only_added(
    raw: Any, kept: str, now: str, cols: str, key: str, months: list[int], refs: list[tuple[str, str]]
) -> bool:
    """Every row of ``kept`` (the last analysis's snapshot) is still in ``now``, and the rows added
    since are named by no row older than ``months`` (through the ``refs`` columns)."""
    gone = raw.execute(
        f"SELECT count(*) FROM (SELECT {cols} FROM {kept} EXCEPT SELECT {cols} FROM {now})"
    ).fetchone()[0]
    if gone:
        return False
    scratch = f"_inc_new_{now.strip('_')}"
    raw.execute(
        f"CREATE OR REPLACE TEMP TABLE {scratch} AS SELECT {key} AS id FROM "
        f"(SELECT {cols} FROM {now} EXCEPT SELECT {cols} FROM {kept})"
    )
    return _unseen_before(raw, scratch, months, refs)


def _unseen_before(raw: Any, ids: str, months: list[int], refs: list[tuple[str, str]]) -> bool:
    if not raw.execute(f"SELECT count(*) FROM {ids}").fetchone()[0]:
        return True
    for table, col in refs:
        old = raw.execute(
            f'SELECT count(*) FROM "{table}" WHERE "{col}" IN (SELECT id FROM {ids}) '
            f"AND NOT coalesce({in_months(_TIME[table], months)}, FALSE)"
        ).fetchone()[0]
        if old:
            return False
    return True
