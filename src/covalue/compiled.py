"""The analysis's SQL, compiled once per shape and kept in the workspace.

Building the Value Maturity computation as Ibis expressions and compiling them to SQL takes about
2.5 s, whatever the data's size: on a community of 50 k actions that is three quarters of a full
analysis. The SQL depends only on the models, the settings, the analysis code, the library versions
and the columns of the tables read, never on their rows (:func:`full_run` puts the periods in a table
of their own). So a full run keeps each step's SQL in ``analysis_sql`` under a
key of all of that, and the next full run with the same key executes the kept SQL instead of
building it again. Steps run the same way both times (:func:`run`), so a kept plan gives the same
tables as a fresh one.

The few constant tables the expressions carry (the window offsets, the stage checks' specification)
are kept with the step, as Arrow, and registered again under their names when it runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir
import pyarrow as pa

from covalue import text_memo
from covalue.metrics import maturity as mt

if TYPE_CHECKING:
    from covalue.workspace import Workspace

TABLE = "analysis_sql"
#: the periods a full run computes, a table of their own so that the SQL reads no rows of data
PERIODS = "_analysis_periods"
INPUTS = ("items", "actions", "identities", "members", "spaces")


@dataclass
class Step:
    """One derived table: its column definitions (``analysis_id`` last), its SELECT, and the constant
    tables the SELECT reads, by the names it reads them under."""

    name: str
    columns: list[str]
    definitions: str
    select: str
    constants: dict[str, bytes] = field(default_factory=dict)


def full_run(
    ws: Workspace,
    analysis_id: str,
    maturity: dict[str, Any],
    roles: dict[str, Any],
    experiments: ir.Table | None,
    experiment_items: ir.Table | None,
    basis: str,
    stored: list[str] | None,
    written: Callable[[str], None],
) -> None:
    """Compute every derived table (:func:`covalue.metrics.maturity.compute`) and write it with
    ``analysis_id``, calling ``written(table)`` after each. The SQL kept for this shape runs when
    there is some; otherwise the steps are built, run and kept. ``stored`` names the workspace tables
    the experiments were read from, or is None when they were given by the caller (and may hold rows
    in the expressions themselves: then nothing is kept)."""
    from covalue.journey import DERIVED, STEP_NAMES

    con, raw = ws.con, ws.raw
    tables = {t: ws.table(t) for t in INPUTS}
    scores = text_memo.kept_scores(ws, tables["items"], roles)
    rng = mt.activity_range(tables["items"], tables["actions"]) or (0, -1)
    days = int(maturity["window"]["days"])
    con.create_table(PERIODS, ibis.memtable(mt.periods_table(*rng, days)), temp=True, overwrite=True)
    at = key(ws, basis, [*INPUTS, text_memo.TABLE, PERIODS, *stored]) if stored is not None else None
    kept = load(ws, at) if at else None
    if at and not kept and at in _RECENT:
        # another workspace of this process (a server's, a test's) compiled the same shape
        kept = _RECENT[at]
        save(ws, at, kept)
    if kept:
        _remember(at, kept)
        with fresh_tables(raw):
            for step in kept:
                run(raw, step, analysis_id)
                written(step.name)
        return
    steps: list[Step] = []

    def keep(name: str, expr: ir.Table) -> ir.Table:
        table = next((t for t in DERIVED if STEP_NAMES.get(t, t) == name), name)
        steps.append(compile_step(con, table, expr))
        run(raw, steps[-1], analysis_id)
        written(table)
        return con.table(table).drop("analysis_id")

    with fresh_tables(raw):
        mt.compute(
            tables, maturity, roles, experiments=experiments, experiment_items=experiment_items,
            periods=con.table(PERIODS), materialize=keep, scores=scores,
        )  # fmt: skip
    if at:
        save(ws, at, steps)
        _remember(at, steps)


#: the plans this process used last, by key: the SQL holds no workspace's rows or names, so a workspace
#: of the same shape can run a plan another compiled
_RECENT: dict[str, list[Step]] = {}
_RECENT_MAX = 4


def _remember(at: str | None, steps: list[Step]) -> None:
    if at is None:
        return
    _RECENT.pop(at, None)
    _RECENT[at] = steps
    while len(_RECENT) > _RECENT_MAX:
        _RECENT.pop(next(iter(_RECENT)))


def key(ws: Workspace, basis: str, inputs: list[str]) -> str:
    """What the SQL depends on: ``basis`` (:func:`covalue.changes.fingerprint`: models, settings,
    experiments, analysis code), this module, Ibis and DuckDB, the catalog and the schemas of
    ``inputs``."""
    con = ws.con
    parts: list[Any] = [basis, ibis.__version__, duckdb.__version__, con.current_catalog]
    parts.append(hashlib.sha256(Path(__file__).read_bytes()).hexdigest())
    parts += [[t, str(ws.table(t).schema())] for t in inputs]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:24]


def compile_step(con: Any, name: str, expr: ir.Table) -> Step:
    """``expr`` (the derived table ``name``) as a :class:`Step`."""
    con._run_pre_execute_hooks(expr)
    schema = expr.schema()
    defs = [c.sql("duckdb") for c in schema.to_sqlglot_column_defs("duckdb")]
    constants = {}
    for node in expr.op().find(ops.InMemoryTable):
        sink = pa.BufferOutputStream()
        data = node.data.to_pyarrow(node.schema)
        with pa.ipc.new_stream(sink, data.schema) as w:
            w.write_table(data)
        constants[node.name] = sink.getvalue().to_pybytes()
    return Step(
        name=name,
        columns=[*schema.names, "analysis_id"],
        definitions=", ".join([*defs, '"analysis_id" VARCHAR']),
        select=str(con.compile(expr)),
        constants=constants,
    )


#: DuckDB settings a derived table is computed under. interactions: each of its joins has the smaller
#: table on the right (the items, the people), but DuckDB, whose estimate of the filtered actions is far
#: too low, builds its hash table on the actions instead (1 M actions: 0.28 -> 0.18 s, 10 M: 2.60 ->
#: 2.43 s, and a smaller table in memory)
SETTINGS: dict[str, dict[str, str]] = {"interactions": {"disabled_optimizers": "build_side_probe_side"}}


@contextlib.contextmanager
def database_settings(raw: Any, chosen: dict[str, str]) -> Iterator[None]:
    """DuckDB settings in force for the block, and back to what they were after it (a workspace's own
    thread count included). They are the database's, not the connection's (DuckDB scopes these
    globally), so they are set and restored on a cursor of its own: a run failing inside a caller's
    transaction (the web app analyses an upload in one) cannot leave them on for every later query, as
    a reset on the failed transaction's connection would."""
    before = {k: setting(raw, k) for k in chosen}
    for k, v in chosen.items():
        _on_a_cursor(raw, f"SET {k} = '{v}'")
    try:
        yield
    finally:
        for k, v in before.items():
            _on_a_cursor(raw, f"SET {k} = '{v}'")


def setting(raw: Any, name: str) -> str:
    """The value of DuckDB's setting ``name``, as DuckDB shows it."""
    return str(_on_a_cursor(raw, f"SELECT current_setting('{name}')")[0])


def threads(raw: Any) -> int:
    """The threads DuckDB runs a query on."""
    return int(setting(raw, "threads"))


def one_thread(raw: Any) -> contextlib.AbstractContextManager[None]:
    """DuckDB on one thread for the block.

    An analysis that ran out of memory on every core often fits on one: each thread holds its own
    hash tables and sort runs at once (the Komodo Discord archive's 704,597 messages under the web
    app's 1 GB cap ran out of memory in `item_roles` on two threads and took 24 s on one)."""
    return database_settings(raw, {"threads": "1"})


def _on_a_cursor(raw: Any, statement: str) -> Any:
    """``statement`` run on a cursor of its own; its first row, if any."""
    cur = raw.cursor()
    try:
        return cur.execute(statement).fetchone()
    finally:
        cur.close()


def settings(raw: Any, table: str) -> contextlib.AbstractContextManager[None]:
    """:data:`SETTINGS` of the derived table ``table`` in force for the block."""
    return database_settings(raw, SETTINGS.get(table, {}))


def fresh_tables(raw: Any) -> contextlib.AbstractContextManager[None]:
    """No vacuum at the checkpoints of the block, which writes every derived table afresh.

    Two threads inserting a table leave a partly filled row group each, and a checkpoint's vacuum
    rewrites such neighbours into fewer: at 1 M actions it spent 0.22 s rewriting ``interactions`` to
    save one row group of six. A new table has no deleted rows for a vacuum to reclaim, and the next full
    run replaces it whole. An update's deletes (:mod:`covalue.incremental`) are still vacuumed, as are
    other tables' at the next checkpoint that writes them."""
    return database_settings(raw, {"max_vacuum_tasks": "0"})


def run(raw: Any, step: Step, analysis_id: str) -> None:
    """Write ``step``'s table (replacing it) with ``analysis_id`` on every row."""
    new = f"_new_{step.name}"
    cols = ", ".join(f'"{c}"' for c in step.columns)
    with constants(raw, step), settings(raw, step.name):
        raw.execute(f'CREATE OR REPLACE TABLE "{new}" ({step.definitions})')
        raw.execute(f'INSERT INTO "{new}" ({cols}) SELECT *, $aid FROM ({step.select})', {"aid": analysis_id})
        raw.execute(f'DROP TABLE IF EXISTS "{step.name}"')
        raw.execute(f'ALTER TABLE "{new}" RENAME TO "{step.name}"')


@contextlib.contextmanager
def constants(raw: Any, step: Step) -> Iterator[None]:
    """The constant tables ``step`` reads, registered on ``raw`` for the block. A constant Ibis
    registered while compiling the step stays Ibis's; only missing ones are registered here, and only
    those are let go after."""
    mine = {n: pa.ipc.open_stream(b).read_all() for n, b in step.constants.items() if not _readable(raw, n)}
    with registered(raw, mine):
        yield


@contextlib.contextmanager
def registered(raw: Any, tables: dict[str, pa.Table]) -> Iterator[None]:
    """The Arrow ``tables`` readable on ``raw`` under their names for the block, and let go after."""
    for name, table in tables.items():
        raw.register(name, table)
    try:
        yield
    finally:
        for name in tables:
            raw.unregister(name)


def _readable(raw: Any, name: str) -> bool:
    try:
        raw.execute(f'SELECT 1 FROM "{name}" LIMIT 0')
    except duckdb.Error:
        return False
    return True


def load(ws: Workspace, at: str) -> list[Step] | None:
    """The steps kept under the key ``at``, in order; None when none are."""
    raw = ws.raw
    if TABLE not in ws.con.list_tables():
        return None
    rows = raw.execute(
        f"SELECT name, columns, definitions, sql, constants FROM {TABLE} WHERE key = ? ORDER BY ord", [at]
    ).fetchall()
    if not rows:
        return None
    return [
        Step(n, json.loads(c), d, s, {k: bytes.fromhex(v) for k, v in json.loads(k_).items()})
        for n, c, d, s, k_ in rows
    ]


def save(ws: Workspace, at: str, steps: list[Step]) -> None:
    """Keep ``steps`` under ``at``, in place of whatever plan was kept (one per workspace)."""
    raw = ws.raw
    raw.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (key VARCHAR, ord INTEGER, name VARCHAR, columns VARCHAR, "
        "definitions VARCHAR, sql VARCHAR, constants VARCHAR)"
    )
    rows = pa.table(
        {
            "key": [at] * len(steps),
            "ord": pa.array(range(len(steps)), pa.int32()),
            "name": [s.name for s in steps],
            "columns": [json.dumps(s.columns) for s in steps],
            "definitions": [s.definitions for s in steps],
            "sql": [s.select for s in steps],
            "constants": [json.dumps({k: v.hex() for k, v in s.constants.items()}) for s in steps],
        }
    )
    # no transaction of its own (a caller may hold one): one statement writes the whole plan, so a
    # plan is kept whole or not at all
    raw.execute(f"DELETE FROM {TABLE}")
    raw.register("_covalue_plan", rows)
    try:
        raw.execute(f"INSERT INTO {TABLE} SELECT * FROM _covalue_plan")
    finally:
        raw.unregister("_covalue_plan")
