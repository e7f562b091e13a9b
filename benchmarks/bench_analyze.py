"""The Value Maturity analysis (``covalue analyze``) on the synthetic organisation, in seconds and as a
multiple of the scan floor (a plain pass over items and actions, see bench_synth) measured on the same
workspace in the same process, so the ratio says how much work the analysis adds over reading its input.

The cached synthetic workspace is copied first: the derived tables written here never reach the cache
that other measurements read. The load average is printed because the machine is shared.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
from pathlib import Path

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
        secs = timed(lambda: last.append(journey.analyze(ws)), repeat=runs)
        ws.close()
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
            f"{n:,} actions, {med / floor:.0f}x the scan floor ({floor:.2f} s); {steps}; load {load}",
        )
    ]


@measurement("analyze-1m", "covalue analyze on 1 M actions, with its ratio to the scan floor")
def analyze_1m(quick: bool) -> list[Figure]:
    return _analyze("1m", quick)


@measurement("analyze-10m", "covalue analyze on 10 M actions, with its ratio to the scan floor")
def analyze_10m(quick: bool) -> list[Figure]:
    return _analyze("10m", quick)
