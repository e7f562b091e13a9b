"""What every command shares: the consoles, the option types (workspace, community, period, JSON) and
opening the workspace with a clear message when it cannot be opened."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

import covalue
from covalue.periods import is_period
from covalue.workspace import Workspace, WorkspaceError, default_path

console = Console()
err = Console(stderr=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace", "-w", help="Workspace folder [default: $COVALUE_WORKSPACE or ./covalue-workspace]"
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
CommunityOpt = Annotated[str | None, typer.Option("--community", "-c", help="Only this community (its id)")]


def _month(period: str | None) -> str | None:
    """Refuse a ``--period`` that is not a month written YYYY-MM (a usage error: exit code 2)."""
    if period is not None and not is_period(period):
        raise typer.BadParameter(f"must look like 2025-06, not {period!r}")
    return period


PeriodOpt = Annotated[
    str | None,
    typer.Option("--period", "-p", help="Month YYYY-MM [default: the latest]", callback=_month),
]


def fail(message: str, code: int = 2) -> NoReturn:
    """End the command with ``error: message`` on stderr; exit code 2 says it was asked for wrongly."""
    err.print(f"[red]error:[/] {message}")
    raise typer.Exit(code)


def open_ws(path: Path | None, *, create: bool = False) -> Workspace:
    """The workspace at ``path`` (or the default one); exit code 2 with the reason when it cannot open."""
    try:
        return covalue.open(path or default_path(), create=create)
    except WorkspaceError as e:
        fail(str(e))


@contextmanager
def opened(
    path: Path | None, *, create: bool = False, refused: tuple[type[Exception], ...] = (), code: int = 2
) -> Iterator[Workspace]:
    """The workspace for the length of a command, closed however it ends; an error of a ``refused`` kind
    (a member or merge that is not there) ends the command with its message and exit ``code``."""
    ws = open_ws(path, create=create)
    try:
        yield ws
    except refused as e:
        fail(str(e), code)
    finally:
        ws.close()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def progress_bar(*, sizes: bool = False, quiet: bool = False) -> Progress:
    """The progress bars of long commands, on stderr and gone when done: counts of steps or rows, or
    ``sizes`` (bytes read); ``quiet`` (e.g. with --json) shows nothing."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn() if sizes else MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=quiet,
    )
