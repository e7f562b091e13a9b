"""Ingest throughput of the platform readers on the real exports in ../shared/data."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.registry import Figure, Skip, measurement

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def ingest_figures(name: str, reader: str, export: Path, repeat: int = 3) -> list[Figure]:
    """Ingest ``export`` with ``reader`` into fresh workspaces ``repeat`` times: records/s and MB/s."""
    import covalue
    from covalue.sources import readers

    if reader not in readers():
        raise Skip(f"reader not available ({reader})")
    if not export.exists():
        raise Skip(f"{export} is missing")
    size_mb = export.stat().st_size / 1e6
    secs, records = [], 0
    for _ in range(repeat):
        tmp = Path(tempfile.mkdtemp(prefix="covalue-bench-ingest-"))
        try:
            ws = covalue.init(tmp / "ws")
            t0 = time.perf_counter()
            [res] = ws.ingest([export], source=reader)
            secs.append(time.perf_counter() - t0)
            ws.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if res.status == "failed":
            raise RuntimeError(f"{export.name}: ingest failed: {'; '.join(res.messages)[:200]}")
        records = sum(res.read.values()) + res.rejects
    return [
        Figure(name, [records / s for s in secs], "records/s", f"{records:,} records from {export.name}"),
        Figure(name, [size_mb / s for s in secs], "MB/s", f"{size_mb:.1f} MB archive"),
    ]


@measurement("ingest-stackexchange", "Stack Exchange reader on beer.stackexchange.com.7z")
def ingest_stackexchange(quick: bool) -> list[Figure]:
    return ingest_figures(
        "ingest-stackexchange",
        "stackexchange",
        DATA / "stackexchange" / "beer.stackexchange.com.7z",
        repeat=1 if quick else 3,
    )


@measurement("ingest-slack", "Slack reader on houstondatavis-slack-export.zip")
def ingest_slack(quick: bool) -> list[Figure]:
    return ingest_figures(
        "ingest-slack", "slack", DATA / "slack" / "houstondatavis-slack-export.zip", repeat=1 if quick else 3
    )


# -- a large CSV of items, made on the spot ----------------------------------------------------------
_WORDS = tuple(
    [
        "the",
        "meeting",
        "notes",
        "draft",
        "review",
        "budget",
        "release",
        "plan",
        "team",
        "question",
        "answer",
        "thanks",
        "issue",
        "fix",
        "build",
        "deploy",
        "design",
        "sketch",
        "customer",
        "feedback",
        "survey",
        "roadmap",
        "quarter",
        "goal",
        "metric",
        "onboarding",
        "guide",
        "wiki",
        "channel",
        "thread",
        "update",
        "schedule",
        "workshop",
        "demo",
        "prototype",
        "test",
        "result",
        "data",
        "model",
        "report",
        "idea",
    ]
)

ITEMS_HEADER = "item_id,space_id,author_id,created_at,kind,title,text,parent_id,thread_id\n"


def write_items_csv(path: Path, target_bytes: int, *, seed: int = 7, authors: int = 5000) -> int:
    """Write an items table in the tabular CSV contract until it holds at least ``target_bytes``: one
    post opens a thread every fifth row, the other rows reply to it. Returns the number of rows. The
    file is written a block at a time, so making a 1 GB file takes little memory."""
    import random

    rng = random.Random(seed)
    spaces = [f"space-{i:02d}" for i in range(20)]
    # a pool of ready texts (with quotes and commas, so the CSV writer must quote them) keeps this fast
    texts = [
        '"'
        + " ".join(rng.choice(_WORDS) for _ in range(rng.randint(20, 80))).replace(" plan", ', ""plan""')
        + '"'
        for _ in range(997)
    ]
    titles = [" ".join(rng.choice(_WORDS) for _ in range(5)).capitalize() for _ in range(101)]
    written = rows = 0
    thread = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(ITEMS_HEADER)
        written += len(ITEMS_HEADER)
        while written < target_bytes:
            block = []
            for _ in range(10_000):
                rows += 1
                minute = rows // 3
                ts = f"{2020 + minute // 525_600}-{1 + (minute // 43_800) % 12:02d}-{1 + (minute // 1440) % 28:02d}T{(minute // 60) % 24:02d}:{minute % 60:02d}:00+00:00"
                author = f"m{rng.randrange(authors):05d}"
                if rows % 5 == 1:
                    thread = rows
                space = spaces[(thread // 5) % len(spaces)]
                if thread == rows:
                    line = f"{rows},{space},{author},{ts},post,{titles[rows % 101]},{texts[rows % 997]},,{rows}\n"
                else:
                    line = f"{rows},{space},{author},{ts},reply,,{texts[rows % 997]},{thread},{thread}\n"
                block.append(line)
            text = "".join(block)
            fh.write(text)
            written += len(text.encode())
    return rows


@measurement("ingest-csv-1g", "tabular reader on a generated 1 GB CSV of items: wall time and peak memory")
def ingest_csv_1g(quick: bool) -> list[Figure]:
    """Ingest a 1 GB items CSV (100 MB with --quick) with ``covalue ingest`` in a process of its own, so
    the peak resident memory printed is the ingest's alone (the server's share of an upload)."""
    import resource
    import subprocess
    import sys

    size = 100_000_000 if quick else 1_000_000_000
    tmp = Path(tempfile.mkdtemp(prefix="covalue-bench-csv-"))
    try:
        csv = tmp / "items.csv"
        rows = write_items_csv(csv, size)
        mb = csv.stat().st_size / 1e6
        cli = [sys.executable, "-m", "covalue.cli"]
        subprocess.run([*cli, "init", str(tmp / "ws")], check=True, capture_output=True)
        t0 = time.perf_counter()
        out = subprocess.run(
            [*cli, "ingest", "-w", str(tmp / "ws"), "--json", str(csv)], capture_output=True, text=True
        )
        secs = time.perf_counter() - t0
        if out.returncode != 0:
            raise RuntimeError(f"ingest failed: {(out.stdout + out.stderr)[-300:]}")
        # the children waited for so far are init (small) and the ingest: their peak is the ingest's
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    note = f"{rows:,} items, {size / 1e9:.1f} GB CSV"
    return [
        Figure("ingest-csv-1g", [secs], "s", note),
        Figure("ingest-csv-1g", [mb / secs], "MB/s", note),
        Figure("ingest-csv-1g", [peak_mb], "MB peak RSS of the ingest", note),
    ]
