"""``covalue identities``, ``covalue merge`` and ``covalue unmerge``: who is the same person across sources."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from covalue import merge
from covalue.commands.options import JsonOpt, WorkspaceOpt, console, opened, print_json


def identities(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """List members made of several accounts, with each account's source, pseudonym and merge reason.

    Display names are shown only when the workspace allows names (privacy.show_names)."""
    with opened(workspace) as ws:
        members = merge.merged_members(ws)
    if as_json:
        print_json(members)
        return
    if not members:
        console.print("No merged members: every account is its own member.")
        return
    t = Table(title=f"{len(members)} merged members", box=None)
    for c in ("member", "source", "identity", "name", "reason"):
        t.add_column(c)
    for m in members:
        for n, i in enumerate(m["identities"]):
            t.add_row(
                m["member_id"] if n == 0 else "",
                i["source"],
                i["identity_id"],
                i.get("display_name") or ("" if "display_name" in i else "(hidden)"),
                i["reason"] or "",
            )
    console.print(t)


def merge_cmd(
    workspace: WorkspaceOpt = None,
    aliases: Annotated[
        Path | None, typer.Option("--aliases", "-a", help="Alias file (TOML or CSV) to apply")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Merge accounts of the same person: same email across sources, and the alias file.

    Runs after every ingest too; running it again changes nothing."""
    with opened(workspace, refused=(merge.MergeError,)) as ws:
        result = merge.auto_merge(ws, aliases)
    if as_json:
        print_json(result.to_dict())
        return
    console.print(f"{result.identities} accounts joined {result.members} members.")
    for m in result.messages:
        console.print(f"  [yellow]•[/] {m}")


def unmerge(
    member_or_identity: Annotated[str, typer.Argument(help="A member id, or one identity to detach")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Undo a merge: every account gets its own member back (nothing is deleted; the log keeps it)."""
    with opened(workspace, refused=(merge.MergeError,)) as ws:
        restored = merge.unmerge(ws, member_or_identity)
    if as_json:
        print_json({"restored": restored})
        return
    console.print(f"{len(restored)} accounts are their own members again.")
