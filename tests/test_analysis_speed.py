"""The speed-ups of the analysis keep its results: windows built from fewer offsets, health computed
only for the periods it reports, and the workspace's DuckDB memory cap from covalue.toml."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import ibis
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import covalue
from covalue import diagnosis, journey, presentation, synth
from covalue.metrics.maturity import in_windows, periods_table
from covalue.metrics.windows import window_sums
from covalue.settings import AnalysisSettings


def _duckdb_says(value: str) -> str:
    """How DuckDB reports a memory limit once set (it rounds and renames units)."""
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{value}'")
    return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def test_workspace_connection_takes_memory_limit_and_threads(tmp_path: Path) -> None:
    w = covalue.init(tmp_path / "ws")
    got = w.raw.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert got == _duckdb_says(w.memory_limit())  # by default a share of the machine's memory
    w.close()
    toml = tmp_path / "ws" / "covalue.toml"
    toml.write_text(
        toml.read_text().replace("window_days = 90", 'window_days = 90\nmemory_limit = "1GB"\nthreads = 1')
    )
    w = covalue.open(tmp_path / "ws")
    row = w.raw.execute("SELECT current_setting('memory_limit'), current_setting('threads')").fetchone()
    assert row == (_duckdb_says("1GB"), 1)
    w.close()


@pytest.mark.parametrize("bad", ["3", "lots", "3GB'; DROP TABLE items; --", "-1GB"])
def test_memory_limit_must_be_a_size(bad: str) -> None:
    with pytest.raises(ValidationError):
        AnalysisSettings(memory_limit=bad)


@settings(max_examples=25, deadline=None)
@given(
    moments=st.lists(
        st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2024, 12, 31, 23, 59)),
        min_size=1,
        max_size=12,
    ),
    days=st.integers(min_value=1, max_value=200),
)
def test_in_windows_finds_every_window_holding_a_row(moments: list[datetime], days: int) -> None:
    """Each row lands in exactly the periods whose window ``[win_start, win_end)`` holds it."""
    first, last = 2023 * 12, 2025 * 12 + 8  # the windows of months after the rows hold them too
    per = periods_table(first, last, days)
    t = ibis.memtable(pa.table({"i": list(range(len(moments))), "ts": pa.array(moments, pa.timestamp("us"))}))
    got = in_windows(t, "ts", ibis.memtable(per), days).select("i", "pidx").to_pyarrow().to_pylist()
    want = [
        {"i": i, "pidx": p["pidx"]}
        for i, ts in enumerate(moments)
        for p in per.to_pylist()
        if p["win_start"] <= ts < p["win_end"]
    ]
    key = lambda r: (r["i"], r["pidx"])  # noqa: E731
    assert sorted(got, key=key) == sorted(want, key=key)
    assert all(p["win_end"] - p["win_start"] == timedelta(days=days) for p in per.to_pylist())


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["ann", "bo", "cy"]),
            st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2024, 12, 31, 23, 59, 59)),
            st.integers(min_value=0, max_value=5),
        ),
        min_size=1,
        max_size=30,
    ),
    days=st.integers(min_value=1, max_value=200),
)
def test_window_sums_add_up_each_window_like_a_person_would(rows, days: int) -> None:
    """Per person and period, the sum of the values whose time the period's window holds, counted
    naively row by row against every window (leap years, short months and long windows included)."""
    per = periods_table(2023 * 12, 2025 * 12 + 8, days)
    t = ibis.memtable(
        pa.table(
            {
                "who": [r[0] for r in rows],
                "ts": pa.array([r[1] for r in rows], pa.timestamp("us")),
                "v": [r[2] for r in rows],
            }
        )
    )
    out = window_sums(
        t, "ts", ["who"], {"n": t.v, "rows": t.v.notnull().ifelse(1, 0)}, ibis.memtable(per), days
    )
    got = {(r["who"], r["pidx"]): (r["n"], r["rows"]) for r in out.to_pyarrow().to_pylist()}
    want: dict[tuple[str, int], tuple[int, int]] = {}
    for who, ts, v in rows:
        for p in per.to_pylist():
            if p["win_start"] <= ts < p["win_end"]:
                n, k = want.get((who, p["pidx"]), (0, 0))
                want[(who, p["pidx"])] = (n + v, k + 1)
    assert got == want


def test_health_of_reported_periods_equals_the_full_table(tmp_path: Path) -> None:
    """health() builds windows only for the periods it reports; its shape rows are the full table's."""
    w = covalue.init(tmp_path / "ws")
    synth.generate(seed=11).write(w)
    journey.analyze(w)
    full = diagnosis.health_table(w).to_pyarrow().to_pylist()
    latest = {}
    for r in full:
        if r["community_id"] not in latest or r["pidx"] > latest[r["community_id"]]["pidx"]:
            latest[r["community_id"]] = r
    out = diagnosis.health(w)
    assert set(out) == set(latest) and len(out) >= 3
    for cid, h in out.items():
        shape = {k: v for k, v in h["shape"].items() if k not in ("explanation", "thresholds")}
        assert shape == presentation.table_rows(ibis.memtable(pa.Table.from_pylist([latest[cid]])))[0]
    # an earlier period asked for by name gives that period's row of the full table
    cid, row = sorted(latest.items())[0]
    earlier = [r for r in full if r["community_id"] == cid and r["pidx"] == row["pidx"] - 2]
    one = diagnosis.health(w, community=cid, period=earlier[0]["period"])[cid]
    assert one["shape"]["active"] == earlier[0]["active"] and one["shape"]["pidx"] == row["pidx"] - 2
    assert diagnosis.health(w, period="not-a-month") == {}
    w.close()
