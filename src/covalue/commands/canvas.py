"""``covalue canvas ...``: the canvases the community team fills in (Shared Value, Collaboration),
exported on their own. Commands register on ``canvas_app``; further canvases add theirs here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from covalue.commands.options import WorkspaceOpt, console, fail, opened, print_json
from covalue.presentation import plural

canvas_app = typer.Typer(help="Canvases the community team fills in with evidence, exported as HTML or JSON.")


@canvas_app.command("export")
def export(
    community: Annotated[str, typer.Option("--community", "-c", help="The community (its id)")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file.html or file.json [default: JSON on stdout]")
    ] = None,
    method: Annotated[
        str, typer.Option(help="Matching: tfidf, or semantic with the `semantic` extra")
    ] = "tfidf",
    workspace: WorkspaceOpt = None,
) -> None:
    """Export the Shared Value canvas of one community: needs, goals, sweet spot, gaps and decisions."""
    from covalue.canvas import shared_value as sv
    from covalue.canvas import shared_value_export as export_mod
    from covalue.store import Store

    if method not in sv.METHODS:
        fail(f"unknown method {method!r}; use one of {', '.join(sv.METHODS)}")
    if method == "semantic" and not sv.semantic_available():
        fail("semantic matching needs the `semantic` extra: pip install 'covalue[semantic]'")
    suffix = output.suffix.lower() if output else ".json"
    if suffix not in (".html", ".htm", ".json"):
        fail(f"{output}: write to a .html or .json file")
    with opened(workspace) as ws:
        names = dict(ws.raw.execute("SELECT community_id, name FROM communities").fetchall())
        if community not in names:
            known = ", ".join(sorted(names)) or "none"
            fail(f"no community {community!r} in this workspace (known: {known})")
        store = Store.open(ws.path)
        try:
            data = export_mod.canvas_data(store, community, names[community] or community, method)
        finally:
            store.dispose()
    body = export_mod.render_page(data).encode() if suffix in (".html", ".htm") else export_mod.to_json(data)
    if output is None:
        typer.echo(body.decode())
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(body)
    cv = data["canvas"]
    console.print(
        f"Shared Value canvas of [bold]{community}[/]: {len(cv['sweet_spot'])} goals in the sweet spot, "
        f"{len(cv['member_only'])} member-only needs, {len(cv['org_only'])} organisation-only goals, "
        f"{len(data['decisions'])} decisions; written to [bold]{output}[/]"
    )


# -- the Collaboration canvas: experiments and value stories -----------------------------------
def _collab_rows(workspace: Path | None, community: str | None, what: str) -> tuple[list[dict], Path]:
    """Experiments or stories from the workspace's store, one community or all."""
    from sqlalchemy import select

    from covalue.canvas import collaboration_data as wc
    from covalue.store import Store
    from covalue.store import collaboration as cs

    with opened(workspace) as ws:
        path = ws.path
    store = Store.open(path)
    try:
        with store.session() as db:
            model = cs.CcExperiment if what == "experiments" else cs.CcStory
            q = select(model.community_id).distinct()
            cids = [community] if community else sorted(db.scalars(q))
            load = wc.load_experiments if what == "experiments" else wc.load_stories
            rows = [r for cid in cids for r in load(db, cid)]
    finally:
        store.dispose()
    return rows, path


def experiments(
    community: Annotated[str | None, typer.Option("--community", "-c", help="One community (its id)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    sync: Annotated[
        bool,
        typer.Option(
            "--sync",
            help="Write completed experiments to the workspace (experiment_participants with their dates "
            "and space, experiment_items with their linked items), for the next `covalue analyze`",
        ),
    ] = False,
    link: Annotated[
        int | None,
        typer.Option(
            "--link", help="Link the --item ids to this experiment (its number) as its contributions"
        ),
    ] = None,
    item: Annotated[
        list[str] | None, typer.Option("--item", help="An item id of the experiment's community (repeat)")
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """List the experiments of the Collaboration canvas: hypothesis, target, dates, space, participants,
    linked items, outcome. Being listed is evidence only for members who contributed (see --link)."""
    from covalue.store import Store
    from covalue.store import collaboration as cs

    if link is not None:
        _link_items(workspace, link, item or [])
    elif item:
        fail("--item needs --link EXPERIMENT (the experiment's number)")
    rows, path = _collab_rows(workspace, community, "experiments")
    written = None
    if sync or link is not None:
        store = Store.open(path)
        try:
            with opened(path) as ws, store.session() as db:
                written = cs.sync(db, ws)
        finally:
            store.dispose()
    if as_json:
        print_json({"experiments": rows, **(written or {"participants_written": None})})
        return
    if not rows:
        console.print("No experiment yet: start one on the Experiments page of `covalue serve`.")
    for e in rows:
        console.print(
            f"[bold]#{e['id']} {e['title']}[/] ({e['community_id']}, {e['status']}) "
            f"{e['starts_on'] or '?'} → {e['ends_on'] or 'open'}"
            + (f" in {e['space_id']}" if e.get("space_id") else "")
            + f"; {plural(len(e['participants']), 'participant')}, {plural(len(e['items']), 'linked item')}"
            + (f"; outcome: {e['outcome']}" if e["outcome"] else "")
        )
    if written is not None:
        console.print(
            f"{plural(written['participants_written'], 'participant row')} and "
            f"{plural(written['items_written'], 'linked item')} written to the workspace; run `covalue analyze` next."
        )


def _link_items(workspace: Path | None, xid: int, items: list[str]) -> None:
    """Link items to an experiment after checking they are items of its community."""
    from covalue.store import Store
    from covalue.store import collaboration as cs

    ids = sorted({i.strip() for i in items if i.strip()})
    if not ids:
        fail("give the items to link with --item ID (repeat for several)")
    with opened(workspace) as ws:
        store = Store.open(ws.path)
        try:
            with store.session() as db:
                exp = db.get(cs.CcExperiment, xid)
                if exp is None:
                    fail(f"there is no experiment #{xid}")
                unknown = cs.unknown_items(ws, exp.community_id, ids)
                if unknown:
                    fail(f"no such post or thread in {exp.community_id}: {', '.join(unknown[:5])}")
                new = cs.link_items(db, xid, ids, None)
        finally:
            store.dispose()
    already = len(ids) - len(new)
    console.print(
        f"{plural(len(new), 'item')} linked to experiment #{xid} ({already} already {'was' if already == 1 else 'were'})."
    )


def stories(
    community: Annotated[str | None, typer.Option("--community", "-c", help="One community (its id)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """List the value-creation stories, with the cycles each reaches."""
    rows, _ = _collab_rows(workspace, community, "stories")
    if as_json:
        print_json({"stories": rows})
        return
    if not rows:
        console.print("No story yet: tell one on the Stories page of `covalue serve`.")
    for s in rows:
        console.print(f"[bold]{s['title']}[/] ({s['community_id']}): {', '.join(s['cycles'])}")
