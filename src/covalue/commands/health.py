"""``covalue health``, ``dynamics``, ``champions`` and ``resonance``: is it a community, is it growing,
who carries it and what members value — in plain words or as JSON."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from covalue import diagnosis, headline
from covalue.commands.options import (
    CommunityOpt,
    JsonOpt,
    PeriodOpt,
    WorkspaceOpt,
    console,
    err,
    opened,
    print_json,
)
from covalue.presentation import hours, num, pct, plural

_NETWORK_KEYS = ("n_members", "n_edges", "core_k", "core_size", "bridges", "reach", "method")


def _as_json(out: dict[str, Any], as_json: bool, what: str, community: str | None) -> bool:
    """Print the results as JSON when asked (then nothing more is printed); no results at all end the
    command with a hint (exit code 1)."""
    if as_json:
        print_json(out)
        return True
    if not out:
        where = f" for community {community!r}" if community else ""
        err.print(f"[yellow]No {what}{where}:[/] is the workspace empty, or the community id mistyped?")
        raise typer.Exit(1)
    return False


def health(
    workspace: WorkspaceOpt = None,
    community: CommunityOpt = None,
    period: PeriodOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Each community's shape (community, single voice, broadcast, workgroup, dormant) with the numbers
    that decided it, responsiveness, concentration, its core group and bridges, and the oldest
    unanswered questions."""
    with opened(workspace) as ws:
        out = diagnosis.health(ws, community=community, period=period)
        net = diagnosis.network(ws, community=community, period=period)
        # the value headline on the same window as the shape (the report and the web app show the same)
        heads = headline.for_workspace(
            ws, community=community, periods_by_community={cid: h["period"] for cid, h in out.items()}
        )
    for cid, h in out.items():
        n = net.get(cid)
        h["network"] = {k: n[k] for k in _NETWORK_KEYS} if n else None
        h["headline"] = heads[cid].to_dict() if cid in heads else None
        if h["headline"]:
            h["headline"]["shape"] = h["shape"].get("shape")
            h["headline"]["shape_sentence"] = headline.shape_sentence(h["shape"].get("explanation"))
    if _as_json(out, as_json, "health results", community):
        return
    for h in out.values():
        s, r, c = h["shape"], h["responsiveness"], h["concentration"]
        console.print(
            f"\n[bold]{h['community']}[/] — {h['period']} ({h['window_days']} days): [bold]{s['shape']}[/]"
        )
        if h.get("period_note"):
            console.print(f"  [yellow]{h['period_note']}[/]")
        if h.get("headline"):
            console.print(f"  [bold]{h['headline']['sentence']}[/]")
            console.print(f"  {h['headline']['trend']}")
        console.print(f"  {s['explanation']}")
        if r:
            waits = (
                f"first response after {hours(r['ttfr_median_h'])} (median), {hours(r.get('ttfr_p90_h'))} "
                "(90th percentile)"
                if r.get("ttfr_median_h") is not None
                else "no reply to time"
            )
            asked = r.get("questions") or 0
            answers = (
                f"{r.get('answered', 0):,} of {plural(asked, 'question')} answered"
                if asked
                else "no question asked"
            )
            console.print(
                f"  Responsiveness: {pct(r.get('response_rate'))} of {plural(r.get('originals', 0), 'thread')} got a "
                f"response, {pct(r.get('reply_rate'))} a reply; {waits}; {answers}."
            )
            if r.get("inferred_note"):
                console.print(f"  ({r['inferred_note']}.)")
        if c:
            few, elephant = c.get("absence_factor"), c.get("elephant_factor")
            console.print(
                f"  Concentration: {plural(few, 'member')} {'makes' if few == 1 else 'make'} more than half "
                "of the contributions"
                + (
                    f"; {plural(elephant, 'org unit')} {'does' if elephant == 1 else 'do'}"
                    if elephant is not None
                    else ""
                )
                + "."
            )
        n = h.get("network")
        if n:
            console.print(
                f"  Network: {plural(n['n_members'], 'member')} tied by {plural(n['n_edges'], 'tie')} (who responded "
                "to someone in the window, and whom they responded to, earlier posts included); core group of "
                f"{n['core_size']:,} (k = {n['core_k']}); bridges: {', '.join(n['bridges']) or 'none'}."
            )
            if n["reach"]:
                console.print(
                    "  Core group by org unit: " + ", ".join(f"{k} {v}" for k, v in n["reach"].items())
                )
        if h["unanswered"]:
            rng = h.get("unanswered_range") or {}
            asked = f" asked {rng['since']} to {rng['until']}" if rng else ""
            listed = h["unanswered"]
            shown = listed[:5]
            more = f"; the oldest {len(shown)} shown, --json has all" if len(listed) > len(shown) else ""
            console.print(f"  Oldest unanswered questions{asked} ({len(listed)} listed{more}):")
            for q in shown:
                text = (q.get("title") or q.get("excerpt") or "").replace("\n", " ")[:90]
                console.print(f"    • {str(q['created_at'])[:10]} {text}")


def dynamics(
    workspace: WorkspaceOpt = None,
    community: CommunityOpt = None,
    months: Annotated[int, typer.Option(help="How many recent months to list")] = 6,
    as_json: JsonOpt = False,
) -> None:
    """Membership dynamics: monthly active members, newcomers, joins and leaves, the growth verdict,
    campaign spikes (and what persisted after them) and cohort retention."""
    with opened(workspace) as ws:
        out = diagnosis.dynamics_of(ws, community=community)
    if _as_json(out, as_json, "activity", community):
        return
    for d in out.values():
        g = d["growth"]
        console.print(f"\n[bold]{d['community']}[/]: [bold]{g['verdict']}[/] — {g.get('explanation', '')}")
        t = Table(box=None)
        for col in ("month", "active", "newcomers", "joined", "left", "lapsed", "acts"):
            t.add_column(col, justify="left" if col == "month" else "right")
        for m in d["monthly"][-months:]:
            t.add_row(
                m["month"] + (" (partial)" if m.get("partial") else ""),
                *(
                    f"{m[k]:,}" if m[k] is not None else "n/a"
                    for k in ("active", "newcomers", "joined", "left", "lapsed", "acts")
                ),
            )
        console.print(t)
        for s in d["spikes"]:
            console.print(f"  [yellow]spike[/] {s['month']}: {s.get('explanation', '')}")


def champions(
    workspace: WorkspaceOpt = None,
    community: CommunityOpt = None,
    period: PeriodOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many champions per community")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """The members who help most: distinct people helped, answers accepted or thanked, response speed,
    bridging between groups and place in the core group — each with the evidence in plain words."""
    with opened(workspace) as ws:
        out = diagnosis.champions(ws, community=community, period=period, limit=limit)
    if _as_json(out, as_json, "champions", community):
        return
    for cid, rows in out.items():
        console.print(f"\n[bold]{cid}[/]: {plural(len(rows), 'champion')}")
        if not rows:
            console.print("  Nobody answered or replied to at least two different members in the window.")
            continue
        t = Table(box=None)
        for col in (
            "#",
            "member",
            "score",
            "helped",
            "answers",
            "accepted/thanked",
            "median h",
            "bridging",
            "core",
            "org unit",
        ):
            t.add_column(col, justify="left" if col in ("member", "org unit") else "right")
        for r in rows:
            t.add_row(
                str(r["rank"]),
                r["label"],
                f"{r['score']:.0f}",
                str(r["helped_people"]),
                str(r["answers"]),
                str(r["accepted_or_thanked"]),
                num(r["median_response_h"], 1),
                f"{r['bridging']:.2f}",
                "yes" if r["in_core"] else "no",
                r["org_unit"] or "",
            )
        console.print(t)
        for r in rows:
            console.print(f"  [bold]{r['label']}[/]: {r['evidence']}")


def resonance(
    workspace: WorkspaceOpt = None,
    community: CommunityOpt = None,
    top: Annotated[int, typer.Option("--top", "-n", help="How many items per list")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """What resonates with members: the most viewed, replied and reacted content, the themes of the
    questions asked and of those still unanswered, and the most attended events."""
    with opened(workspace) as ws:
        out = diagnosis.resonance(ws, community=community, top=top)
    if _as_json(out, as_json, "content", community):
        return
    for cid, r in out.items():
        console.print(f"\n[bold]{cid}[/]")
        for key, title, unit in (
            ("top_viewed", "Most viewed", "views"),
            ("top_replied", "Most replied", "replies"),
            ("top_reacted", "Most reacted", "reactions"),
            ("events", "Most attended", "attendees"),
        ):
            rows = r[key]
            if not rows:
                continue
            console.print(f"  [bold]{title}[/]")
            n_key = "attendees" if key == "events" else "n"
            for x in rows:
                console.print(f"    {x[n_key]:>6,} {unit}  {x['title_or_excerpt']}")
        for key, title in (
            ("question_themes", "Question themes"),
            ("unanswered_themes", "Unanswered themes"),
        ):
            if r[key]:
                console.print(f"  [bold]{title}[/]")
                for th in r[key]:
                    console.print(
                        f"    {th['n_questions']:>6,} questions  {th['label']}  "
                        f"(e.g. {th['examples'][0]['title_or_excerpt']})"
                    )
