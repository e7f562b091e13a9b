"""One community's pages (overview, journey, health, content) and the same figures under
``/api/communities/{cid}``. Its people are served by ``views.people``, a member's own pages by
``views.member``."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from fastapi import HTTPException
from fastapi.responses import Response
from pydantic import BaseModel

from covalue import headline, journey, periods
from covalue.presentation import json_for_script, num, pct
from covalue.report import charts
from covalue.report import facts as report_facts
from covalue.web.common import audit, community, names_allowed, render_tab, summary_row, visible_charts
from covalue.web.views.base import Ctx, CtxDep, joined, routers
from covalue.web.views.portfolio import CommunitySummary

pages, api = routers()


class Check(BaseModel):
    stage: str
    question: str
    measure: str
    value: float | None
    threshold: float | None
    op: str
    #: the span measured: "2020-05" (the month) or "90 days to 2020-05-31" (the trailing window)
    window: str | None = None
    #: false when the export cannot show this at all (no idea signal): value and passed are then empty
    measurable: bool = True
    passed: bool | None


class CommunityDetail(CommunitySummary):
    stage_checks: list[Check]
    shape_explanation: str | None
    growth_explanation: str | None


# -- pages -----------------------------------------------------------------------------------------
def _community_page(
    ctx: Ctx,
    cid: str,
    tab: str,
    template: str,
    keys: tuple[str, ...],
    what: str = "view",
    redrawn: dict[str, Any] | None = None,
    **extra: Any,
) -> Response:
    """A tab of a community's pages; ``redrawn`` replaces charts the account may see by ones drawn for
    another month (None leaves the chart out)."""
    c = community(ctx, cid, what)
    shown = visible_charts(ctx, c)
    for k, v in (redrawn or {}).items():
        if k in shown:
            if v is None:
                del shown[k]
            else:
                shown[k] = v
    specs = {shown[k]["id"]: shown[k]["figure"] for k in keys if k in shown}
    h = c.get("health") or {}
    checks = c.get("checks") or []
    mix = c.get("mix") or {}
    active = int(mix.get("active") or 0)
    return render_tab(
        ctx,
        {**c, "charts": shown},
        template,
        tab,
        tab,
        specs=json_for_script(specs) if specs else None,
        checks=checks,
        passed=sum(1 for x in checks if x.get("passed")),
        mix=mix,
        solving=(int(mix.get("solve") or 0) + int(mix.get("innovate") or 0)) / active if active else None,
        resp=h.get("responsiveness") or {},
        shape=h.get("shape") or {},
        growth=(c.get("dynamics") or {}).get("growth") or {},
        **extra,
    )


def _stage_figures(c: dict[str, Any], period: str, back: int) -> list[dict[str, Any]]:
    """Active members and the share at Solve or beyond at ``period`` and ``back`` months before, from
    the stage mix history (the same 90-day windows as the headline)."""
    hist = {m["period"]: m for m in c.get("mix_history") or []}
    now, before = hist.get(period) or {}, hist.get(periods.shift(period, -back)) or {}

    def solving(m: dict[str, Any]) -> float | None:
        active = int(m.get("active") or 0)
        return (int(m.get("solve") or 0) + int(m.get("innovate") or 0)) / active if active else None

    out = []
    for key, label, fn, fmt in (
        ("active", "active members", lambda m: int(m.get("active") or 0), num),
        ("solving", "at Solve or Innovate", solving, pct),
    ):
        v, p = fn(now), fn(before)
        d = None if v is None or p is None else v - p
        out.append(
            {
                "key": key,
                "label": label,
                "value": v,
                "previous": p,
                "value_text": fmt(v),
                "previous_text": fmt(p),
                "delta": d,
                "delta_text": "no change"
                if d == 0
                else (
                    "–" if d is None else (f"{d * 100:+.0f} points" if key == "solving" else f"{d:+,}")
                ).replace("-", "\u2212"),
            }
        )
    return out


def _asked(ctx: Ctx, cid: str, c: dict[str, Any], period: str | None, space: str | None) -> dict[str, Any]:
    """The headline for the period and space a manager picked, checked against what exists."""
    known = [m["period"] for m in c.get("mix_history") or []]
    if period and period not in known:
        raise HTTPException(
            400, f"No month {period!r} in this community: pick one of {known[0]} to {known[-1]}."
        )
    if space and space not in {s["space_id"] for s in ctx.site.spaces(cid)}:
        raise HTTPException(
            400, "There is no such space (channel, category, stream or tag) in this community."
        )
    try:
        return ctx.site.headline(cid, period=period, space=space)
    except LookupError as e:
        raise HTTPException(404, f"No figures for this choice: {e}") from None


#: stage checks per (snapshot, community, period), so picking months back and forth reads each once;
#: the snapshot is kept beside its entry so its id is not reused while the entry lives
_CHECKS: dict[int, tuple[Any, dict[tuple[str, str], list[dict[str, Any]]]]] = {}


def _checks_at(ctx: Ctx, cid: str, period: str) -> list[dict[str, Any]]:
    """The community's stage checks at ``period`` (the snapshot's own at its period)."""
    snap = ctx.site.snapshot()
    c = snap.communities.get(cid) or {}
    if period == c.get("period"):
        return c.get("checks") or []
    if id(snap) not in _CHECKS:
        _CHECKS.clear()  # a new analysis: the old months' checks are stale
        _CHECKS[id(snap)] = (snap, {})
    got = _CHECKS[id(snap)][1]
    if (cid, period) not in got:
        with ctx.site.reader() as ws:
            got[(cid, period)] = report_facts.checks_at(ws, cid, period)
    return got[(cid, period)]


def _checks_with_change(ctx: Ctx, cid: str, period: str, back: int, known: list[str]) -> list[dict[str, Any]]:
    """The stage checks at ``period``, each with its value ``back`` months before and the change, as
    the headline figures are shown beside the window before."""
    before_p = periods.shift(period, -back)
    before = {ch["measure"]: ch for ch in _checks_at(ctx, cid, before_p)} if before_p in known else {}
    out = []
    for ch in _checks_at(ctx, cid, period):
        prev = before.get(ch["measure"], {}).get("value")
        v = ch.get("value")
        delta = None if v is None or prev is None else float(v) - float(prev)
        out.append(
            {
                **ch,
                "previous": prev,
                "previous_period": before_p,
                "delta": delta,
                "delta_text": _check_change(delta, ch["measure"]),
            }
        )
    return out


def _check_change(d: float | None, measure: str) -> str:
    """A check's change in words: points for a share, a signed count otherwise."""
    if d is None:
        return "–"
    if abs(d) < 1e-9:
        return "no change"
    if re.search(r"\b(share|kept|rate)\b", measure):
        text = f"{d * 100:+.0f} points"
    else:
        text = f"{d:+,.0f}" if float(d).is_integer() else f"{d:+,.1f}"
    return text.replace("-", "\u2212")


@pages.get("/c/{cid}")
def overview(cid: str, ctx: Ctx = CtxDep, period: str | None = None, space: str | None = None) -> Response:
    """The value headline with its trend, for the month and space picked, the stage figures beside the
    window before, the stage mix and the stage checks of the month picked (each check beside its value
    in the window before), then the next steps, verdict and shape of the latest complete month."""
    c = community(ctx, cid)
    period, space = period or None, space or None
    head = _asked(ctx, cid, c, period, space)
    back = headline.months_back(int(c["window_days"]))
    known = [m["period"] for m in c.get("mix_history") or []]
    checks = _checks_with_change(ctx, cid, head["period"], back, known)
    mix_row = next((m for m in c.get("mix_history") or [] if m["period"] == head["period"]), None)
    redrawn = None
    if head["period"] != c["period"]:  # the stage mix of the month picked, drawn as the latest one is
        redrawn = {
            "mix_now": charts.mix_now({**c, "mix": mix_row, "period": head["period"], "checks": checks})
        }
    return _community_page(
        ctx,
        cid,
        "overview",
        "c_overview.html.j2",
        ("mix_now",),
        head=head,
        redrawn=redrawn,
        picked_checks=checks,
        picked_period=period or c["period"],
        picked_space=space,
        periods_known=[m["period"] for m in reversed(c.get("mix_history") or [])],
        spaces=ctx.site.spaces(cid),
        stage_figures=None if space else _stage_figures(c, head["period"], back),
        back_months=back,
        next_steps=(c.get("prompts") or [])[:3],
    )


# -- tables as CSV ---------------------------------------------------------------------------------
def _table(ctx: Ctx, cid: str, name: str, period: str | None, space: str | None) -> list[dict[str, Any]]:
    """The rows of one table a community page shows, as plain values (the CSV is the page's table)."""
    c = community(ctx, cid, "content" if name.startswith("content") else "view")
    assert ctx.access is not None
    if name == "headline":
        head = _asked(ctx, cid, c, period or None, space or None)
        rows = [
            {
                "figure": f["label"],
                "window": f["window"],
                "this_window": f["value"],
                "previous_window": f["previous_window"],
                "previous": f["previous"],
                "change": f["delta"],
                "how_counted": f["evidence"],
            }
            for f in head["figures"]
        ]
        if not space:
            back = headline.months_back(int(c["window_days"]))
            rows += [
                {
                    "figure": f["label"],
                    "window": head["window"],
                    "this_window": f["value"],
                    "previous_window": head["previous_window"],
                    "previous": f["previous"],
                    "change": f["delta"],
                    "how_counted": "member stages over the window (covalue stages)",
                }
                for f in _stage_figures(c, head["period"], back)
            ]
        return rows
    if name == "checks":
        # the checks of the month picked on the overview, each beside its value in the window before
        if period and period not in {m["period"] for m in c.get("mix_history") or []}:
            raise HTTPException(400, f"No month {period!r} in this community.")
        back = headline.months_back(int(c["window_days"]))
        known = [m["period"] for m in c.get("mix_history") or []]
        keys = ("stage", "question", "measure", "window", "measurable", "value", "op", "threshold", "passed")
        return [
            {k: ch.get(k) for k in keys}
            | {"previous_period": ch["previous_period"], "previous": ch["previous"]}
            for ch in _checks_with_change(ctx, cid, period or c["period"], back, known)
        ]
    if name == "stage-mix":
        keys = ("period", "active", "observer", "connect", "share", "solve", "innovate", "readers")
        return [{k: m.get(k) for k in keys} for m in c.get("mix_history") or []]
    if name == "responses":
        keys = ("month", "threads", "responded", "rate", "median_h")
        return [{k: m.get(k) for k in keys} for m in c.get("response_monthly") or []]
    if name == "unanswered":
        people = ctx.access.can("people", cid)
        keys = ("created_at", "title", "excerpt") if people else ("created_at", "title")
        return [{k: q.get(k) for k in keys} for q in (c.get("health") or {}).get("unanswered") or []]
    if name.startswith("content-"):
        key = name.removeprefix("content-").replace("-", "_")
        res = c.get("resonance") or {}
        if key not in ("top_replied", "top_reacted", "top_viewed", "unanswered_themes", "question_themes"):
            raise HTTPException(404, "There is no such table on this community's pages.")
        if key.startswith("top_") and not ctx.access.can("people", cid):
            raise HTTPException(403, "Post excerpts are shown to the community's managers and champions.")
        if key.endswith("themes"):
            return [{"theme": t.get("label"), "questions": t.get("n_questions")} for t in res.get(key) or []]
        return [{"content": r.get("title_or_excerpt"), "count": r.get("n")} for r in res.get(key) or []]
    raise HTTPException(404, "There is no such table on this community's pages.")


@pages.get("/c/{cid}/tables/{name}.csv")
def table_csv(
    cid: str, name: str, ctx: Ctx = CtxDep, period: str | None = None, space: str | None = None
) -> Response:
    """One table of a community's pages as CSV (UTF-8, a header row), to open in a spreadsheet."""
    rows = _table(ctx, cid, name, period, space)
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    suffix = "-".join(x for x in (cid, name, period, space and space.rsplit(":", 1)[-1]) if x)
    filename = re.sub(r"[^A-Za-z0-9._-]+", "-", suffix) + ".csv"
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@pages.get("/c/{cid}/journey")
def journey_page(cid: str, ctx: Ctx = CtxDep) -> Response:
    maturity, _ = journey.load_models(ctx.site.ws)
    return _community_page(
        ctx,
        cid,
        "journey",
        "c_journey.html.j2",
        ("mix_now", "mix_over_time", "journey"),
        min_interactions=maturity["stages"]["min_interactions"],
    )


@pages.get("/c/{cid}/health")
def health(cid: str, ctx: Ctx = CtxDep) -> Response:
    c = community(ctx, cid)
    assert ctx.access is not None
    people = ctx.access.can("people", cid)
    unanswered = [
        {k: v for k, v in q.items() if people or k not in ("author", "author_member")}
        for q in (c.get("health") or {}).get("unanswered") or []
    ]
    if people and unanswered:
        names = ctx.site.labels(
            [q.get("author_member") or "" for q in unanswered], names=names_allowed(ctx, cid)
        )
        for q in unanswered:
            q["author"] = names.get(q.get("author_member") or "", "unknown")
        audit(ctx, "viewed question authors", cid, None)
    return _community_page(
        ctx,
        cid,
        "health",
        "c_health.html.j2",
        ("responsiveness", "membership", "retention", "spikes"),
        unanswered=unanswered,
        people=people,
    )


@pages.get("/c/{cid}/content")
def content(cid: str, ctx: Ctx = CtxDep) -> Response:
    c = community(ctx, cid, "content")
    assert ctx.access is not None
    lists = [
        ("top_replied", "Most replied to", "replies"),
        ("top_reacted", "Most reacted to", "reactions"),
        ("top_viewed", "Most viewed", "views"),
    ]
    return _community_page(
        ctx,
        cid,
        "content",
        "c_content.html.j2",
        ("themes",),
        what="content",
        res=c.get("resonance") or {},
        lists=lists,
        excerpts=ctx.access.can("people", cid),
    )


# -- API -------------------------------------------------------------------------------------------
@api.get("/communities/{cid}/headline")
def headline_api(
    cid: str, ctx: Ctx = CtxDep, period: str | None = None, space: str | None = None
) -> dict[str, Any]:
    """The value headline (sentence, trend, and every figure with the window before and how it is
    counted) at ``period`` and for one ``space`` when given, as the overview shows it."""
    c = community(ctx, cid)
    return _asked(ctx, cid, c, period or None, space or None)


@api.get("/communities/{cid}", response_model=CommunityDetail)
def community_detail(cid: str, ctx: Ctx = CtxDep) -> dict[str, Any]:
    """One community's figures, stage checks, and the explanations of its shape and growth."""
    c = community(ctx, cid)
    h = c.get("health") or {}
    keys = ("stage", "question", "measure", "value", "threshold", "op", "window", "passed")
    return {
        **summary_row(c),
        "stage_checks": [
            {k: ch.get(k) for k in keys} | {"measurable": ch.get("measurable") is not False}
            for ch in c.get("checks") or []
        ],
        "shape_explanation": (h.get("shape") or {}).get("explanation"),
        "growth_explanation": ((c.get("dynamics") or {}).get("growth") or {}).get("explanation"),
    }


router = joined(pages, api)
