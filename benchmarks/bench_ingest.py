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
