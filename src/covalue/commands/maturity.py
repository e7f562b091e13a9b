"""``covalue analyze``, ``stages``, ``journeys``, ``explain`` and ``evaluate``: the Value Maturity model
on the command line, in plain words or as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import ibis
import typer
from rich.markup import escape
from rich.table import Table

from covalue import dbfile, evaluation, journey
from covalue.commands.options import (
    CommunityOpt,
    JsonOpt,
    PeriodOpt,
    WorkspaceOpt,
    console,
    fail,
    opened,
    print_json,
    progress_bar,
)
from covalue.metrics.maturity import TRANSITIONS
from covalue.metrics.stage_checks import unmeasurable_reason
from covalue.privacy import from_pseudonym
from covalue.stages import JOURNEY
from covalue.stages import label as stage_label


def _records(table: Any) -> list[dict[str, Any]]:
    return table.to_pyarrow().to_pylist()


def analyze(
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    engine: Annotated[
        str | None,
        typer.Option(
            help="duckdb (in the workspace) or spark (a cluster over a Parquet lake) [default: covalue.toml]"
        ),
    ] = None,
    spark_master: Annotated[
        str | None, typer.Option(help="Spark master URL for --engine spark, e.g. spark://head:7077")
    ] = None,
    lake: Annotated[
        Path | None,
        typer.Option(help="Parquet lake for --engine spark (written by `covalue export --parquet`)"),
    ] = None,
    full: Annotated[
        bool,
        typer.Option("--full", help="recompute everything, not only what the rows added since can change"),
    ] = False,
) -> None:
    """Place every member on the Connect → Share → Solve → Innovate journey, with evidence.

    Writes item roles, interactions, member stages, stage mix, journeys, personas and stage checks.
    With --engine spark the same pipeline runs on a Spark cluster over a Parquet lake, the results are
    written there and the workspace reads them from it (docs/scale.md).
    """
    from covalue.lake import LakeError

    # out of memory: the one line that names the setting to raise, exit 3, no traceback
    with (
        opened(workspace, refused=(journey.AnalysisOutOfMemory,), code=3) as ws,
        progress_bar(quiet=as_json) as bar,
    ):
        task = bar.add_task("analysing", total=len(journey.DERIVED))

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"wrote {step}")

        try:
            result = journey.analyze(
                ws,
                progress=progress,
                engine=engine,
                spark_master=spark_master,
                lake=lake.resolve() if lake else None,  # from where the command was given
                full=full,
            )
        except LakeError as e:
            fail(str(e))
        outdated = dbfile.outdated(ws.raw)
    if as_json:
        print_json(result.to_dict())
        return
    console.print(
        f"Analysis [bold]{result.analysis_id}[/] done in {result.total_seconds:.1f}s ({result.mode})"
    )
    if outdated:
        console.print(
            "[yellow]•[/] This workspace's file is in an older DuckDB storage format: `covalue compact` "
            "rewrites it once, and analyses then write their tables faster into a file about half the size."
        )
    t = Table(box=None)
    t.add_column("table")
    t.add_column("rows", justify="right")
    t.add_column("seconds", justify="right")
    for name, n in result.rows.items():
        t.add_row(name, f"{n:,}", f"{result.seconds.get(name, 0):.2f}")
    console.print(t)


def _stage_rows(
    ws: Any, community: str | None, period: str | None, members: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(stage mix, stage checks, members' stages) of each community's month: the one asked for, else its
    latest complete one."""
    mix = journey.stage_mix(ws, community=community, period=period)
    mix_rows = _records(mix.drop("analysis_id").order_by("community_id"))
    if period is None:  # each community's default month: its latest complete one
        defaults = journey.default_periods(ws, community)
        mix_rows = [r for r in mix_rows if defaults.get(r["community_id"]) == r["period"]]
    chosen = {(r["community_id"], r["period"]) for r in mix_rows}
    chk = journey.checks(ws, community=community, period=period)
    chk_rows = [
        r
        for r in _records(chk.drop("analysis_id").order_by(["community_id", "ord"]))
        if (r["community_id"], r["period"]) in chosen
    ]
    mem_rows: list[dict[str, Any]] = []
    if members:
        ms = journey.stages(ws, community=community, period=period)
        ms = ms.select("member_id", "community_id", "period", "pidx", "stage", "persona", "n_interactions")
        mem_rows = [
            r
            for r in _records(ms.order_by(["community_id", "member_id"]))
            if (r["community_id"], r["period"]) in chosen
        ]
    return mix_rows, chk_rows, mem_rows


def stages(
    workspace: WorkspaceOpt = None,
    community: CommunityOpt = None,
    period: PeriodOpt = None,
    members: Annotated[bool, typer.Option("--members", help="List each member's stage too")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Each community's stage mix for a month and its stage checks (Terry's questions).

    With --members, every member's stage and persona too.
    """
    from covalue.report.coaching import check_number

    with opened(workspace) as ws:
        mix_rows, chk_rows, mem_rows = _stage_rows(ws, community, period, members)
    if as_json:
        out: dict[str, Any] = {"stage_mix": mix_rows, "checks": chk_rows}
        if members:
            out["members"] = mem_rows
        print_json(out)
        return
    if not mix_rows:
        console.print("No members found for that community and period.")
        raise typer.Exit(1)
    for r in mix_rows:
        console.print(
            f"\n[bold]{r['community_id']}[/] — {r['period']}: {r['active']:,} members did something others "
            f"could see in the window ({r['members']:,} present)"
        )
        measurable = {
            c["community_id"]: c.get("measurable", True)
            for c in chk_rows
            if c["stage"] == "innovate" and c["community_id"] == r["community_id"]
        }
        t = Table(box=None)
        t.add_column("stage")
        t.add_column("members", justify="right")
        t.add_column("share of active", justify="right")
        for s in JOURNEY:
            if s == "innovate" and measurable.get(r["community_id"]) is False:
                t.add_row(stage_label(s), "–", "not measurable from this export")
                continue
            t.add_row(stage_label(s), f"{r[s]:,}", f"{r[s + '_share']:.0%}")
        console.print(t)
        console.print(
            f"Beside the journey: {r['observer']:,} observed only (joined, viewed or followed); "
            f"{r.get('readers', 0):,} seen reading; {r.get('regular', 0):,} took part at least every two weeks "
            "(the frequency sets the persona, not the stage)."
        )
        t = Table(title="Stage checks", box=None, title_justify="left")
        for c in ("stage", "question", "measure", "over", "value", "needed", "result"):
            t.add_column(c)
        for c in chk_rows:
            if c["community_id"] != r["community_id"]:
                continue
            # as the report and the web write them: shares as percentages, counts with separators
            value = "–" if c["value"] is None else check_number(c["value"], c)
            need = f"{c['op']} {check_number(c['threshold'], c)}"
            if c.get("measurable") is False:
                result = unmeasurable_reason(c)
            else:
                result = "[green]pass[/]" if c["passed"] else "[red]not yet[/]"
            t.add_row(
                stage_label(c["stage"]),
                c["question"],
                c["measure"],
                c.get("window") or "",
                value,
                need,
                result,
            )
        console.print(t)
    if members:
        t = Table(title="Members", box=None, title_justify="left")
        for c in ("community", "member", "stage", "persona", "interactions"):
            t.add_column(c)
        for m in mem_rows:
            t.add_row(m["community_id"], m["member_id"], m["stage"], m["persona"], f"{m['n_interactions']}")
        console.print(t)


def journeys(
    workspace: WorkspaceOpt = None,
    community: CommunityOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """How members moved between consecutive months: new, moved up, stayed, dropped, left."""
    with opened(workspace) as ws:
        summary = _records(journey.journey_summary(ws, community=community))
        jn = journey.journeys(ws, community=community)
        defaults = journey.default_periods(ws, community)
        last = jn.filter(
            ibis.or_(*[(jn.community_id == c) & (jn.period == p) for c, p in defaults.items()])
            if defaults
            else ibis.literal(False)
        )
        flows = last.group_by("community_id", "period", "prev_stage", "stage").aggregate(members=last.count())
        flow_rows = _records(flows.order_by(["community_id", "prev_stage", "stage"]))
    if as_json:
        print_json({"summary": summary, "latest_moves": flow_rows})
        return
    if not summary:
        console.print("No journeys yet: the workspace has no members with activity.")
        raise typer.Exit(1)
    by_comm: dict[str, dict[str, dict[str, int]]] = {}
    for r in summary:
        by_comm.setdefault(r["community_id"], {}).setdefault(r["period"], {})[r["transition"]] = r["members"]
    for comm, periods in by_comm.items():
        t = Table(title=f"{comm}: members by move from the month before", box=None, title_justify="left")
        t.add_column("period")
        for tr in TRANSITIONS:
            t.add_column(tr, justify="right")
        for p in sorted(periods):
            t.add_row(p, *[f"{periods[p].get(tr, 0):,}" for tr in TRANSITIONS])
        console.print(t)
        moves = [f for f in flow_rows if f["community_id"] == comm and f["prev_stage"]]
        if moves:
            console.print(
                f"  latest month ({moves[0]['period']}): "
                + "; ".join(
                    f"{stage_label(f['prev_stage'])} → {stage_label(f['stage']) or 'no longer active'}: "
                    f"{f['members']}"
                    for f in moves
                )
            )


def _explain(ws: Any, member: str, **kw: Any) -> dict[str, Any]:
    """``journey.explain`` on what a person copies from a report: "Member 6b6c48" or "6b6c48" names
    the member whose id is ``m_6b6c48…``, as the pseudonym is made."""
    given = from_pseudonym(member) or member.strip()
    tries = [given] if given.startswith("m_") else [given, "m_" + given]
    for i, who in enumerate(tries):
        try:
            return journey.explain(ws, who, **kw)
        except LookupError as e:
            if i + 1 < len(tries):
                continue
            if str(e).startswith("no member"):
                raise LookupError(f"no member {member!r} in {ws.path}") from None
            raise
    raise AssertionError("unreachable")


def explain(
    member: Annotated[str, typer.Argument(help="Member id (or an unambiguous beginning of it)")],
    workspace: WorkspaceOpt = None,
    community: CommunityOpt = None,
    period: PeriodOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Why a member is at their stage: numbers, reasons, example items and the next step."""
    with opened(workspace, refused=(LookupError,), code=1) as ws:
        out = _explain(ws, member, community=community, period=period)
    if as_json:
        print_json(out)
        return
    if not out["communities"]:
        console.print(f"{out['member_id']} has no activity in the communities and months asked for.")
        raise typer.Exit(1)
    console.print(f"[bold]{out['member_id']}[/]")
    for c in out["communities"]:
        console.print(
            f"\n[bold]{c['community_id']}[/], {c['period']}: [bold]{c['stage'].title()}[/] "
            f"(persona: {c['persona']})"
        )
        console.print(f"  {c['reasons']['activity']}")
        for flag in ("connect", "share", "solve", "innovate"):
            mark = "[green]✓[/]" if c["flags"][flag] else "[dim]·[/]"
            console.print(f"  {mark} {flag.title()}: {c['reasons'][flag]}")
            for e in c["evidence"].get(flag, []):
                where = f" in {e['space']}" if e.get("space") else ""
                what = f"“{escape(e['excerpt'])}” " if e.get("excerpt") else ""
                console.print(
                    f"      e.g. {what}({e['role']}{where}, {(e['created_at'] or '')[:10]}; "
                    f"[dim]{escape(e['item_id'])}[/])"
                )
        if c["journey"]:
            frm = c["journey"]["from"] or "—"
            console.print(f"  Since last month: {c['journey']['transition']} (was {frm}).")
        console.print(f"  Next: {c['next_step']}.")


def _print_replies(r: dict[str, int]) -> None:
    n, linked = r["replies"], r["linked"]
    console.print(
        f"Replies read from the chat's flow, against {n:,} replies the platform recorded "
        "(hidden, then read again):"
    )
    console.print(f"  given a parent {linked:,} ({linked / n:.0%})")
    if linked:
        console.print(
            f"  the person answered is right for [bold]{r['right_person'] / linked:.0%}[/] of them "
            f"({r['right_person']:,}), the very message for {r['right_message'] / linked:.0%} "
            f"({r['right_message']:,})"
        )
    console.print(
        "  a recorded reply often answers a message further back than the last one, so these are a floor"
    )


def evaluate(
    workspace: WorkspaceOpt = None,
    idea_sample: Annotated[
        Path | None,
        typer.Option(
            "--idea-sample", help="Human-read sample of ideas (TOML, see tests/data/idea_sample.toml)"
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """How well roles are detected: questions and ideas from text alone, idea precision, and who
    answered whom in a chat's flow.

    Questions are scored against items whose platform says question or answer (a Stack Exchange dump,
    for one). Ideas: recall of the text rules (structure off) on the thread openers members tagged as
    requests (a meta site's feature-request), per source; with --idea-sample, precision on a sample
    a person read and labelled. Chat replies: on Discord and other chats whose replies stay in the
    flow, the replies the platform recorded are hidden and read again from timing and names.
    """
    with opened(workspace) as ws:
        q = evaluation.question_quality(ws)
        ideas = evaluation.idea_quality(ws)
        sample = evaluation.idea_sample_precision(idea_sample, ws) if idea_sample is not None else None
        replies = evaluation.reply_quality(ws)
    if as_json:
        out: dict[str, Any] = {**q, "ideas": {"recall_by_source": ideas}, "chat_replies": replies}
        if sample is not None:
            out["ideas"]["sample"] = sample
        print_json(out)
        return
    if not q["items"] and not ideas and sample is None and not replies["replies"]:
        console.print(
            "Nothing to score against: no question/answer items, no tagged requests (ingest a Stack "
            "Exchange dump, for one), no replies recorded in a chat's flow, and no --idea-sample."
        )
        raise typer.Exit(1)
    if q["items"]:
        console.print(
            f"Question detection from text alone on {q['items']:,} question/answer items "
            f"({q['questions']:,} questions):"
        )
        console.print(
            f"  precision {q['precision']:.3f}   recall {q['recall']:.3f}   [bold]F1 {q['f1']:.3f}[/]"
        )
    if ideas:
        console.print("Idea detection from title and text alone, against openers tagged as requests:")
        t = Table(box=None)
        for c in ("source", "tagged", "found", "recall", "text ideas", "openers"):
            t.add_column(c, justify="left" if c == "source" else "right")
        for r in ideas:
            t.add_row(
                r["source"],
                f"{r['requests']:,}",
                f"{r['found']:,}",
                f"[bold]{r['recall']:.0%}[/]",
                f"{r['text_ideas']:,}",
                f"{r['openers']:,}",
            )
        console.print(t)
    if replies["replies"]:
        _print_replies(replies)
    if sample is not None:
        console.print(
            f"Idea precision on a human-read sample: [bold]{sample['precision']:.0%}[/] "
            f"({sample['proposals']} of {sample['items']} are proposals)"
        )
        for src, b in sample["by_source"].items():
            console.print(f"  {src}: {b['proposals']} of {b['items']} ({b['precision']:.0%})")
        if "in_workspace" in sample:
            still = sample.get("still_ideas")
            console.print(
                f"  this workspace holds {sample['in_workspace']} of the sampled items"
                + (f"; the last analysis calls {still} of them ideas" if still is not None else "")
            )
