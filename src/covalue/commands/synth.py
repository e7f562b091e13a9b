"""``covalue synth`` (a synthetic organisation into a workspace) and ``covalue demo`` (a workspace to look
at without any export of one's own)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from covalue import synth as synthetic
from covalue.commands.options import WorkspaceOpt, console, fail, opened, progress_bar
from covalue.workspace import Workspace, default_path


def _fill(ws: Workspace, org: synthetic.SynthOrg) -> dict[str, int]:
    """Write ``org`` into ``ws`` with one progress bar per table."""
    with progress_bar() as bar:
        tasks: dict[str, int] = {}

        def progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=max(total, 1))
            bar.update(tasks[table], completed=done if total else 1)

        return org.write(ws, progress=progress)


def synth(
    workspace: WorkspaceOpt = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same organisation")] = 7,
    actions: Annotated[
        int | None, typer.Option("--actions", help="Total actions wanted (adds bulk communities)")
    ] = None,
    export_tabular: Annotated[
        Path | None,
        typer.Option(
            "--export-tabular",
            help="Also write members.csv, items.csv, actions.csv (native ids) to this folder",
        ),
    ] = None,
    truth: Annotated[
        Path | None, typer.Option("--truth", help="Write the planted truth as JSON to this file")
    ] = None,
) -> None:
    """Generate a synthetic organisation with planted structure and add it to the workspace."""
    if actions is not None and actions < 0:
        fail("--actions must be zero or more")
    t0 = time.perf_counter()
    with console.status("generating the organisation"):
        org = synthetic.generate(seed=seed, n_actions=actions)
    gen_s = time.perf_counter() - t0
    with opened(workspace, create=True) as ws:
        added = _fill(ws, org)
    c = org.counts
    console.print(
        f"Generated {c['members']:,} members, {c['items']:,} items, {c['actions']:,} actions in "
        f"{len(org.truth.communities)} communities (seed {seed}) in {gen_s:.1f}s; "
        f"added to [bold]{ws.path}[/]: " + ", ".join(f"{k} {v:,}" for k, v in added.items() if v)
    )
    if truth is not None:
        truth.parent.mkdir(parents=True, exist_ok=True)
        truth.write_text(org.truth.to_json(), encoding="utf-8")
        console.print(f"Planted truth written to {truth}")
    if export_tabular is not None:
        paths = org.write_tabular(export_tabular)
        console.print("Tabular export: " + ", ".join(str(p) for p in paths))


def demo(
    workspace: WorkspaceOpt = None,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Then serve the web app with a demo admin account")
    ] = False,
    host: Annotated[str, typer.Option(help="Address the web app listens on (with --serve)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the web app (with --serve)")] = 8000,
) -> None:
    """Create a workspace from the default synthetic organisation (if it is not there yet), analyse it and
    write its value report (report.html in the workspace); with --serve, then open the web app."""
    from covalue.commands.workspace import status

    path = workspace or default_path()
    with opened(path, create=True) as ws:
        have = ws.raw.execute("SELECT count(*) FROM communities WHERE community_id = 'healthy'").fetchone()[0]
        if not have:
            with console.status("generating the demo organisation"):
                org = synthetic.generate()
            _fill(ws, org)
            console.print(f"Demo organisation written to [bold]{ws.path}[/]")
        else:
            console.print(f"[bold]{ws.path}[/] already holds the demo organisation")
        from covalue.report import build

        with console.status("analysing the demo organisation and writing its report"):
            result = build(ws, ws.path / "report.html")
    status(workspace=path, as_json=False)
    console.print(f"Value report written to [bold]{result.path}[/]: open it in a browser (it works offline)")
    if serve:
        from covalue.commands.web import serve_demo

        serve_demo(Path(path), host, port)
