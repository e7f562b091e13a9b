"""Checking that an update gives what a full run gives, on an export of one's own.

An update (:mod:`covalue.incremental`) recomputes only what new rows can change and promises the
tables a full run would write, row for row. :func:`check_exports` puts that promise to the test on real
data: it reads the exports once, cuts their rows at the times given (as if each part had been uploaded
when it was exported), analyses the first part in full, adds each later part and updates, and compares
every derived table with a full run over the parts so far. ``scripts/update_check.py`` runs it from the
command line; covalue's own tests use the same pieces.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

import covalue
from covalue import journey

#: the canonical tables an upload adds to, and the time each row is cut by (none: kept with the first part)
TABLES = ("communities", "spaces", "members", "identities", "items", "actions")
TIMES = {"items": "created_at", "actions": "ts"}


@dataclass
class Upload:
    """One later part, added and analysed: the run's mode and seconds, and per derived table the rows
    only the update wrote and the rows only the full run wrote (empty when they agree)."""

    cut: datetime
    mode: str
    seconds: float
    differences: dict[str, tuple[int, int]] = field(default_factory=dict)


def split_at(tables: dict[str, pa.Table], cut: object) -> tuple[dict[str, pa.Table], dict[str, pa.Table]]:
    """The rows before ``cut`` (and every row without a time), and the rows from it on."""
    early, late = {}, {}
    for name, tbl in tables.items():
        col = TIMES.get(name)
        if col is None:
            early[name] = tbl
            continue
        before = pc.fill_null(pc.less(tbl[col], pa.scalar(cut, pa.timestamp("us"))), True)
        early[name], late[name] = tbl.filter(before), tbl.filter(pc.invert(before))
    return early, late


def add(ws: covalue.Workspace, tables: dict[str, pa.Table]) -> None:
    """Append canonical rows to ``ws`` as an ingest would (rows it holds already are left out)."""
    for name, tbl in tables.items():
        if tbl.num_rows:
            ws.append(name, tbl)


def updating_workspace(path: Path) -> covalue.Workspace:
    """A new workspace that updates its analysis after every upload, however small (by default a
    workspace under ``analysis.update_from_actions`` actions runs in full, as quickly)."""
    ws = covalue.init(path)
    toml = ws.path / "covalue.toml"
    text = re.sub(r"(?m)^update_from_actions = \d+", "update_from_actions = 0", toml.read_text())
    if "update_from_actions = 0" not in text:
        raise RuntimeError(f"{toml} has no update_from_actions setting to change")
    toml.write_text(text)
    ws.close()
    return covalue.open(path)


def differences(a: covalue.Workspace, b: covalue.Workspace) -> dict[str, tuple[int, int]]:
    """Per derived table, the rows only in ``a`` and the rows only in ``b`` (every column but
    ``analysis_id``, duplicates counted); tables that agree are left out."""
    out = {}
    for t in journey.DERIVED:
        cols = [c for c in b.table(t).columns if c != "analysis_id"]
        a.raw.register("_l", a.table(t).select(*cols).to_pyarrow())
        a.raw.register("_r", b.table(t).select(*cols).to_pyarrow())
        try:
            only_l, only_r = a.raw.execute(
                "SELECT (SELECT count(*) FROM (SELECT * FROM _l EXCEPT ALL SELECT * FROM _r)), "
                "(SELECT count(*) FROM (SELECT * FROM _r EXCEPT ALL SELECT * FROM _l))"
            ).fetchone()
        finally:
            a.raw.unregister("_l")
            a.raw.unregister("_r")
        if only_l or only_r:
            out[t] = (only_l, only_r)
    return out


def check_tables(
    tables: dict[str, pa.Table],
    cuts: Sequence[datetime],
    work: Path,
    report: Callable[[Upload], Any] | None = None,
) -> list[Upload]:
    """Cut ``tables`` at ``cuts`` (in order) and upload the parts one after another into a workspace in
    ``work``, updating after each; every update is compared with a full run over the parts so far
    (made in ``work`` and removed after). ``report(upload)`` is called after each."""
    parts, rest = [], tables
    for cut in sorted(cuts):
        early, rest = split_at(rest, cut)
        parts.append(early)
    parts.append(rest)
    ws = updating_workspace(work / "updated")
    add(ws, parts[0])
    journey.analyze(ws)
    done = []
    try:
        for i, (cut, part) in enumerate(zip(sorted(cuts), parts[1:], strict=True), 1):
            add(ws, part)
            t0 = time.perf_counter()
            run = journey.analyze(ws)
            seconds = time.perf_counter() - t0
            ref = covalue.init(work / "full")
            try:
                for p in parts[: i + 1]:
                    add(ref, p)
                journey.analyze(ref)
                done.append(Upload(cut, run.mode, seconds, differences(ws, ref)))
            finally:
                ref.close()
                shutil.rmtree(work / "full", ignore_errors=True)
            if report:
                report(done[-1])
    finally:
        ws.close()
    return done


def check_exports(
    paths: Sequence[Path],
    cuts: Sequence[datetime],
    work: Path,
    report: Callable[[Upload], Any] | None = None,
) -> list[Upload]:
    """:func:`check_tables` on the canonical rows of the exports at ``paths``, ingested once into
    ``work``."""
    whole = covalue.init(work / "read")
    try:
        whole.ingest(list(paths))
        tables = {t: whole.table(t).to_pyarrow() for t in TABLES}
    finally:
        whole.close()
    return check_tables(tables, cuts, work, report)
