"""Everything the report and the web app show, gathered from a workspace into plain data (no HTML).

``gather(ws)`` runs the analysis when the workspace has none, then asks analysis and diagnosis for each
community's numbers. The result is plain data so that templates, tests and benchmarks can use it
without a workspace (tests plant structure in it directly). Its shape is the contract below:
:class:`ReportFacts` holds one :class:`CommunityFacts` per community; ``covalue.report.display.prepare``
then adds what is shown (verdict, prompts, charts, sections). The inner parts (``health``,
``dynamics``...) are as the diagnosis functions return them and are described there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict

import ibis

from covalue import diagnosis, headline, item_links, journey, models, privacy, reading
from covalue.metrics import chat_replies
from covalue.metrics import health as hm
from covalue.periods import period_index, period_label
from covalue.presentation import table_rows
from covalue.report import answerers
from covalue.rights.retention import policy as retention_policy
from covalue.stages import rank
from covalue.workspace import Workspace

log = logging.getLogger(__name__)

#: months between the two snapshots compared in the journey (Sankey) picture
JOURNEY_SPAN = 3

Row = dict[str, Any]


class Journey(TypedDict):
    """Members by stage ``start`` → stage ``end``; a stage of None is "not active" on that side."""

    start: str
    end: str
    flows: list[Row]


class Models(TypedDict):
    """The value models a community was judged by (as loaded, workspace overrides applied)."""

    maturity: dict[str, Any]
    health: dict[str, Any]


class CommunityFacts(TypedDict):
    """One community at one period: what was measured, then what display preparation adds."""

    id: str
    name: str
    #: the month shown (YYYY-MM) and the length of its trailing window
    period: str
    window_days: int
    #: stage counts and shares at ``period`` (``active``, ``observer``..``innovate``, ``readers``)
    mix: Row | None
    mix_history: list[Row]
    journey: Journey
    checks: list[Row]
    #: shape verdict, responsiveness, concentration and unanswered questions (diagnosis.health)
    health: dict[str, Any]
    response_monthly: list[Row]
    chat_reply_rule: str
    #: growth, spikes, cohorts and monthly activity (diagnosis.dynamics_of)
    dynamics: dict[str, Any]
    #: None when the workspace cannot compute it; [] or {} when it found nothing
    champions: list[Row] | None
    network: dict[str, Any] | None
    resonance: dict[str, Any] | None
    models: Models
    #: the value headline on the same window (covalue.headline.Headline.to_dict), None when it failed
    headline: NotRequired[Row | None]
    #: members' answers to others' questions of the last months (covalue.report.answerers), so coaching
    #: can name who answers a waiting theme fast
    answers: NotRequired[list[Row]]
    # -- added by display preparation ------------------------------------------------------------------
    verdict: NotRequired[str | None]
    prompts: NotRequired[list[Row]]
    failed: NotRequired[dict[str, list[Row]]]
    charts: NotRequired[dict[str, Row]]
    #: the report's sections in page order (``covalue.report.sections``)
    sections: NotRequired[list[Row]]


class ReportFacts(TypedDict):
    """The whole workspace as the report and the web app read it."""

    title: str
    generated: str
    period: str | None
    show_names: bool
    min_group_size: int
    #: the retention in force, one sentence (covalue.rights.retention)
    retention: NotRequired[str]
    communities: list[CommunityFacts]
    coverage: dict[str, Any]
    #: failures named in the appendix instead of costing the whole report
    errors: list[str]
    models: Models
    #: the side-by-side table when there are several communities (added by display preparation)
    portfolio: NotRequired[Row | None]


def _name_spaces(rows: list[dict[str, Any]], ws: Any) -> None:
    """Add to each waiting question the name of the space it was asked in (channel, stream, tag), so
    a coaching prompt can say where the waiting questions are, and its platform link when the export
    shows its address."""
    ids = [q["item_id"] for q in rows if q.get("item_id")]
    if not ids:
        return
    it, sp = ws.table("items"), ws.table("spaces")
    it = it.filter(it.item_id.isin(ids)).select("item_id", "title", _sid="space_id")
    got = it.join(sp, it._sid == sp.space_id).select("item_id", "title", "space_id", "name", "kind")
    where = {r["item_id"]: r for r in got.to_pyarrow().to_pylist()}
    hosts = item_links.workspace_hosts(ws)
    for q in rows:
        r = where.get(q.get("item_id"))
        q["space"] = r["name"] if r else None
        q["space_kind"] = r["kind"] if r else None
        host = hosts.get(item_links.source_of(q["item_id"]))
        # a question opens its thread: its title is the Zulip topic; a title with a name taken out
        # for privacy would make a wrong link, and the name must not travel in one either
        if host and r and (r["title"] or "").strip() == (q.get("title") or "").strip():
            q["link"] = item_links.item_link(
                q["item_id"],
                None,
                "question",
                host=host,
                space_id=r["space_id"],
                space_name=r["name"],
                topic=r["title"],
            )


def _rows(t: Any) -> list[dict[str, Any]]:
    """:func:`covalue.presentation.table_rows` with times written as the report shows them."""
    return [
        {k: v.isoformat(sep=" ", timespec="minutes") if isinstance(v, datetime) else v for k, v in r.items()}
        for r in table_rows(t)
    ]


def stage_history(ws: Workspace, cids: list[str], until: str | None) -> dict[str, list[dict[str, Any]]]:
    """Stage mix per community and month (counts and shares), oldest first, up to ``until``."""
    t = journey.stage_mix(ws)
    t = t.filter(t.community_id.isin(cids))
    if until:
        t = t.filter(t.period <= until)
    out: dict[str, list[dict[str, Any]]] = {c: [] for c in cids}
    for r in _rows(t.drop("analysis_id").order_by(["community_id", "pidx"])):
        out[r["community_id"]].append(r)
    return out


def journey_flows(ws: Workspace, cid: str, end: str, span: int = JOURNEY_SPAN) -> dict[str, Any]:
    """Members by (stage ``span`` months before ``end``, stage at ``end``); ``None`` on either side means
    not active in that month's window (newcomer on the left, gone on the right)."""
    start = period_label(period_index(end) - span)
    ms = journey.stages(ws, community=cid)
    # only members who did something others could see are on the journey; everyone else is "not active"
    a = ms.filter((ms.period == start) & ms.active).select(m_a="member_id", s_a="stage")
    b = ms.filter((ms.period == end) & ms.active).select(m_b="member_id", s_b="stage")
    j = a.outer_join(b, a.m_a == b.m_b)
    g = j.group_by(j.s_a, j.s_b).aggregate(members=j.count())
    flows = [{"from": r["s_a"], "to": r["s_b"], "members": int(r["members"])} for r in _rows(g)]
    flows.sort(key=lambda f: (rank(f["from"]), rank(f["to"])))
    return {"start": start, "end": end, "flows": flows}


def checks_at(ws: Workspace, cid: str, period: str) -> list[dict[str, Any]]:
    t = journey.checks(ws, community=cid, period=period)
    return _rows(t.drop("analysis_id").order_by("ord"))


def monthly_response(ws: Workspace, cids: list[str], until: str | None) -> dict[str, list[dict[str, Any]]]:
    """Per community and month: threads started by people (bots left out), the share that got a response
    from someone else, and the median hours to the first reply or answer by someone else after the
    thread started, as health times it (a reaction carries only its message's time, which would read as
    an instant response); ``inferred``: how many of those first replies were inferred in chat without
    threads."""
    f = hm.with_first_replies(journey.derived(ws, "item_facts"))
    f = f.filter(f.is_root & ~f.author_is_bot.fill_null(False) & f.community_id.isin(cids))
    hours = (f.first_reply_ts.epoch_seconds() - f.created_at.epoch_seconds()) / 3600.0
    f = f.mutate(month=f.created_at.strftime("%Y-%m"), hours=hours)
    if until:
        f = f.filter(f.month <= until)
    g = f.group_by("community_id", "month").aggregate(
        threads=f.count(),
        responded=f.first_response_ts.notnull().sum(),
        median_h=f.hours.median(),
        inferred=f.first_reply_inferred.fill_null(False).sum(),
    )
    out: dict[str, list[dict[str, Any]]] = {c: [] for c in cids}
    for r in _rows(g.order_by(["community_id", "month"])):
        r["rate"] = r["responded"] / r["threads"] if r["threads"] else None
        out[r["community_id"]].append(r)
    return out


def coverage(ws: Workspace) -> dict[str, Any]:
    """What the report rests on: sources with their periods and counts, rejects, the analysis run."""
    st = ws.status()
    runs = []
    if "analyses" in ws.con.list_tables():
        a = ws.table("analyses")
        runs = _rows(a.order_by(ibis.desc("finished_at")).limit(1).drop("rows"))
    return {
        "tables": st["tables"],
        "sources": st["sources"],
        "communities": st["communities"],
        "rejects": st["rejects"],
        "analysis": runs[0] if runs else None,
    }


def made_now() -> str:
    """The minute a report is made, as the report states it."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _optional(name: str, ws: Workspace, errors: list[str], **kw: Any) -> dict[str, Any] | None:
    """``diagnosis.<name>(ws, **kw)``; None while that function does not exist, ``{}`` when it failed
    (the failure is named in the report's appendix)."""
    fn: Callable[..., dict[str, Any]] | None = getattr(diagnosis, name, None)
    if not callable(fn):
        return None
    try:
        return fn(ws, **kw) or {}
    except Exception as e:  # one failing section must not cost the sponsor the whole report
        log.warning("report: %s failed: %s", name, e)
        errors.append(f"{name}: {type(e).__name__}: {e}")
        return {}


def gather(ws: Workspace, *, community: str | None = None, period: str | None = None) -> ReportFacts:
    """The report's data for every community of ``ws`` (or one), at ``period`` (YYYY-MM) or each
    community's latest month."""
    if not journey.has_results(ws):
        journey.analyze(ws)
    # one reading: the sections ask some questions of the workspace more than once (where each
    # community's data ends: health, dynamics and the network)
    with reading.block():
        return _gather(ws, community, period)


def _gather(ws: Workspace, community: str | None, period: str | None) -> ReportFacts:
    health = diagnosis.health(ws, community=community, period=period)
    if not health and not community:
        raise LookupError(
            f"{ws.path} holds no community activity yet: ingest an export first (covalue ingest)"
        )
    if community and community not in health:
        known = sorted(ws.table("communities").community_id.to_pyarrow().to_pylist())
        raise LookupError(f"no community {community!r} with results in {ws.path}; known: {', '.join(known)}")
    dyn = diagnosis.dynamics_of(ws, community=community)
    cids = sorted(health)
    history = stage_history(ws, cids, period)
    response = monthly_response(ws, cids, period)
    errors: list[str] = []
    kw: dict[str, Any] = {"community": community, "period": period}
    champions = _optional("champions", ws, errors, **kw)
    network = _optional("network", ws, errors, **kw)
    resonance = _optional("resonance", ws, errors, community=community)
    authors = [q.get("author_member") for h in health.values() for q in h.get("unanswered") or []]
    names = privacy.labels(ws, authors)
    for h in health.values():
        for q in h.get("unanswered") or []:
            q["author"] = names.get(q.get("author_member") or "", "unknown")
    _name_spaces([q for h in health.values() for q in h.get("unanswered") or []], ws)
    try:
        heads = {
            k: v.to_dict()
            for k, v in headline.for_workspace(
                ws, periods_by_community={cid: health[cid]["period"] for cid in cids}
            ).items()
        }
    except Exception as e:  # the rest of the report still stands
        log.warning("report: headline failed: %s", e)
        errors.append(f"headline: {type(e).__name__}: {e}")
        heads = {}
    for cid, head in heads.items():  # the shape verdict of the same window, said next to the headline
        shape = health[cid].get("shape") or {}
        head["shape"] = shape.get("shape")
        head["shape_sentence"] = headline.shape_sentence(shape.get("explanation"))
    try:
        answers = answerers.recent_answers(
            ws,
            {cid: health[cid]["period"] for cid in cids},
            months=int(models.load("coaching")["findings"].get("max_age_months", 12)),
        )
    except Exception as e:  # coaching then names champions by speed alone
        log.warning("report: recent answers failed: %s", e)
        errors.append(f"answers: {type(e).__name__}: {e}")
        answers = {}
    maturity, roles = journey.load_models(ws)
    reply_rule = chat_replies.rule_in_words(roles.get("conversation", {}))
    judged_by = Models(maturity=maturity, health=diagnosis.model(ws))
    out: list[CommunityFacts] = []
    for cid in cids:
        h = health[cid]
        p = h["period"]
        d = dyn.get(cid, {})
        if period and d:
            d = {**d, "monthly": [m for m in d["monthly"] if m["month"] <= period]}
        # up to the month shown: a partial last month would end the "from ... to ..." summary elsewhere
        mix_hist = [m for m in history.get(cid, []) if m["period"] <= p]
        now = next((m for m in reversed(mix_hist) if m["period"] == p), mix_hist[-1] if mix_hist else None)
        out.append(
            CommunityFacts(
                id=cid,
                name=h["community"],
                period=p,
                window_days=h["window_days"],
                mix=now,
                mix_history=mix_hist,
                journey=journey_flows(ws, cid, p),
                checks=checks_at(ws, cid, p),
                health=h,
                response_monthly=response.get(cid, []),
                chat_reply_rule=reply_rule,
                dynamics=d,
                champions=None if champions is None else champions.get(cid, []),
                network=None if network is None else network.get(cid),
                resonance=None if resonance is None else resonance.get(cid),
                models=judged_by,
                headline=heads.get(cid),
                answers=answers.get(cid, []),
            )
        )
    return ReportFacts(
        title=ws.settings.name,
        generated=made_now(),
        period=period,
        show_names=ws.settings.privacy.show_names,
        min_group_size=ws.settings.privacy.min_group_size,
        retention=retention_policy(ws.settings),
        communities=out,
        coverage=coverage(ws),
        errors=errors,
        models=judged_by,
    )
