"""Synthetic organisations: how fast they generate, and the floor — a plain scan of the canonical tables
that every analysis is compared with.

The workspaces scanned are built once per size in a child process (so their memory is not counted in
the scan's peak) and cached under ``$COVALUE_BENCH_DIR`` (default: the system temp folder), keyed by the
size and a hash of covalue/synth.py; other measurements reuse them with :func:`synth_workspace`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.registry import Figure, measurement, timed

SIZES = {
    "1m": (1_000_000, 50_000),
    "10m": (10_000_000, 300_000),
    "100m": (100_000_000, 1_000_000),
}  # full, quick
#: organisations larger than this are generated and written in parts of this many actions, so that
#: building one never holds more than a part in memory (10 M actions: about 3 GB; 100 M at once: ~30 GB)
PART_ACTIONS = 10_000_000


def bench_dir() -> Path:
    return Path(os.environ.get("COVALUE_BENCH_DIR") or Path(tempfile.gettempdir()) / "covalue-bench")


def synth_workspace(n_actions: int, seed: int = 7) -> Path:
    """A workspace holding the synthetic organisation with ``n_actions`` actions (built once, cached)."""
    import covalue.synth
    from covalue.dbfile import STORAGE_VERSION

    # the file's storage format is part of what is measured: a workspace cached in an older one is rebuilt
    made = Path(covalue.synth.__file__).read_bytes() + STORAGE_VERSION.encode()
    code = hashlib.sha256(made).hexdigest()[:10]
    path = bench_dir() / f"synth-{n_actions}-s{seed}-{code}"
    if not (path / "complete").exists():
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_synth", str(n_actions), str(seed), str(path)], check=True
        )
    return path


def _build(n_actions: int, seed: int, path: Path) -> None:
    import covalue
    from covalue import synth

    org = synth.generate(seed=seed, n_actions=min(n_actions, PART_ACTIONS))
    ws = covalue.init(path)
    if n_actions > PART_ACTIONS:  # DuckDB's share beside a part of about 3 GB: the build stays under 8 GB
        ws.raw.execute("SET memory_limit = '3GB'")
    org.write(ws)
    native = org.tables["identities"].num_rows + 1
    done = org.tables["actions"].num_rows
    del org
    part = 1
    while done < n_actions:  # only past PART_ACTIONS: more bulk communities, one part at a time
        added, native = _bulk_part(ws, seed, part, min(PART_ACTIONS, n_actions - done), native)
        done += added
        part += 1
    ws.close()
    (path / "complete").write_text("ok\n")


def _bulk_part(ws: Any, seed: int, part: int, n_actions: int, native: int) -> tuple[int, int]:
    """Write one more part of bulk communities (``org<part>-01`` ...): their own seed, members and ids.
    Returns the actions written and the next free native member number."""
    import pyarrow.compute as pc

    from covalue import synth
    from covalue.synth.bulk import bulk

    tables, _, info = bulk(seed + 1000 * part, n_actions, synth.month_starts("2025-01"), native)
    ids = {"item_id", "thread_id", "parent_id", "action_id", "source", "space_id", "community_id", "name"}
    for name, tbl in tables.items():
        for col in [c for c in tbl.column_names if c in ids]:
            renamed = pc.replace_substring_regex(tbl[col], r"^(synth:)?org-", rf"\1org{part}-")
            tbl = tbl.set_column(tbl.schema.get_field_index(col), col, renamed)
        for off in range(0, tbl.num_rows, 1_000_000):
            ws.append(name, tbl.slice(off, 1_000_000))
    return info["actions"], native + info["members"]


def scan(con: Any) -> dict[str, Any]:
    """Count rows and sum every column of items and actions (strings by length, times as epoch
    seconds, booleans as 0/1): the least work an analysis reading every value can do."""
    import ibis.expr.datatypes as dt

    out = {}
    for name in ("items", "actions"):
        t = con.table(name)
        aggs = [t.count().name("n")]
        for col, typ in t.schema().items():
            c = t[col]
            if typ.is_string():
                v = c.length()
            elif typ.is_timestamp():
                v = c.epoch_seconds()
            elif typ.is_boolean():
                v = c.cast(dt.int64)
            else:
                v = c
            aggs.append(v.sum().cast(dt.float64).name(f"s_{col}"))
        out[name] = t.aggregate(aggs).to_pyarrow().to_pylist()[0]
    return out


def _synth(size: str, quick: bool) -> list[Figure]:
    from covalue import synth

    n = SIZES[size][1 if quick else 0]
    runs = 3 if (quick or n <= 1_000_000) else 1
    secs = timed(lambda: synth.generate(n_actions=n), repeat=runs)
    return [
        Figure(f"synth-{size}", [n / s for s in secs], "actions/s", f"{n:,} actions in {min(secs):.1f} s")
    ]


def _scan(size: str, quick: bool) -> list[Figure]:
    import ibis

    n = SIZES[size][1 if quick else 0]
    path = synth_workspace(n)
    con = ibis.duckdb.connect(str(path / "covalue.duckdb"), read_only=True)
    rows = con.table("items").count().execute() + con.table("actions").count().execute()
    scan(con)  # warm the cache, as a second analysis in the same session would find it
    secs = timed(lambda: scan(con), repeat=5)
    con.disconnect()
    return [
        Figure(
            f"scan-{size}",
            [rows / s for s in secs],
            "rows/s",
            f"the floor: items + actions, {rows:,} rows in {sorted(secs)[2]:.2f} s",
        )
    ]


@measurement("synth-1m", "generate a synthetic organisation with 1 M actions")
def synth_1m(quick: bool) -> list[Figure]:
    return _synth("1m", quick)


@measurement("synth-10m", "generate a synthetic organisation with 10 M actions")
def synth_10m(quick: bool) -> list[Figure]:
    return _synth("10m", quick)


@measurement(
    "scan-1m", "the floor: count + sum of every column of items and actions, 1 M actions (DuckDB via Ibis)"
)
def scan_1m(quick: bool) -> list[Figure]:
    return _scan("1m", quick)


@measurement("scan-10m", "the floor: count + sum of every column of items and actions, 10 M actions")
def scan_10m(quick: bool) -> list[Figure]:
    return _scan("10m", quick)


if __name__ == "__main__":  # the child that builds a cached workspace
    t0 = time.perf_counter()
    _build(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
    print(f"built {sys.argv[3]} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
