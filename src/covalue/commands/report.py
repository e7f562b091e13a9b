"""``covalue report``: the value report as one offline HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from covalue.commands.options import CommunityOpt, PeriodOpt, WorkspaceOpt, console, opened


def report(
    workspace: WorkspaceOpt = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write")] = Path("report.html"),
    community: CommunityOpt = None,
    period: PeriodOpt = None,
) -> None:
    """Write the value report: verdict, stage mix and journey, health, champions, resonance and coaching
    prompts per community, a portfolio when there are several; one HTML file that works offline."""
    from covalue.report import build

    with opened(workspace, refused=(LookupError,)) as ws, console.status("analysing and writing the report"):
        result = build(ws, output, community=community, period=period)
    console.print(
        f"Report for {result.communities} communit{'y' if result.communities == 1 else 'ies'} "
        f"({result.charts} charts, {result.bytes / 1e6:.1f} MB) written to [bold]{result.path}[/] "
        f"in {result.seconds:.1f}s"
    )
