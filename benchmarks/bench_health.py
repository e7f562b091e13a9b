"""Community health on the synthetic organisation with 10 M actions (100,000 members): the Value
Maturity analysis, then health, dynamics, network, champions and resonance, each timed.

The cached synthetic workspace (see bench_synth) is copied first, so the analysis written here never
touches the cache other measurements read.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.bench_synth import SIZES, synth_workspace
from benchmarks.registry import Figure, measurement


@measurement("health-10m", "analyze + health + dynamics + network + champions + resonance on 10 M actions")
def health_10m(quick: bool) -> list[Figure]:
    import covalue
    from covalue import diagnosis, journey

    n = SIZES["10m"][1 if quick else 0]
    src = synth_workspace(n)
    tmp = Path(tempfile.mkdtemp(prefix="covalue-bench-health-"))
    try:
        shutil.copytree(src, tmp / "ws")
        ws = covalue.open(tmp / "ws")
        steps = {
            "analyze": lambda: journey.analyze(ws),
            "health": lambda: diagnosis.health(ws),
            "dynamics": lambda: diagnosis.dynamics_of(ws),
            "network": lambda: diagnosis.network(ws),
            "champions": lambda: diagnosis.champions(ws),
            "resonance": lambda: diagnosis.resonance(ws),
        }
        secs: dict[str, float] = {}
        results: dict[str, object] = {}
        t_all = time.perf_counter()
        for name, fn in steps.items():
            t0 = time.perf_counter()
            results[name] = fn()
            secs[name] = time.perf_counter() - t0
        total = time.perf_counter() - t_all
        net = results["network"]
        edges = sum(v["n_edges"] for v in net.values())
        members = sum(v["n_members"] for v in net.values())
        ws.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    detail = ", ".join(f"{k} {v:.1f} s" for k, v in secs.items())
    return [
        Figure(
            "health-10m",
            [total],
            "s",
            f"{n:,} actions: {detail}; graphs of the latest windows: {members:,} members, {edges:,} ties",
        ),
        Figure("health-10m-network", [secs["network"] + secs["champions"]], "s", "network + champions"),
    ]
