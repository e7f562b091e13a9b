"""The lake: a workspace's canonical tables as Parquet, and the value-journey analysis run on a Spark
cluster over them.

    export_parquet(ws, "/shared/lake")                  # items/community=.../month=2025-03/*.parquet ...
    analyze_on_spark(ws, "/shared/lake", master="spark://head:7077")

The export carries the pseudonymous ids the workspace holds and leaves out every column that could
name a person (display names, platform account ids, email hashes); items keep their titles and texts,
which the classification reads. Spark runs the same Ibis pipeline (:func:`covalue.metrics.maturity.compute`)
and writes each derived table under ``derived/<analysis id>/<table>/``; the workspace's derived tables then
become DuckDB views over that Parquet, so ``report``, ``health`` and ``serve`` read them unchanged.
A later DuckDB run replaces the views by tables of its own (:func:`detach`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from covalue import schema

if TYPE_CHECKING:
    from covalue.journey import AnalysisResult
    from covalue.workspace import Workspace

ENGINES = ("duckdb", "spark")
#: the tables written, in this order; the experiment tables only when the workspace has them
TABLES = ("communities", "spaces", "members", "identities", "items", "actions")
EXPERIMENT_TABLES = ("experiment_participants", "experiment_items")
#: fact tables, partitioned by community and by the month of this column
PARTITIONED = {"items": "created_at", "actions": "ts"}
#: columns never exported: they can name a person, and the analysis does not read them
LEFT_OUT = {"identities": ("native_id", "display_name", "email_hash")}
MANIFEST = "_covalue.json"
DERIVED_DIR = "derived"
FORMAT = 1


class LakeError(Exception):
    """The lake cannot be written or read as asked; the message says what to do."""


@dataclass
class ExportResult:
    path: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "rows": self.rows, "seconds": round(self.seconds, 3)}


# -- export ------------------------------------------------------------------------------------------
def _sql_path(p: Path) -> str:
    return "'" + str(p).replace("'", "''") + "'"


def _fingerprint(ws: Workspace, names: list[str]) -> dict[str, int]:
    """Row counts that change whenever an ingest, a merge or a forget changes what the lake should hold."""
    q = ws.raw.execute
    out = {t: int(q(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in names}
    out["merges"] = int(q("SELECT count(*) FROM merges").fetchone()[0])
    out["merges undone"] = int(q("SELECT count(*) FROM merges WHERE undone_at IS NOT NULL").fetchone()[0])
    out["ingests"] = int(q("SELECT count(*) FROM ingests").fetchone()[0])
    return out


def export_parquet(
    ws: Workspace, directory: str | Path, *, progress: Callable[[str, int, int], None] | None = None
) -> ExportResult:
    """Write the canonical tables as Parquet under ``directory``: ``items`` and ``actions`` partitioned
    by community and month (hive style: ``items/community=<id>/month=YYYY-MM/``; ``community`` and
    ``month`` are path keys only, the files keep ``community_id`` and the timestamps), the smaller
    tables as one file each. A folder holding anything but an earlier export is refused; each table
    replaces its earlier version whole."""
    t0 = time.perf_counter()
    root = Path(directory).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise LakeError(f"{root} is a file; give a folder for the Parquet lake")
    if root.is_dir() and any(root.iterdir()) and not (root / MANIFEST).exists():
        raise LakeError(f"{root} holds other files; give an empty folder or one an earlier export wrote")
    root.mkdir(parents=True, exist_ok=True)
    ws.ensure_tables()
    existing = set(ws.con.list_tables())
    names = [*TABLES, *(t for t in EXPERIMENT_TABLES if t in existing)]
    result = ExportResult(path=str(root))
    for i, name in enumerate(names):
        result.rows[name] = _export_table(ws, root, name)
        if progress:
            progress(name, i + 1, len(names))
    manifest = {
        "format": FORMAT,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "workspace": str(ws.path.resolve()),
        "tables": {n: {"rows": result.rows[n], "partitioned_by": _partitions(n)} for n in names},
        "left_out": {t: list(c) for t, c in LEFT_OUT.items()},
        "fingerprint": _fingerprint(ws, [*TABLES]),
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    result.seconds = time.perf_counter() - t0
    return result


def _partitions(name: str) -> list[str]:
    return ["community", "month"] if name in PARTITIONED else []


def _export_table(ws: Workspace, root: Path, name: str) -> int:
    """One table into a fresh folder beside its old version, then swapped in (a reader of the lake
    never sees half a table)."""
    cols = [c for c in ws.table(name).columns if c not in LEFT_OUT.get(name, ())]
    select = ", ".join(f'"{c}"' for c in cols)
    n = int(ws.raw.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])
    # names starting with "." are skipped by Spark's and DuckDB's readers of the lake
    fresh = root / f".{name}.{uuid.uuid4().hex[:8]}"
    fresh.mkdir()
    try:
        if name in PARTITIONED and n:
            ts = PARTITIONED[name]
            ws.raw.execute(
                f"COPY (SELECT {select}, community_id AS community, strftime(\"{ts}\", '%Y-%m') AS month "
                f'FROM "{name}") TO {_sql_path(fresh / "data")} '
                "(FORMAT parquet, PARTITION_BY (community, month), COMPRESSION zstd)"
            )
            for part in (fresh / "data").iterdir():  # the partitions sit directly under the table
                part.rename(fresh / part.name)
            (fresh / "data").rmdir()
        else:  # one file, written even when empty so that readers learn the columns
            ws.raw.execute(
                f'COPY (SELECT {select} FROM "{name}") TO {_sql_path(fresh / "part-0.parquet")} '
                "(FORMAT parquet, COMPRESSION zstd)"
            )
        old = root / name
        if old.exists():
            gone = root / f".{name}.old-{uuid.uuid4().hex[:8]}"
            old.rename(gone)
            fresh.rename(old)
            shutil.rmtree(gone, ignore_errors=True)
        else:
            fresh.rename(old)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    return n


@dataclass
class ImportResult:
    path: str
    read: dict[str, int] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)
    #: rows of people forgotten in this workspace, left out as an ingest leaves them out
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "read": self.read,
            "added": self.added,
            "skipped_forgotten": self.skipped,
            "seconds": round(self.seconds, 2),
        }


def import_parquet(
    ws: Workspace, directory: str | Path, *, progress: Callable[[str, int, int], None] | None = None
) -> ImportResult:
    """Add the canonical tables of a lake :func:`export_parquet` wrote (from this workspace or another)
    to ``ws``, as an ingest adds rows: those whose key is new, in one transaction, so importing twice
    adds nothing. The ids stay the pseudonyms the exporting workspace gave, so import into a fresh
    workspace or the one the lake came from (people read again from their platform's export would get
    this workspace's pseudonyms and count twice). The columns left out at export stay empty."""
    from covalue import communities, staging
    from covalue.rights.forget_log import SkipList

    t0 = time.perf_counter()
    root = Path(directory).expanduser().resolve()
    manifest = read_manifest(root)
    if manifest.get("format") != FORMAT:
        raise LakeError(f"{root} was written by another version of covalue (format {manifest.get('format')})")
    ws.ensure_tables()
    raw = ws.raw
    names = [t for t in TABLES if t in manifest.get("tables", {})]
    result = ImportResult(path=str(root))
    skip = SkipList.load(ws)  # a lake exported before a forget does not bring the person back
    with ws.transaction():
        for i, name in enumerate(names):
            files = sorted(p for p in (root / name).rglob("*.parquet") if not _hidden(p, root))
            result.read[name] = result.added[name] = 0
            if files:
                listed = ", ".join(_sql_path(f) for f in files)
                src = f"read_parquet([{listed}], hive_partitioning = false, union_by_name = true)"
                have = {r[0] for r in raw.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
                cols = ", ".join(f'"{c}"' for c in ws.table(name).columns if c in have)
                stage = f"_import_{name}"
                raw.execute(f'CREATE OR REPLACE TEMP TABLE {stage} AS SELECT * FROM "{name}" LIMIT 0')
                raw.execute(f"INSERT INTO {stage} BY NAME SELECT {cols} FROM {src}")
                result.read[name] = int(raw.execute(f"SELECT count(*) FROM {stage}").fetchone()[0])
                if skip.active:
                    kept = skip.filter(name, raw.execute(f"SELECT * FROM {stage}").fetch_arrow_table())
                    result.added[name] = staging.merge_batch(raw, name, kept)
                else:
                    result.added[name] = staging.merge_new(raw, name, stage)
                raw.execute(f"DROP TABLE {stage}")
            if progress:
                progress(name, i + 1, len(names))
        communities.apply(raw)  # spaces moved to another community here stay there
    result.skipped = dict(skip.skipped)
    result.seconds = time.perf_counter() - t0
    return result


def forget_in_lake(ws: Workspace) -> int:
    """After ``covalue forget``: the workspace's own lake (``[analysis] lake``), when it holds this
    workspace's export, is exported again, so the person is gone from it too, and the derived Parquet of
    earlier Spark runs is removed (with the views reading it; the analysis after a forget writes its
    own). Returns the tables written again: 0 when there is no lake, or it is another workspace's."""
    where = ws.settings.analysis.lake
    if not where:
        return 0
    root = lake_root(ws, where)
    if (
        not (root / MANIFEST).exists()
        or Path(read_manifest(root).get("workspace") or "") != ws.path.resolve()
    ):
        return 0
    written = export_parquet(ws, root)
    runs = root / DERIVED_DIR
    if runs.is_dir():
        detach(ws)
        for d in runs.iterdir():
            if d.is_dir() and (d / MANIFEST).exists():
                shutil.rmtree(d, ignore_errors=True)
    return len(written.rows)


def _hidden(p: Path, root: Path) -> bool:
    """A file of a table being replaced, or of an old version (their folders start with ".")."""
    return any(part.startswith(".") for part in p.relative_to(root).parts)


def read_manifest(root: Path) -> dict[str, Any]:
    try:
        return json.loads((root / MANIFEST).read_text())
    except FileNotFoundError:
        raise LakeError(f"{root} holds no covalue export") from None
    except ValueError as e:
        raise LakeError(f"{root / MANIFEST} is damaged ({e}); export again") from None


def refresh(ws: Workspace, root: Path) -> bool:
    """Export the workspace into ``root`` when it holds no export yet, or one older than the
    workspace's last ingest, merge or forget (True when it did). A lake another workspace exported
    is refused: its results would be shown as this one's."""
    if not (root / MANIFEST).exists():
        export_parquet(ws, root)
        return True
    manifest = read_manifest(root)
    source = manifest.get("workspace")
    if source and Path(source) != ws.path.resolve():
        raise LakeError(f"{root} holds an export of {source}, not of {ws.path.resolve()}; give another lake")
    ws.ensure_tables()
    if manifest.get("fingerprint") == _fingerprint(ws, [*TABLES]):
        return False
    export_parquet(ws, root)
    return True


# -- engine choice -----------------------------------------------------------------------------------
@dataclass
class Engine:
    name: str
    spark_master: str | None = None
    lake: Path | None = None
    spark_conf: dict[str, str] = field(default_factory=dict)


def engine_for(
    ws: Workspace, engine: str | None = None, spark_master: str | None = None, lake: str | Path | None = None
) -> Engine:
    """The engine a run uses: the arguments, else ``[analysis]`` in covalue.toml; a Spark run needs a
    master and a lake (a relative lake path is taken from the workspace)."""
    an = ws.settings.analysis
    name = engine or an.engine
    if name not in ENGINES:
        raise LakeError(f"unknown engine {name!r}: use one of {', '.join(ENGINES)}")
    if name == "duckdb":
        return Engine("duckdb")
    master = spark_master or an.spark_master
    where = lake or an.lake
    if not master:
        raise LakeError("the spark engine needs a master: --spark-master spark://host:7077 (or spark_master)")
    if not where:
        raise LakeError(
            "the spark engine needs a lake: --lake DIR, a folder `covalue export --parquet` wrote"
        )
    return Engine("spark", master, lake_root(ws, where), {k: str(v) for k, v in an.spark_conf.items()})


def lake_root(ws: Workspace, where: str | Path) -> Path:
    """The lake folder ``where`` names; a relative path is taken from the workspace."""
    path = Path(where).expanduser()
    return (path if path.is_absolute() else ws.path / path).resolve()


# -- Spark ---------------------------------------------------------------------------------------------
#: settings every covalue session gets (the user's spark_conf may override them)
SESSION_DEFAULTS = {
    "spark.sql.session.timeZone": "UTC",  # months and windows are cut in UTC, as on DuckDB
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",  # what DuckDB reads as TIMESTAMP
    "spark.sql.execution.arrow.pyspark.enabled": "true",  # small tables reach Spark without Python workers
    "spark.ui.showConsoleProgress": "false",
}


def spark_session(master: str, conf: dict[str, str] | None = None, *, warehouse: str | None = None) -> Any:
    """A Spark session on ``master`` with covalue's settings and ``conf``."""
    try:
        from pyspark import SparkContext
        from pyspark.sql import SparkSession
    except ImportError:
        raise LakeError("the spark engine needs PySpark: pip install 'covalue[spark]'") from None
    running = SparkContext._active_spark_context
    if running is not None and running.master != master:
        raise LakeError(f"this process already runs Spark on {running.master}; stop it, or pass that session")
    builder = SparkSession.builder.master(master).appName("covalue analyze")
    settings = {
        **SESSION_DEFAULTS,
        "spark.sql.warehouse.dir": warehouse or tempfile.mkdtemp(),
        **(conf or {}),
    }
    for k, v in settings.items():
        builder = builder.config(k, v)
    try:
        session = builder.getOrCreate()
    except Exception as e:  # no Java, or a master that refuses us
        raise LakeError(f"could not start Spark on {master}: {str(e).splitlines()[0][:300]}") from None
    session.sparkContext.setLogLevel("ERROR")
    return session


def _read_lake_table(con: Any, root: Path, name: str, run: str) -> ir.Table | None:
    """A lake table with the canonical columns and types (columns the export left out come back null)."""
    path = root / name
    if not path.is_dir():
        return None
    t = con.read_parquet(str(path), table_name=f"covalue_lake_{name}_{run}")
    if name not in schema.TABLES:  # the experiment tables: taken as they are
        return t
    # timestamps without a scale: the type Spark gives the derived tables read back, so that the
    # pipeline's unions of canonical and derived columns agree
    canonical = {
        c: dt.Timestamp(timezone=typ.timezone) if typ.is_timestamp() else typ
        for c, typ in ibis.Schema.from_pyarrow(schema.TABLES[name][0]).items()
    }
    return t.select(
        **{c: (t[c].cast(typ) if c in t.columns else ibis.null(typ)) for c, typ in canonical.items()}
    )


def analyze_on_spark(
    ws: Workspace,
    lake: str | Path,
    *,
    master: str | None = None,
    session: Any = None,
    conf: dict[str, str] | None = None,
    experiments: Any = None,
    experiment_items: Any = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> AnalysisResult:
    """Run the value-journey analysis on Spark (``session``, or a new one on ``master``) over the lake
    an export wrote, write the derived tables under ``<lake>/derived/<analysis id>/``, point the
    workspace's derived tables at them and log the run in ``analyses``.

    The lake is brought up to date first (:func:`refresh`)."""
    from covalue import journey
    from covalue.metrics import maturity as mt

    root = Path(lake).expanduser().resolve()
    refresh(ws, root)
    maturity, roles = journey.load_models(ws)
    run = journey.AnalysisResult(
        analysis_id=datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    )
    started = datetime.now(UTC).replace(tzinfo=None)
    t_all = time.perf_counter()
    out_dir = root / DERIVED_DIR / run.analysis_id
    own = session is None
    if own and not master:
        raise LakeError("give a Spark master (spark://host:7077) or a session")
    warehouse = tempfile.mkdtemp(prefix="covalue-spark-")
    tag = run.analysis_id.replace("-", "_")
    schemas: dict[str, ibis.Schema] = {}
    try:
        if own:
            session = spark_session(master, conf, warehouse=warehouse)
        con = ibis.pyspark.connect(session)
        tables = {
            n: _read_lake_table(con, root, n, tag) for n in ("items", "actions", "identities", "members")
        }
        missing = [n for n, t in tables.items() if t is None]
        if missing:
            raise LakeError(f"{root} has no {', '.join(missing)}; export again")
        spaces = _read_lake_table(con, root, "spaces", tag)
        if spaces is not None:
            tables["spaces"] = spaces
        step = [time.perf_counter()]

        def keep(name: str, expr: ir.Table) -> ir.Table:
            table = next((t for t in journey.DERIVED if journey.STEP_NAMES.get(t, t) == name), name)
            expr = expr.mutate(analysis_id=ibis.literal(run.analysis_id))
            schemas[table] = expr.schema()
            con.to_parquet(expr, out_dir / table)
            back = con.read_parquet(str(out_dir / table), table_name=f"covalue_{table}_{tag}")
            # counted from the files' footers here: a Spark job per count costs seconds on a busy cluster
            run.rows[table] = _parquet_rows(ws, out_dir / table)
            t = time.perf_counter()
            run.seconds[table], step[0] = t - step[0], t
            if progress:
                progress(table, len(run.rows), len(journey.DERIVED))
            return back.drop("analysis_id")

        ex = _given_or_lake(con, root, EXPERIMENT_TABLES[0], experiments, tag)
        items = (
            _given_or_lake(con, root, EXPERIMENT_TABLES[1], experiment_items, tag) if ex is not None else None
        )
        mt.compute(
            tables,
            maturity,
            roles,
            experiments=journey.experiment_table(ws, ex) if ex is not None else None,
            experiment_items=journey.experiment_item_table(ws, items) if items is not None else None,
            materialize=keep,
        )
    finally:
        if own and session is not None:
            session.stop()
        shutil.rmtree(warehouse, ignore_errors=True)
    (out_dir / MANIFEST).write_text(
        json.dumps(
            {
                "analysis_id": run.analysis_id,
                "tables": {n: {"rows": run.rows[n], "columns": _columns(s)} for n, s in schemas.items()},
            },
            indent=2,
        )
        + "\n"
    )
    run.total_seconds = time.perf_counter() - t_all
    with ws.transaction():
        attach(ws, out_dir)
        journey.log_analysis(ws, run, started, maturity, roles)
    _remove_other_runs(root, run.analysis_id)
    return run


def _parquet_rows(ws: Workspace, folder: Path) -> int:
    if not any(folder.glob("*.parquet")):
        return 0
    sql = f"SELECT sum(num_rows) FROM parquet_file_metadata({_sql_path(folder / '*.parquet')})"
    return int(ws.raw.execute(sql).fetchone()[0] or 0)


def _given_or_lake(con: Any, root: Path, name: str, given: Any, tag: str) -> ir.Table | None:
    """Experiment rows handed in (from any engine: they are carried over as Arrow) or the lake's."""
    if given is None:
        return _read_lake_table(con, root, name, tag)
    data = given.to_pyarrow() if isinstance(given, ir.Table) else given
    return ibis.memtable(data)


def _columns(s: ibis.Schema) -> list[list[str]]:
    return [[n, str(t)] for n, t in s.items()]


def _remove_other_runs(root: Path, keep: str) -> None:
    """Earlier runs' derived Parquet: no workspace view reads them once this run's are in place."""
    base = root / DERIVED_DIR
    for d in base.iterdir():
        if d.is_dir() and d.name != keep and (d / MANIFEST).exists():
            shutil.rmtree(d, ignore_errors=True)


# -- the workspace's view of derived Parquet ----------------------------------------------------------
def _duckdb_type(t: dt.DataType) -> str:
    from ibis.backends.sql.datatypes import DuckDBType

    if t.is_timestamp():
        return "TIMESTAMP" if t.timezone is None else "TIMESTAMPTZ"
    return DuckDBType.to_string(t)


def object_kinds(ws: Workspace) -> dict[str, str]:
    """Each table and view of the workspace's schema, with its type (``BASE TABLE`` or ``VIEW``)."""
    rows = ws.raw.execute(
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = current_schema()"
    ).fetchall()
    return {n: k for n, k in rows}


def attach(ws: Workspace, run_dir: str | Path) -> None:
    """Make each derived table of the workspace a view over a Spark run's Parquet (``run_dir``, with its
    manifest), cast to the types a DuckDB run gives, so every reader sees the same columns."""
    from covalue.journey import DERIVED

    run_dir = Path(run_dir).resolve()
    info = read_manifest(run_dir)["tables"]
    kinds = object_kinds(ws)
    for name in DERIVED:
        cols = [(c, _duckdb_type(ibis.dtype(t))) for c, t in info[name]["columns"]]
        files = list((run_dir / name).glob("*.parquet"))
        select = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in cols)
        if files:
            source = f"read_parquet({_sql_path(run_dir / name / '*.parquet')})"
        else:  # Spark wrote no file for an empty table
            source = "(SELECT " + ", ".join(f'NULL AS "{c}"' for c, _ in cols) + ") WHERE false"
        if kinds.get(name) == "BASE TABLE":
            ws.raw.execute(f'DROP TABLE "{name}"')
        ws.raw.execute(f'CREATE OR REPLACE VIEW "{name}" AS SELECT {select} FROM {source}')


def detach(ws: Workspace) -> None:
    """Drop the views a Spark run left, so a DuckDB run can write its own derived tables."""
    from covalue.journey import DERIVED

    kinds = object_kinds(ws)
    for name in DERIVED:
        if kinds.get(name) == "VIEW":
            ws.raw.execute(f'DROP VIEW "{name}"')
