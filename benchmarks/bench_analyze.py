"""The Value Maturity analysis (``covalue analyze``) on the synthetic organisation, in seconds and as a
multiple of the scan floor (a plain pass over items and actions, see bench_synth) measured on the same
workspace in the same process, so the ratio says how much work the analysis adds over reading its input.

Beside it, in the same run and on the same workspace, two peers an analyst would write instead of
covalue (benchmarks/peer_sql.py, hand-written DuckDB SQL; benchmarks/peer_pandas.py, pandas in memory)
apply the same stage rules, each in a child process so that its peak memory is its own; their figures
give analyze / SQL and pandas / analyze, and how many cells of covalue's stage mix each reproduces.
``analyze-100m`` runs only on request (``make bench BENCH=analyze-100m``).

The cached synthetic workspace is copied first: the derived tables written here never reach the cache
that other measurements read. The load average is printed because the machine is shared.
"""

from __future__ import annotations

import inspect
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.bench_synth import SIZES, scan, synth_workspace
from benchmarks.registry import Figure, measurement, timed


def _analyze(size: str, quick: bool) -> list[Figure]:
    import covalue
    from covalue import journey

    n = SIZES[size][1 if quick else 0]
    src = synth_workspace(n)
    tmp = Path(tempfile.mkdtemp(prefix="covalue-bench-analyze-"))
    try:
        shutil.copytree(src, tmp / "ws")
        ws = covalue.open(tmp / "ws")
        scan(ws.con)  # warm, as analyze finds the tables after the first read
        floor = statistics.median(timed(lambda: scan(ws.con), repeat=3))
        last: list[journey.AnalysisResult] = []
        runs = 1 if n > 1_000_000 else 3  # 10 M: one run is minutes of a shared machine
        # every run a full one: once incremental analysis exists, a second run would find nothing new
        full = {"full": True} if "full" in inspect.signature(journey.analyze).parameters else {}
        secs = timed(lambda: last.append(journey.analyze(ws, **full)), repeat=runs)
        ws.close()
        analyze_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        peers = _peer_figures(size, tmp, runs, statistics.median(secs), analyze_peak)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    slow = sorted(last[-1].seconds.items(), key=lambda kv: -kv[1])[:4]
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in slow)
    load = "/".join(f"{v:.1f}" for v in os.getloadavg())
    med = statistics.median(secs)
    return [
        Figure(
            f"analyze-{size}",
            secs,
            "s",
            f"{n:,} actions, {med / floor:.0f}x the scan floor ({floor:.2f} s); {steps}; "
            f"peak {analyze_peak:,.0f} MB (this process); load {load}",
        ),
        *peers,
    ]


# ------------------------------------------------------------------------------------------------
# peers: the same stage rules as an analyst would write them instead of covalue (benchmarks/peer_*.py),
# timed in the same run on the same workspace, each in a child process of its own for its peak memory
# ------------------------------------------------------------------------------------------------

PEERS = (("sql", "hand-written DuckDB SQL"), ("pandas", "pandas in memory"))
ROOT = Path(__file__).resolve().parents[1]


#: at 100 M actions pandas is left out (the tables alone would not fit in this machine's memory) and the
#: SQL peer gets the memory covalue is asked to stay within, so it spills instead of crowding the machine
LARGE = {"100m": {"skip": ("pandas",), "memory_limit": "8GB"}}


def run_peer(name: str, db: Path, out: Path, memory_limit: str | None = None) -> dict[str, Any]:
    """Run ``benchmarks.peer_<name>`` on the workspace database ``db`` in a child process; its seconds
    (its own timing, after imports), peak resident memory in MB and rows. Its tables go to ``out``."""
    cmd = [sys.executable, "-m", f"benchmarks.peer_{name}", str(db), "--out", str(out)]
    if memory_limit:
        cmd += ["--memory-limit", memory_limit]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"peer {name} failed: {last}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def stage_mix_agreement(db: Path, peer_mix: Path) -> tuple[int, int, int]:
    """How a peer's stage mix matches covalue's: (cells equal, cells, largest difference), a cell being
    one community, month and count (members, active, observer, connect, share, solve, innovate)."""
    import duckdb
    import pyarrow.parquet as pq

    cols = ("members", "active", "observer", "connect", "share", "solve", "innovate")
    con = duckdb.connect(str(db), read_only=True)
    ours = {
        (r[0], r[1]): r[2:]
        for r in con.execute(f"SELECT community_id, period, {', '.join(cols)} FROM stage_mix").fetchall()
    }
    con.close()
    theirs = {
        (r["community_id"], r["period"]): tuple(r[c] for c in cols)
        for r in pq.read_table(peer_mix).to_pylist()
    }
    equal = total = worst = 0
    for key in ours.keys() | theirs.keys():
        a, b = ours.get(key, (0,) * len(cols)), theirs.get(key, (0,) * len(cols))
        for x, y in zip(a, b, strict=True):
            total += 1
            equal += x == y
            worst = max(worst, abs(x - y))
    return equal, total, worst


def _peer_figures(size: str, tmp: Path, runs: int, analyze_s: float, analyze_peak: float) -> list[Figure]:
    """The peers on the analysed workspace copy in ``tmp``: a figure each, with its ratio to ``analyze``
    (analyze / SQL, pandas / analyze: how many times the faster one is), its own peak memory and how
    far its stage mix agrees with the one covalue just wrote."""
    db = tmp / "ws" / "covalue.duckdb"
    large = LARGE.get(size, {})
    out = []
    for name, what in PEERS:
        if name in large.get("skip", ()):
            continue
        limit = large.get("memory_limit") if name == "sql" else None
        try:
            res = [run_peer(name, db, tmp / f"peer-{name}", limit) for _ in range(runs)]
        except RuntimeError as e:  # a peer that runs out of memory is a figure too
            out.append(Figure(f"analyze-{size}-{name}", [float("nan")], "s", f"{what}: {e}"))
            continue
        secs = [r["seconds"] for r in res]
        peak = max(r["peak_mb"] for r in res)
        med = statistics.median(secs)
        ratio = (
            f"analyze / SQL = {analyze_s / med:.2f}"
            if name == "sql"
            else f"pandas / analyze = {med / analyze_s:.2f}"
        )
        eq, total, worst = stage_mix_agreement(db, tmp / f"peer-{name}" / "stage_mix.parquet")
        out.append(
            Figure(
                f"analyze-{size}-{name}",
                secs,
                "s",
                f"{what}: {ratio} (analyze {analyze_s:.1f} s, peak {analyze_peak:,.0f} MB); peak {peak:,.0f} MB "
                f"(its own process{', memory_limit ' + limit if limit else ''}); "
                f"stage mix {eq}/{total} cells equal covalue's, largest gap {worst}",
            )
        )
    return out


@measurement(
    "analyze-1m", "covalue analyze on 1 M actions: ratio to the scan floor, beside its SQL and pandas peers"
)
def analyze_1m(quick: bool) -> list[Figure]:
    return _analyze("1m", quick)


@measurement("analyze-10m", "covalue analyze on 10 M actions: ratio to the scan floor, beside its peers")
def analyze_10m(quick: bool) -> list[Figure]:
    return _analyze("10m", quick)


@measurement(
    "analyze-100m",
    "covalue analyze on 100 M actions beside its peers (hand-written SQL, pandas)",
    on_request=True,
)
def analyze_100m(quick: bool) -> list[Figure]:
    return _analyze("100m", quick)


@measurement(
    "analyze-incremental",
    "one new month on the 10 M-action workspace: incremental analyze vs a full run, results identical",
)
def analyze_incremental(quick: bool) -> list[Figure]:
    """The cached workspace without its last month is analysed in full; the month is then added back
    (as an ingest would, noting its months) and analysed incrementally; a full run on the same rows
    gives the reference time and the tables the incremental ones must equal."""
    import time

    import covalue
    from covalue import journey, staging

    n = SIZES["10m"][1 if quick else 0]
    src = synth_workspace(n)
    tmp = Path(tempfile.mkdtemp(prefix="covalue-bench-incremental-"))
    try:
        shutil.copytree(src, tmp / "ws")
        ws = covalue.open(tmp / "ws")
        raw = ws.raw
        top = raw.execute("SELECT date_trunc('month', max(ts)) FROM actions").fetchone()[0]
        for t, col in (("items", "created_at"), ("actions", "ts")):
            raw.execute(f"CREATE TABLE _held_{t} AS SELECT * FROM {t} WHERE {col} >= ?", [top])
            raw.execute(f"DELETE FROM {t} WHERE {col} >= ?", [top])
        journey.analyze(ws, full=True)
        for t in ("items", "actions"):
            staging.merge_new(raw, t, f"_held_{t}")
            raw.execute(f"DROP TABLE _held_{t}")
        t0 = time.perf_counter()
        inc = journey.analyze(ws)
        inc_s = time.perf_counter() - t0
        saved = {}
        for t in journey.DERIVED:
            cols = ", ".join(f'"{c}"' for c in ws.table(t).columns if c != "analysis_id")
            raw.execute(f'CREATE TABLE "_inc_copy_{t}" AS SELECT {cols} FROM "{t}"')
            saved[t] = cols
        t0 = time.perf_counter()
        journey.analyze(ws, full=True)
        full_s = time.perf_counter() - t0
        differ = []
        for t, cols in saved.items():
            a = f'SELECT {cols} FROM "{t}"'
            b = f'SELECT {cols} FROM "_inc_copy_{t}"'
            n_diff = raw.execute(
                f"SELECT (SELECT count(*) FROM ({a} EXCEPT ALL {b})) + (SELECT count(*) FROM ({b} EXCEPT ALL {a}))"
            ).fetchone()[0]
            if n_diff:
                differ.append(f"{t} {n_diff}")
        ws.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load = "/".join(f"{v:.1f}" for v in os.getloadavg())
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(inc.seconds.items(), key=lambda kv: -kv[1])[:4])
    same = "identical to the full run" if not differ else "DIFFERENT: " + ", ".join(differ)
    return [
        Figure(
            "analyze-incremental",
            [100 * inc_s / full_s],
            "% of a full run",
            f"{n:,} actions, one new month: incremental {inc_s:.1f} s vs full {full_s:.1f} s ({inc.mode}; "
            f"slowest steps {steps}); "
            f"{same}; load {load}",
        )
    ]
