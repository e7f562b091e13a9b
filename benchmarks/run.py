"""Run the registered measurements and print one line per figure (``make bench``).

    python -m benchmarks.run                 # everything, full sizes
    python -m benchmarks.run --quick         # small sizes, a smoke test of the whole bench
    python -m benchmarks.run --only synth    # measurements whose name is or starts with "synth"
    python -m benchmarks.run --only analyze-100m   # one run on request only (named exactly)
    python -m benchmarks.run --list

Every measurement runs in a child process of its own, so the peak memory printed (the child's maximum
resident set size) belongs to that measurement alone.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import benchmarks
from benchmarks.registry import REGISTRY, Skip, line

ROOT = Path(__file__).resolve().parents[1]
MARK = "@@bench "


def discover() -> None:
    """Import every ``benchmarks/bench_*.py`` module, which registers its measurements."""
    for mod in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        if mod.name.startswith("bench_"):
            importlib.import_module(f"benchmarks.{mod.name}")


def selected(only: list[str]) -> list[str]:
    """The measurements asked for: by name or name prefix, but those run on request only by their
    exact name (``--only analyze`` is not a request for the 100 M run)."""
    names = list(REGISTRY)
    pats = [p for o in only for p in o.split(",") if p]
    if not pats:
        return [n for n in names if not REGISTRY[n].on_request]
    return [n for n in names if any(n == p or (n.startswith(p) and not REGISTRY[n].on_request) for p in pats)]


def child(name: str, quick: bool) -> None:
    """Run one measurement here and print its result as one JSON line."""
    warnings.simplefilter("ignore")
    try:
        figures = REGISTRY[name].run(quick)
        out = {"figures": [f.to_dict() for f in figures]}
    except Skip as e:
        out = {"skipped": str(e)}
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout.write(MARK + json.dumps(out) + "\n")


def run_one(name: str, quick: bool, timeout: float) -> list[str]:
    cmd = [sys.executable, "-m", "benchmarks.run", "--child", name] + (["--quick"] if quick else [])
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [f"{name}  failed: no result within {timeout:.0f} s"]
    found = [ln[len(MARK) :] for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if proc.returncode != 0 or not found:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return [f"{name}  failed: {last}"]
    res = json.loads(found[-1])
    if "skipped" in res:
        return [f"{name}  skipped: {res['skipped']}"]
    return [
        line(
            f["name"],
            statistics.median(f["samples"]),
            f["unit"],
            len(f["samples"]),
            res["peak_mb"],
            f["note"],
        )
        for f in res["figures"]
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only measurements with this name or name prefix (repeatable, or comma-separated)",
    )
    ap.add_argument(
        "--quick", action="store_true", help="small sizes: a quick check that every measurement runs"
    )
    ap.add_argument("--list", action="store_true", help="list the measurements and exit")
    ap.add_argument(
        "--timeout",
        type=float,
        help="seconds allowed per measurement (default 1800; 6 hours for those run on request, whose "
        "first run also builds their workspace)",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    discover()
    if args.child:
        child(args.child, args.quick)
        return 0
    names = selected(args.only)
    if args.list:
        for n in names if args.only else REGISTRY:
            extra = f"  (on request only: make bench BENCH={n})" if REGISTRY[n].on_request else ""
            print(f"{n}  {REGISTRY[n].description}{extra}")
        return 0
    if not names:
        print(f"no measurement matches {args.only}; known: {', '.join(REGISTRY)}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    print(f"covalue bench{' (quick sizes)' if args.quick else ''}: {len(names)} measurements", flush=True)
    failed = False
    for n in names:
        limit = args.timeout or (6 * 3600.0 if REGISTRY[n].on_request else 1800.0)
        for ln in run_one(n, args.quick, limit):
            failed |= "  failed: " in ln
            print(ln, flush=True)
    print(f"done in {time.perf_counter() - t0:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
