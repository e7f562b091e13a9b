"""``covalue communities``: which spaces make up which community, and moving spaces between them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from covalue import communities as cm
from covalue.commands.options import CommunityOpt, JsonOpt, WorkspaceOpt, console, opened, print_json

communities_app = typer.Typer(
    help="Which spaces (channels, categories, tags, groups) make up which community; move spaces to "
    "another community, kept for later ingests.",
    no_args_is_help=True,
)


@communities_app.command("spaces")
def spaces(workspace: WorkspaceOpt = None, community: CommunityOpt = None, as_json: JsonOpt = False) -> None:
    """List the spaces with their community, source, kind and items."""
    with opened(workspace) as ws:
        rows = cm.spaces(ws, community)
    if as_json:
        print_json(rows)
        return
    t = Table(title=f"{len(rows)} spaces", box=None)
    for c in ("space", "name", "kind", "community", "items"):
        t.add_column(c, justify="right" if c == "items" else "left", overflow="fold")
    for r in rows:
        t.add_row(r["space_id"], r["name"] or "", r["kind"] or "", r["community_id"] or "", f"{r['items']:,}")
    console.print(t)


@communities_app.command("move")
def move(
    spaces: Annotated[list[str], typer.Argument(help="Spaces to move: ids, or names (e.g. '#data-viz')")],
    to: Annotated[str, typer.Option("--to", help="The community's id (made when new)")],
    name: Annotated[
        str | None, typer.Option("--name", help="The community's name, as reports show it")
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Put spaces in another community, now and after every later ingest (the next analysis runs in full)."""
    with opened(workspace, refused=(cm.CommunityError,)) as ws:
        moved = cm.move(ws, spaces, to, name=name)
    if as_json:
        print_json(moved.to_dict())
        return
    console.print(
        f"{len(moved.spaces)} spaces are now in {moved.name} ({moved.community_id}): "
        f"{moved.items:,} items and {moved.actions:,} actions moved."
    )
    for cid in moved.emptied:
        console.print(f"  community {cid} had nothing left and was removed")
    console.print("Run `covalue analyze` (or the next report) to see the communities apart.")
