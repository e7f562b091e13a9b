"""The registry of named measurements and the one line format every figure is printed in.

To add a measurement, put a function in a ``benchmarks/bench_<topic>.py`` module::

    from benchmarks.registry import Figure, Skip, measurement, timed

    @measurement("analysis-10m", "maturity + health on 10 M actions, compared with the scan floor")
    def analysis_10m(quick: bool) -> list[Figure]:
        ws = synth_workspace(300_000 if quick else 10_000_000)   # setup is not timed
        seconds = timed(lambda: run_analysis(ws), repeat=3)
        return [Figure("analysis-10m", [n / s for s in seconds], "actions/s")]

The function runs in a child process; it raises :class:`Skip` when something it needs is missing.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class Skip(Exception):
    """The measurement cannot run here (a reader or an optional package is missing)."""


@dataclass
class Figure:
    """One printed figure: samples of one value (the median is printed), its unit, and a note."""

    name: str
    samples: list[float]
    unit: str
    note: str = ""

    @property
    def value(self) -> float:
        return statistics.median(self.samples)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "samples": self.samples, "unit": self.unit, "note": self.note}


@dataclass
class Measurement:
    name: str
    description: str
    run: Callable[[bool], list[Figure]]
    #: run only when named exactly (``--only NAME``, ``make bench BENCH=NAME``), never by default
    on_request: bool = False


REGISTRY: dict[str, Measurement] = {}


def measurement(
    name: str, description: str = "", *, on_request: bool = False
) -> Callable[[Callable[[bool], list[Figure]]], Callable[[bool], list[Figure]]]:
    """Register ``fn(quick) -> list[Figure]`` under ``name`` (names must be unique); ``on_request``
    measurements (too long for every ``make bench``) run only when named exactly."""

    def deco(fn: Callable[[bool], list[Figure]]) -> Callable[[bool], list[Figure]]:
        if name in REGISTRY:
            raise ValueError(f"measurement {name!r} is registered twice")
        REGISTRY[name] = Measurement(
            name, description or (fn.__doc__ or "").strip().split("\n")[0], fn, on_request
        )
        return fn

    return deco


def timed(fn: Callable[[], Any], repeat: int = 3) -> list[float]:
    """Wall-clock seconds of ``repeat`` calls of ``fn``."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def fmt_value(v: float) -> str:
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:,.1f}"
    return f"{v:,.2f}"


def line(name: str, value: float, unit: str, runs: int, peak_mb: float, note: str = "") -> str:
    """The one line format: ``name  value unit  (median of N, peak MB)`` and an optional note."""
    text = f"{name}  {fmt_value(value)} {unit}  (median of {runs}, peak {peak_mb:,.0f} MB)"
    return f"{text}  {note}" if note else text
