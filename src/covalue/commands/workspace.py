"""``covalue init``, ``ingest``, ``status``, ``compact``, ``export`` and ``import``: make a workspace, read
exports into it, see what it holds, rewrite its file, move its tables as Parquet."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

import covalue
from covalue.commands.options import JsonOpt, WorkspaceOpt, console, fail, opened, print_json, progress_bar
from covalue.dbfile import is_workspace
from covalue.workspace import default_path


def init(
    path: Annotated[
        Path | None, typer.Argument(help="Folder to create [default: the workspace option]")
    ] = None,
    workspace: WorkspaceOpt = None,
    name: Annotated[str | None, typer.Option(help="A name for the workspace")] = None,
) -> None:
    """Create a workspace: settings (covalue.toml), a secret key for pseudonyms, and the database."""
    target = path or workspace or default_path()
    ws = covalue.init(target, name=name)
    console.print(f"Workspace ready at [bold]{ws.path}[/] (settings in {ws.path / 'covalue.toml'})")


def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(help="Export files or folders", exists=False)] = None,
    workspace: WorkspaceOpt = None,
    source: Annotated[str, typer.Option("--source", "-s", help="Reader to use, or auto to detect")] = "auto",
    community: Annotated[
        str | None, typer.Option("--community", "-c", help="Community these exports belong to")
    ] = None,
    as_json: JsonOpt = False,
    members: Annotated[
        Path | None,
        typer.Option("--members", help="HR file (CSV/JSONL/Parquet): attach org_unit/location/role"),
    ] = None,
) -> None:
    """Read platform exports into the workspace (idempotent: the same export twice adds nothing)."""
    if not paths and members is None:
        fail("name the exports to ingest, or an HR file with --members")
    named = [p for p in paths or [] if is_workspace(p)]
    if named:  # e.g. `covalue ingest WORKSPACE EXPORT`: nothing is read, least of all into another workspace
        fail(
            f"{named[0]}: this folder is a covalue workspace, not an export; to read exports into it: "
            f"covalue ingest -w {named[0]} EXPORT ..."
        )
    from covalue.hr import attach_members

    with opened(workspace, create=True) as ws:
        with progress_bar(sizes=True, quiet=as_json) as bar:
            tasks: dict[str, Any] = {}

            def progress(label: str, done: int, total: int | None) -> None:
                if label not in tasks:
                    tasks[label] = bar.add_task(label, total=total)
                bar.update(tasks[label], completed=done, total=total)

            results = ws.ingest(paths or [], source=source, community=community, progress=progress)
        hr = attach_members(ws, members) if members is not None else None
    if as_json:
        print_json([r.to_dict() for r in results] + ([hr.to_dict()] if hr else []))
    else:
        console.print(f"Workspace [bold]{ws.path}[/]")
        for r in results:
            colour = {"ok": "green", "partial": "yellow", "failed": "red"}[r.status]
            console.print(
                f"[{colour}]{r.status}[/] {', '.join(r.paths)} via [bold]{r.reader}[/] in {r.seconds:.1f}s"
            )
            t = Table(show_header=True, header_style="bold", box=None)
            t.add_column("table")
            t.add_column("read", justify="right")
            t.add_column("new", justify="right")
            for k in ("communities", "spaces", "members", "items", "actions"):
                t.add_row(k, f"{r.read.get(k, 0):,}", f"{r.added.get(k, 0):,}")
            t.add_row("rejects", f"{r.rejects:,}", f"{r.added.get('rejects', 0):,}")
            console.print(t)
            for m in r.messages:
                console.print(f"  [yellow]•[/] {m}")
        if hr:
            console.print(
                f"HR attributes from {hr.path}: {hr.matched:,} rows matched ({hr.members_updated:,} members "
                f"updated), {hr.unmatched:,} unmatched, {hr.rejects:,} rejects"
            )
            for m in hr.messages:
                console.print(f"  [yellow]•[/] {m}")
    statuses = [r.status for r in results] + ([hr.status] if hr else [])
    if statuses and all(s == "failed" for s in statuses):
        raise typer.Exit(1)


def status(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """What the workspace holds: counts per table, source, community and kind, and the rejects."""
    with opened(workspace) as ws:
        st = ws.status()
    if as_json:
        print_json(st)
        return
    console.print(f"[bold]Workspace[/] {st['workspace']}")
    t = Table(title="Tables", box=None)
    t.add_column("table")
    t.add_column("rows", justify="right")
    for k, v in st["tables"].items():
        t.add_row(k, f"{v:,}")
    console.print(t)
    for src, info in st["sources"].items():
        items = ", ".join(f"{k} {v:,}" for k, v in info["items"].items()) or "none"
        acts = ", ".join(f"{k} {v:,}" for k, v in info["actions"].items()) or "none"
        console.print(
            f"[bold]{src}[/]: {info['members']:,} members ({info['bots']} bots); items: {items}; actions: {acts}"
        )
        if info.get("senders_recovered"):
            console.print(
                f"  {info['senders_recovered']:,} of them recovered from X-Original-From, Reply-To or the "
                "name before 'via', where the list had rewritten From to its own address"
            )
    t = Table(title="Communities", box=None)
    for c in ("community", "spaces", "items", "actions", "authors", "from", "to"):
        t.add_column(c)
    for c in st["communities"].values():
        t.add_row(
            c["name"],
            f"{c['spaces']:,}",
            f"{c['items']:,}",
            f"{c['actions']:,}",
            f"{c['authors']:,}",
            (c["first"] or "")[:10],
            (c["last"] or "")[:10],
        )
    console.print(t)
    if st["rejects"]:
        t = Table(title="Rejects (records that could not be read)", box=None)
        for c in ("source", "count", "reason", "example"):
            t.add_column(c)
        for r in st["rejects"]:
            t.add_row(r["source"], f"{r['count']:,}", r["reason"], r["example_location"])
        console.print(t)
    else:
        console.print("No rejects.")


def compact(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Rewrite the workspace's database into a fresh file: gives back the space that replaced and deleted
    rows still hold, and writes it in covalue's storage format (an older workspace's analyses then
    write faster)."""
    from covalue import dbfile
    from covalue.rights.compact import rewrite_workspace
    from covalue.workspace import DB_FILE

    with opened(workspace) as ws:
        before = dbfile.version(ws.raw)
        size = (ws.path / DB_FILE).stat().st_size
        with progress_bar(quiet=as_json) as bar:
            bar.add_task("rewriting the database", total=None)
            saved = rewrite_workspace(ws)
        after = dbfile.version(ws.raw)
    out = {"bytes_before": size, "bytes_after": size - saved, "format_before": before, "format_after": after}
    if as_json:
        print_json(out)
        return
    mb = 1024 * 1024
    console.print(
        f"Rewrote {ws.path / DB_FILE}: {size / mb:,.0f} MB → {(size - saved) / mb:,.0f} MB, "
        f"storage format {before} → {after}"
    )


def export(
    parquet: Annotated[
        Path,
        typer.Option(
            "--parquet", help="Folder for the Parquet lake (created; an earlier export is replaced)"
        ),
    ],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the canonical tables as Parquet for Spark: items and actions partitioned by community and
    month, pseudonymous ids only (no names, account ids or email hashes); see docs/scale.md."""
    from covalue.lake import export_parquet

    result = _lake_job(workspace, as_json, "wrote", lambda ws, p: export_parquet(ws, parquet, progress=p))
    if as_json:
        print_json(result.to_dict())
        return
    console.print(f"Exported to [bold]{result.path}[/] in {result.seconds:.1f}s")
    t = Table(box=None)
    t.add_column("table")
    t.add_column("rows", justify="right")
    for name, n in result.rows.items():
        t.add_row(name, f"{n:,}")
    console.print(t)


def import_cmd(
    parquet: Annotated[Path, typer.Option("--parquet", help="A lake `covalue export --parquet` wrote")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a Parquet lake's canonical tables to the workspace (rows already held are skipped), e.g. to
    move a workspace's data to another machine; see docs/scale.md."""
    from covalue.lake import import_parquet

    result = _lake_job(workspace, as_json, "read", lambda ws, p: import_parquet(ws, parquet, progress=p))
    if as_json:
        print_json(result.to_dict())
        return
    console.print(f"Imported [bold]{result.path}[/] in {result.seconds:.1f}s")
    t = Table(box=None)
    for c in ("table", "read", "added"):
        t.add_column(c, justify="left" if c == "table" else "right")
    for name, n in result.read.items():
        t.add_row(name, f"{n:,}", f"{result.added[name]:,}")
    console.print(t)
    if result.skipped:
        gone = ", ".join(f"{n:,} {table}" for table, n in result.skipped.items())
        console.print(f"Left out, as people forgotten in this workspace: {gone}.")


def _lake_job(workspace: Path | None, as_json: bool, verb: str, run: Callable[[Any, Any], Any]) -> Any:
    """``run(ws, progress)`` on the workspace, a table at a time under a progress bar ("wrote items");
    a lake that cannot be written or read as asked ends the command with its reason."""
    from covalue.lake import LakeError

    with opened(workspace, refused=(LakeError,)) as ws, progress_bar(quiet=as_json) as bar:
        task = bar.add_task(verb, total=None)

        def progress(table: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"{verb} {table}")

        return run(ws, progress)
