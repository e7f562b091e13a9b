"""What every command shares: the consoles, the option types (workspace, community, period, JSON) and
opening the workspace with a clear message when it cannot be opened."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

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
PeriodOpt = Annotated[str | None, typer.Option("--period", "-p", help="Month YYYY-MM [default: the latest]")]


def check_period(period: str | None) -> None:
    """Refuse a ``--period`` that is not a month written YYYY-MM (exit code 2)."""
    if period is not None and not is_period(period):
        err.print(f"[red]error:[/] --period must look like 2025-06, not {period!r}")
        raise typer.Exit(2)


def open_ws(path: Path | None, *, create: bool = False) -> Workspace:
    """The workspace at ``path`` (or the default one); exit code 2 with the reason when it cannot open."""
    try:
        return covalue.open(path or default_path(), create=create)
    except WorkspaceError as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from None


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
