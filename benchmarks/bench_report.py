"""The value report at portfolio scale: a workspace of 54 communities (nine copies of the six planted
synthetic communities under new ids), its report's size, the time to build it, and how fast it opens in
headless Chromium (Debian's /usr/bin/chromium through Playwright)."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.registry import Figure, Skip, measurement

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
]
#: the columns holding community-scoped ids, per table; prefixing them makes an independent copy
ID_COLUMNS = {
    "communities": ("community_id", "name"),
    "spaces": ("space_id", "community_id"),
    "items": ("item_id", "space_id", "community_id", "thread_id", "parent_id"),
    "actions": ("action_id", "space_id", "community_id", "item_id"),
}


def portfolio_workspace(path: Path, copies: int) -> int:
    """Write ``copies`` copies of the synthetic organisation's communities (same people) into a new
    workspace at ``path``; returns the number of communities."""
    import pyarrow as pa
    import pyarrow.compute as pc

    import covalue
    from covalue import synth

    org = synth.generate(seed=7)
    ws = covalue.init(path)
    for name in ("members", "identities"):
        ws.append(name, org.tables[name])
    for k in range(copies):
        for name, cols in ID_COLUMNS.items():
            t = org.tables[name]
            for col in cols:
                i = t.schema.get_field_index(col)
                fixed = pc.binary_join_element_wise(pa.scalar(f"p{k:02d}-"), t[col], "")
                t = t.set_column(i, col, fixed)
            ws.append(name, t)
    n = int(ws.raw.execute("SELECT count(*) FROM communities").fetchone()[0])
    ws.close()
    return n


@measurement("report-portfolio", "value report of 54 communities: build time, size, opening in Chromium")
def report_portfolio(quick: bool) -> list[Figure]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        raise Skip("playwright is not installed") from e
    if not CHROMIUM.exists():
        raise Skip("needs Debian's chromium at /usr/bin/chromium")
    import covalue
    from covalue import journey
    from covalue.report import build

    copies = 2 if quick else 9
    tmp = Path(tempfile.mkdtemp(prefix="covalue-bench-report-"))
    try:
        n = portfolio_workspace(tmp / "ws", copies)
        ws = covalue.open(tmp / "ws")
        journey.analyze(ws)  # setup: the report's own work is what is timed
        out = tmp / "report.html"
        builds = []
        for _ in range(1 if quick else 2):
            t0 = time.perf_counter()
            res = build(ws, out)
            builds.append(time.perf_counter() - t0)
        ws.close()
        opened, all_drawn = [], []
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            for _ in range(3):
                page = b.new_page(viewport={"width": 1280, "height": 900})
                errors: list[str] = []
                page.on(
                    "console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None
                )
                t0 = time.perf_counter()
                page.goto(out.as_uri(), wait_until="load")
                page.evaluate("window.covalueVisibleDrawn()")
                opened.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                page.evaluate("window.covalueDrawAll()")
                all_drawn.append(time.perf_counter() - t0)
                drawn = page.evaluate("document.querySelectorAll('.chart[data-rendered=\"1\"]').length")
                page.close()
                if errors or drawn != res.charts:
                    raise RuntimeError(
                        f"report did not render cleanly: {drawn}/{res.charts} charts, {errors[:3]}"
                    )
            b.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    note = f"{n} communities, {res.charts} charts"
    return [
        Figure("report-portfolio-size", [res.bytes / 1e6], "MB", note + " (plotly.js 4.8 MB once)"),
        Figure("report-portfolio-build", builds, "s", "gather + render + write, analysis done before"),
        Figure("report-portfolio-open", opened, "s", "load until the charts on screen are drawn"),
        Figure("report-portfolio-draw-all", all_drawn, "s", "then every other chart (as when printing)"),
    ]
