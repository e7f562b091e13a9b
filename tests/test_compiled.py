"""The analysis's SQL kept per workspace (covalue.compiled): a full run with nothing new in its shape
runs the kept SQL without building the Ibis expressions again, and writes exactly the tables a fresh
build writes; anything the SQL depends on gives a fresh build."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

import covalue
from covalue import compiled, journey
from covalue.metrics import maturity as mt

MINI = Path(__file__).parent / "data" / "mini"


@pytest.fixture
def ws(crafts_and_makers):
    return crafts_and_makers


def _tables(w) -> dict[str, list[tuple]]:
    out = {}
    for t in journey.DERIVED:
        cols = ", ".join(f'"{c}"' for c in w.table(t).columns if c != "analysis_id")
        out[t] = sorted(w.raw.execute(f'SELECT {cols} FROM "{t}"').fetchall(), key=repr)
    return out


def _types(w) -> dict[str, list[tuple]]:
    return {t: w.raw.execute(f'DESCRIBE "{t}"').fetchall() for t in journey.DERIVED}


@pytest.fixture
def builds(monkeypatch, count_calls) -> list[int]:
    """Counts the Ibis builds of the whole computation (with no plan remembered by the process)."""
    monkeypatch.setattr(compiled, "_RECENT", {})
    return count_calls(mt, "compute")


def test_a_second_full_run_reads_the_kept_sql_and_writes_the_same_tables(ws, builds):
    first = journey.analyze(ws, full=True)
    fresh, types = _tables(ws), _types(ws)
    assert len(builds) == 1
    kept = ws.raw.execute(f"SELECT count(*), count(DISTINCT key) FROM {compiled.TABLE}").fetchone()
    assert kept == (len(journey.DERIVED), 1)
    # in a new connection: the constant tables the SQL reads must come from the kept plan alone
    path = ws.path
    ws.close()
    w = covalue.open(path)
    try:
        again = journey.analyze(w, full=True)
        assert len(builds) == 1, "the second run built the expressions again"
        assert _tables(w) == fresh
        assert _types(w) == types
        assert again.rows == first.rows
        ids = w.raw.execute('SELECT DISTINCT analysis_id FROM "member_stages"').fetchall()
        assert ids == [(again.analysis_id,)]
    finally:
        w.close()


def test_what_the_sql_depends_on_gives_a_fresh_build(ws, builds):
    journey.analyze(ws, full=True)
    journey.analyze(ws, full=True)
    assert len(builds) == 1
    # a column more in an input table
    ws.raw.execute("ALTER TABLE members ADD COLUMN nickname VARCHAR")
    journey.analyze(ws, full=True)
    assert len(builds) == 2
    # a setting the analysis reads
    ws.settings.analysis.window_days = 60
    journey.analyze(ws, full=True)
    assert len(builds) == 3
    assert ws.raw.execute(f"SELECT count(DISTINCT key) FROM {compiled.TABLE}").fetchone()[0] == 1


def test_experiments_given_by_the_caller_are_never_kept(ws, builds):
    journey.analyze(ws, full=True)
    member, community, period = ws.raw.execute(
        "SELECT member_id, community_id, period FROM member_stages WHERE active ORDER BY ALL LIMIT 1"
    ).fetchone()
    done = pd.Timestamp(f"{period}-10")
    frame = pd.DataFrame({"member_id": [member], "community_id": [community], "completed_at": [done]})
    before = ws.raw.execute(f"SELECT key FROM {compiled.TABLE} LIMIT 1").fetchone()
    for _ in range(2):
        journey.analyze(ws, full=True, experiments=frame)
    assert len(builds) == 3, "experiments given as rows must be built every time"
    assert ws.raw.execute(f"SELECT key FROM {compiled.TABLE} LIMIT 1").fetchone() == before
    listed = "SELECT max(experiments) FROM member_stages WHERE member_id = ? AND period = ?"
    assert ws.raw.execute(listed, [member, period]).fetchone()[0] == 1


def test_a_workspace_of_the_same_shape_runs_the_plan_another_compiled(ws, tmp_path, builds, monkeypatch):
    journey.analyze(ws, full=True)
    other = covalue.init(tmp_path / "other")
    try:
        other.ingest([MINI / "slack" / "makers-guild"])
        journey.analyze(other, full=True)
        assert len(builds) == 1, "the same shape was built twice in one process"
        kept = ws.raw.execute(f"SELECT key FROM {compiled.TABLE} LIMIT 1").fetchone()
        assert other.raw.execute(f"SELECT key FROM {compiled.TABLE} LIMIT 1").fetchone() == kept
        # its tables are its own: what a fresh build on it writes
        got = _tables(other)
        monkeypatch.setattr(compiled, "_RECENT", {})
        other.raw.execute(f"DROP TABLE {compiled.TABLE}")
        journey.analyze(other, full=True)
        assert len(builds) == 2
        assert _tables(other) == got
        assert got["member_stages"] and got["member_stages"] != _tables(ws)["member_stages"]
    finally:
        other.close()


def test_a_full_run_writes_its_tables_without_vacuum_and_resets_the_settings(ws, monkeypatch):
    """The checkpoints of a full run rewrite no row groups of the tables it has just written
    (compiled.fresh_tables), whether it builds the SQL or runs the kept SQL. The DuckDB settings a run
    changes are the database's: all are back as they were after the run, after a run that failed, and
    after one that failed inside a caller's transaction."""
    raw = ws.raw
    names = (
        "max_vacuum_tasks",
        "preserve_insertion_order",
        "disabled_compression_methods",
        "disabled_optimizers",
    )

    def settings() -> dict[str, str]:
        return {n: str(raw.execute(f"SELECT current_setting('{n}')").fetchone()[0]) for n in names}

    before = settings()
    assert before["max_vacuum_tasks"] != "0"
    seen: list[str] = []
    real = compiled.run

    def spying(r, step, analysis_id):
        seen.append(settings()["max_vacuum_tasks"])
        real(r, step, analysis_id)

    monkeypatch.setattr(compiled, "run", spying)
    journey.analyze(ws, full=True)  # built
    journey.analyze(ws, full=True)  # kept
    assert len(seen) == 2 * len(journey.DERIVED)
    assert set(seen) == {"0"}
    assert settings() == before

    def failing(r, step, analysis_id):
        raise RuntimeError("a step failed")

    monkeypatch.setattr(compiled, "run", failing)
    with pytest.raises(RuntimeError, match="a step failed"):
        journey.analyze(ws, full=True)
    assert settings() == before

    def failing_in_sql(r, step, analysis_id):
        with compiled.settings(r, "interactions"):
            r.execute("SELECT error('a step failed')")

    # in a caller's transaction, which the failure aborts (no statement runs on its connection until
    # it rolls back)
    monkeypatch.setattr(compiled, "run", failing_in_sql)
    with pytest.raises(duckdb.Error, match="a step failed"), ws.transaction():
        journey.analyze(ws, full=True)
    assert settings() == before
