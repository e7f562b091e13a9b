"""``covalue forget``, ``covalue subject-access`` and ``covalue prune``: the rights of the people in the
data (covalue.rights; docs/privacy.md). Registered in ``covalue.cli``."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from covalue.commands.options import JsonOpt, WorkspaceOpt, console, err, fail, opened, print_json
from covalue.workspace import Workspace

PersonArg = Annotated[
    str,
    typer.Argument(
        help="The person: member id, pseudonym ('Member 3f2a9c'), e-mail address, or platform account "
        "('slack:houstondatavis:U061A5N1G' or the platform's id alone)"
    ),
]
AlsoOpt = Annotated[
    list[str] | None,
    typer.Option("--also", help="Another name, handle or address they are known by in texts (repeatable)"),
]


@contextmanager
def _opened(workspace: Path | None) -> Iterator[tuple[Workspace, Any]]:
    """The workspace and its account store (None when it has none: never created just for this), both
    closed when the command is done."""
    from covalue.store import existing

    with opened(workspace) as ws, existing(ws.path) as store:
        yield ws, store


def _resolve(ws: Workspace, spec: str, store: Any, also: list[str] | None) -> Any:
    from covalue.rights.people import PersonNotFound, resolve

    try:
        return resolve(ws, spec, store=store, also=also)
    except PersonNotFound as e:
        fail(str(e))


def forget(
    person: PersonArg,
    workspace: WorkspaceOpt = None,
    also: AlsoOpt = None,
    by: Annotated[str | None, typer.Option("--by", help="Who asked for it (default: your user name)")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Erase a person everywhere (right to erasure): identities, items, actions, merges, survey answers,
    canvas mentions, experiments, account; a re-ingest then skips them. Cannot be undone."""
    from covalue.rights.forget import forget as run
    from covalue.rights.subject_access import subject_access

    with _opened(workspace) as (ws, store):
        p = _resolve(ws, person, store, also)
        held = subject_access(ws, p, store=store)["counts"]
        shown = ", ".join(f"{k.split('.', 1)[1]} {v:,}" for k, v in held.items() if v)
        if not yes:
            err.print(f"{p.label}: {shown or 'no rows'}")
            if not typer.confirm(
                f"Forget {p.label} for good? This cannot be undone", default=False, err=True
            ):
                raise typer.Exit(1)
        result = run(ws, p, asked_by=by or getpass.getuser(), store=store)
    if as_json:
        print_json(result.to_dict())
        return
    console.print(f"Forgotten: {result.label} (request {result.forget_id}, asked by {result.asked_by})")
    for k, v in result.counts.items():
        if v:
            console.print(f"  {k}: {v:,}")
    for f in result.files_deleted:
        console.print(f"  file deleted: {f}")
    for f in result.files_rewritten:
        console.print(f"  file rewritten without them: {f}")
    console.print(f"  analysis: {result.analysis}")


def subject_access_cmd(
    person: PersonArg,
    workspace: WorkspaceOpt = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="JSON file to write")] = Path("person.json"),
    also: AlsoOpt = None,
) -> None:
    """Write every row held about a person (right of access) as one JSON file; layout in docs/privacy.md."""
    from covalue.rights.subject_access import subject_access

    with _opened(workspace) as (ws, store):
        p = _resolve(ws, person, store, also)
        data = subject_access(ws, p, store=store)
        if store is not None:
            from covalue.store import accounts as acc

            with store.session() as db:
                acc.audit(
                    db,
                    None,
                    "subject access export",
                    subject=min(p.member_ids) if p.member_ids else None,
                    detail=f"asked by {getpass.getuser()} via the CLI",
                )
    output.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    n = sum(data["counts"].values())
    console.print(f"{n:,} rows about {data['person']['label']} written to [bold]{output}[/]")


def prune(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Delete uploads and erase message texts older than the [privacy] retention settings; derived
    measures stay. `covalue serve` runs this once a day."""
    from covalue.rights.retention import prune as run

    with _opened(workspace) as (ws, store):
        result = run(ws, store=store, asked_by=f"{getpass.getuser()} via the CLI")
    if as_json:
        print_json(result.to_dict())
        return
    console.print(result.policy)
    console.print(
        f"{len(result.uploads_deleted):,} uploads deleted, {result.texts_erased:,} texts and "
        f"{result.excerpts_erased:,} reject excerpts erased"
    )
