"""Community health on a workspace: the shape verdict, responsiveness, concentration and membership
dynamics of every community, from the canonical tables and the Value Maturity results.

    ws = covalue.open("ws")
    diagnosis.health(ws)["healthy"]["shape"]      # {"shape": "community", "explanation": ..., ...}
    diagnosis.dynamics(ws)["dying"]["growth"]     # {"verdict": "shrinking", ...}

Every result carries the numbers that decided it and the thresholds used (``models/health.toml``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import ibis
import ibis.expr.types as ir

from covalue import journey, privacy, reading
from covalue.metrics import activity, chat_replies, dynamics
from covalue.metrics import health as hm
from covalue.metrics.windows import activity_range, periods_table
from covalue.periods import month_start, period_index, period_label
from covalue.presentation import table_rows
from covalue.workspace import Workspace


def model(ws: Workspace) -> dict[str, Any]:
    """The health model with the workspace's overrides, on the stages' window (one setting moves both)."""
    return journey.windowed(ws, "health")


def member_units(ws: Workspace) -> ir.Table:
    """member_id → org_unit (from HR attributes or the platform), one row per member."""
    who = journey.derived(ws, "analysis_people")
    mem = ws.table("members").select(_mid="member_id", _unit="org_unit")
    j = who.join(mem, who.identity_id == mem._mid)
    return j.group_by("member_id").aggregate(org_unit=j._unit.max())


def _periods(ws: Workspace, days: int) -> ir.Table:
    rng = activity_range(ws.table("items"), ws.table("actions")) or (0, -1)
    return ibis.memtable(periods_table(*rng, days))


def _names(ws: Workspace) -> dict[str, str]:
    return {r["community_id"]: r["name"] for r in table_rows(ws.table("communities"))}


@reading.once  # a report asks it for health, dynamics and the network
def last_months(ws: Workspace, community: str | None = None) -> dict[str, dynamics.LastMonth]:
    """Each community's last month of data and whether the export ended before that month did."""
    pm = model(ws)["partial"]
    ev = activity.events(ws.table("items"), ws.table("actions"), ws.table("identities"))
    if community:
        ev = ev.filter(ev.community_id == community)
    return dynamics.last_month(
        ev,
        min_quiet_days=float(pm["min_quiet_days"]),
        pace_days=int(pm["pace_days"]),
    )


def default_pidx(latest: int, first: int, last: dynamics.LastMonth | None) -> int:
    """The default period of a community: its latest month, or the one before when the latest is a
    partial last month (a half month reads as a decline and fails every check). A community with
    nothing before its partial month keeps it."""
    if last is not None and last.partial and period_label(latest) == last.month and latest - 1 >= first:
        return latest - 1
    return latest


def default_periods(
    ws: Workspace, community: str | None = None, lasts: dict[str, dynamics.LastMonth] | None = None
) -> dict[str, int]:
    """Each community's default period (key): its latest month with active members, or the month before
    when that one is a partial last month (:func:`default_pidx`). ``lasts`` spares a second scan when the
    caller already has :func:`last_months`."""
    mix = journey.derived(ws, "stage_mix")
    mix = mix.filter(mix.active > 0)
    if community:
        mix = mix.filter(mix.community_id == community)
    span = table_rows(mix.group_by("community_id").aggregate(p=mix.pidx.max(), p0=mix.pidx.min()))
    if not span:
        return {}
    lasts = last_months(ws, community) if lasts is None else lasts
    return {
        r["community_id"]: default_pidx(int(r["p"]), int(r["p0"]), lasts.get(r["community_id"])) for r in span
    }


def period_note(pidx: int, last: dynamics.LastMonth | None) -> str | None:
    """One sentence on the period shown when the export's last month is partial, else None."""
    if last is None or not last.partial:
        return None
    if period_label(pidx) == last.month:
        return f"{last.explanation}; its numbers cover only part of the month."
    return f"{last.explanation}, so {period_label(pidx)}, the last complete month, is shown."


def health_table(ws: Workspace, periods: ir.Table | None = None) -> ir.Table:
    """Shape numbers and verdict for every community and period (or only for ``periods``)."""
    m = model(ws)
    days = int(m["window"]["days"])
    return hm.shape(
        journey.derived(ws, "member_stages"),
        journey.derived(ws, "item_facts"),
        journey.derived(ws, "interactions"),
        member_units(ws),
        _periods(ws, days) if periods is None else periods,
        m,
    )


def health(ws: Workspace, *, community: str | None = None, period: str | None = None) -> dict[str, Any]:
    """Per community: shape (with explanation), responsiveness, concentration and the oldest
    unanswered questions, for ``period`` (YYYY-MM) or each community's last complete month."""
    m = model(ws)
    days = int(m["window"]["days"])
    periods = _periods(ws, days)
    # every number here is per period, so only the periods reported need their windows built: the
    # requested one, or each community's latest month with active members (the rows the shape table
    # would end with); on 10 M actions this skips ~25 windows of every interaction
    lasts = last_months(ws, community)  # for the default period and the note on a partial month
    if period:
        try:
            wanted = [period_index(period)]
        except ValueError:  # not YYYY-MM: no period matches, as the filter below has always said
            wanted = []
    else:
        chosen = default_periods(ws, community, lasts)
        wanted = sorted(set(chosen.values()))
    periods = periods.filter(periods.pidx.isin(wanted or [-1]))
    facts = journey.derived(ws, "item_facts")
    shape_t = health_table(ws, periods)
    if community:
        shape_t = shape_t.filter(shape_t.community_id == community)
    if period:
        shape_t = shape_t.filter(shape_t.period == period)
    resp = hm.responsiveness(facts, periods, days)
    conc = hm.concentration(facts, member_units(ws), periods, days, float(m["concentration"]["share"]))
    resp_rows = {(r["community_id"], r["pidx"]): r for r in table_rows(resp)}
    conc_rows = {(r["community_id"], r["pidx"]): r for r in table_rows(conc)}
    names = _names(ws)
    out: dict[str, Any] = {}
    limit = int(m["responsiveness"]["unanswered_list"])
    reply_rule = chat_replies.rule_in_words(journey.load_models(ws)[1].get("conversation", {}))
    for row in sorted(table_rows(shape_t), key=lambda r: r["community_id"]):
        cid, pidx = row["community_id"], row["pidx"]
        if not period and pidx != chosen.get(cid):
            continue  # another community's period
        until = month_start(pidx + 1)
        since = until - timedelta(days=int(m["responsiveness"]["unanswered_max_age_days"]))
        unanswered = table_rows(
            hm.unanswered_questions(
                facts,
                ws.table("items"),
                community=cid,
                since=since,
                until=until,
                min_words=int(m["responsiveness"].get("unanswered_min_words", 0)),
            ).limit(limit)
        )
        out[cid] = {
            "community": names.get(cid, cid),
            "period": period_label(pidx),
            "window_days": days,
            "partial_month": lasts[cid].to_dict() if cid in lasts and lasts[cid].partial else None,
            "period_note": period_note(pidx, lasts.get(cid)),
            "shape": {**row, "explanation": hm.explain_shape(row, m), "thresholds": m["shape"]},
            "responsiveness": hm.with_inferred_note(resp_rows.get((cid, pidx), {}), reply_rule),
            "concentration": conc_rows.get((cid, pidx), {}),
            "unanswered": unanswered,
            # the list holds questions asked in this range, not all months
            "unanswered_range": {
                "since": f"{since:%Y-%m-%d}",
                "until": f"{until - timedelta(days=1):%Y-%m-%d}",
            },
        }
    if not ws.settings.privacy.show_names:
        # every community's list at once: the names mentioned are looked up in one pass over the actions
        privacy.redact_in_place(ws, [r for v in out.values() for r in v["unanswered"]], ("title", "excerpt"))
    return out


def dynamics_of(ws: Workspace, *, community: str | None = None) -> dict[str, Any]:
    """Per community: monthly active members, newcomers, joins and leaves, lapsed members, cohort
    retention, the growth verdict and campaign spikes with what persisted after them."""
    ev = activity.events(ws.table("items"), ws.table("actions"), ws.table("identities"))
    if community:
        ev = ev.filter(ev.community_id == community)
    # three of the measures below start from each member's active months: counted once and held for
    # them, rather than from every act three times (10 M actions: 1.1 M rows instead of 11 M read thrice)
    with dynamics.member_months(ev).cache() as mm:
        return _dynamics(ws, ev, mm, community)


def _dynamics(ws: Workspace, ev: ir.Table, mm: ir.Table, community: str | None) -> dict[str, Any]:
    import pandas as pd

    m = model(ws)
    g, sp = m["growth"], m["spikes"]
    months = dynamics.monthly(ev, ws.table("actions"), ws.table("identities"), mm)
    if community:
        months = months[months.community_id == community]
    if months.empty:
        return {}
    end = int(months.month.max())
    lapse = dynamics.lapsed(ev, end_month=end, lapse_months=int(g["lapse_months"]), mm=mm)
    # a partial last month is neither a decline nor a spike: growth and spikes stop before it
    lasts = last_months(ws, community)
    cut = {cid: period_index(lm.month) for cid, lm in lasts.items() if lm.partial}
    whole = months[[m < cut.get(c, m + 1) for c, m in zip(months.community_id, months.month, strict=True)]]
    found = dynamics.spikes(
        ev,
        whole,
        factor=float(sp["factor"]),
        min_acts=int(sp["min_acts"]),
        follow=int(sp["follow_months"]),
        baseline_months=int(sp["baseline_months"]),
        min_history=int(sp["min_history"]),
        min_newcomer_share=float(sp["min_newcomer_share"]),
        min_fall=float(sp["min_fall"]),
    )
    verdicts = dynamics.growth(
        whole,
        lapse,
        window=int(g["window_months"]),
        threshold=float(g["threshold"]),
        spikes=found,
        follow=int(sp["follow_months"]),
    )
    ret = dynamics.retention(ev, mm=mm)
    names = _names(ws)
    out: dict[str, Any] = {}
    for cid, rows in months.groupby("community_id", sort=True):
        lp = lapse[lapse.community_id == cid].set_index("month")["lapsed"]
        monthly = [
            {
                "month": activity.month_label(int(r.month)),
                "active": int(r.active),
                "newcomers": int(r.newcomers),
                "acts": int(r.acts),
                "contributions": int(r.contributions),
                "joined": None if pd.isna(r.joined) else int(r.joined),
                "left": None if pd.isna(r.left) else int(r.left),
                "lapsed": None if r.month not in lp.index or pd.isna(lp[r.month]) else int(lp[r.month]),
                "partial": cut.get(cid) == r.month,
            }
            for r in rows.itertuples()
        ]
        gr = next((v.to_dict() for v in verdicts if v.community_id == cid), None)
        if gr is None:  # only a partial month of data
            gr = dynamics.Growth(cid, "too little data", 0.0, 0.0, None, 0, None).to_dict()
        if cid in cut:
            gr["explanation"] = (
                f"{gr['explanation']}; {lasts[cid].month} left out: the export's last activity is on "
                f"{lasts[cid].last_activity:%Y-%m-%d}, before the month ended"
            )
        cr = ret[ret.community_id == cid]
        out[cid] = {
            "community": names.get(cid, cid),
            "monthly": monthly,
            "growth": gr,
            "last_month": lasts[cid].to_dict() if cid in lasts else None,
            "spikes": [s.to_dict() for s in found if s.community_id == cid],
            "retention": [
                {
                    "cohort": activity.month_label(int(r.cohort)),
                    "k": int(r.k),
                    "size": int(r.size),
                    "active": int(r.active),
                    "share": float(r.share),
                }
                for r in cr.itertuples()
            ],
        }
    return out


# -- network, champions and resonance ----------------------------------------------------------------
# Per community: the interaction graph of the 90-day window ending with the period (each community's
# latest month by default), its core group and bridges, the champions ranked with their evidence, and
# the content that resonates. Methods and thresholds: docs/health.md, models/health.toml.

_NETWORK_CACHE: dict[tuple[Any, ...], dict[str, Any]] = {}


def _community_windows(
    ws: Workspace, community: str | None, period: str | None, days: int
) -> list[dict[str, Any]]:
    """One row per community: its period (the last complete month with members, or ``period``) and
    window."""

    if period:
        mix = journey.derived(ws, "stage_mix")
        mix = mix.filter(mix.pidx == period_index(period))
        if community:
            mix = mix.filter(mix.community_id == community)
        chosen = {
            r["community_id"]: int(r["pidx"])
            for r in table_rows(mix.select("community_id", "pidx").distinct())
        }
    else:
        chosen = default_periods(ws, community)
    out = []
    for cid in sorted(chosen):
        p = chosen[cid]
        nxt = p + 1
        end = month_start(nxt)
        out.append(
            {
                "community_id": cid,
                "period": period_label(p),
                "win_start": end - timedelta(days=days),
                "win_end": end,
            }
        )
    return out


def _network_state(ws: Workspace, community: str | None, period: str | None) -> dict[str, Any]:
    """Graph measures and ranked helpers per community (cached per analysis run and model)."""
    import json

    import pyarrow as pa
    import pyarrow.compute as pc

    from covalue.metrics import network as nw

    m = model(ws)
    days = int(m["window"]["days"])
    edges = journey.derived(ws, "interactions")
    run = (
        ws.raw.execute("SELECT max(analysis_id) FROM analyses").fetchone()[0]
        if "analyses" in ws.tables()
        else None
    )
    key = (str(ws.path), run, community, period, json.dumps(m, sort_keys=True, default=str))
    if key in _NETWORK_CACHE:
        return _NETWORK_CACHE[key]
    wins = _community_windows(ws, community, period, days)
    state: dict[str, Any] = {}
    if wins:
        wt = ibis.memtable(
            pa.Table.from_pylist(
                wins,
                schema=pa.schema(
                    [
                        ("community_id", pa.string()),
                        ("period", pa.string()),
                        ("win_start", pa.timestamp("us")),
                        ("win_end", pa.timestamp("us")),
                    ]
                ),
            )
        )
        ties = nw.window_ties(edges, wt).to_pyarrow()
        helpers = nw.helper_stats(
            journey.derived(ws, "item_facts"),
            journey.derived(ws, "item_roles"),
            edges,
            ws.table("items"),
            wt,
        )
        by_comm: dict[str, list[dict[str, Any]]] = {}
        for r in table_rows(helpers):
            by_comm.setdefault(r["community_id"], []).append(r)
        net = m["network"]
        for w in wins:
            cid = w["community_id"]
            t = ties.filter(pc.equal(ties["community_id"], cid))
            g = nw.Graph.from_pairs(t["a"], t["b"], t["weight"])
            meas = nw.measure(
                g,
                exact_max_work=float(net["exact_max_work"]),
                pivots=int(net["pivots"]),
                core_min_members=int(net["core_min_members"]),
            )
            state[cid] = {
                "period": w["period"],
                "measures": meas,
                "ranked": nw.rank_champions(by_comm.get(cid, []), meas, m),
            }
    if len(_NETWORK_CACHE) >= 4:
        _NETWORK_CACHE.pop(next(iter(_NETWORK_CACHE)))
    _NETWORK_CACHE[key] = state
    return state


def _units(ws: Workspace, ids: list[str]) -> dict[str, str | None]:
    if not ids:
        return {}
    u = member_units(ws)
    want = ibis.memtable({"_want": list(ids)})
    u = u.join(want, u.member_id == want._want)
    return {r["member_id"]: r["org_unit"] for r in table_rows(u.select("member_id", "org_unit"))}


def _shown_units(ws: Workspace, units: dict[str, str | None]) -> dict[str, str | None]:
    """``units`` as a person-level table may show them (:func:`covalue.privacy.units_beside_people`)."""
    u = member_units(ws)
    sizes = {r["org_unit"]: r["n"] for r in table_rows(u.group_by("org_unit").aggregate(n=u.count()))}
    return privacy.units_beside_people(ws, units, sizes)


def champions(
    ws: Workspace, *, community: str | None = None, period: str | None = None, limit: int = 10
) -> dict[str, list[dict[str, Any]]]:
    """Per community: the top ``limit`` champions of the window, best first, each with the numbers
    behind the score and one sentence of evidence (labels follow the workspace's privacy settings)."""
    from covalue import privacy
    from covalue.metrics import network as nw

    days = int(model(ws)["window"]["days"])
    state = _network_state(ws, community, period)
    chosen = {cid: s["ranked"][:limit] for cid, s in state.items()}
    ids = [r["member_id"] for rs in chosen.values() for r in rs]
    labels = privacy.labels(ws, ids)
    units = _shown_units(ws, _units(ws, ids))
    out: dict[str, list[dict[str, Any]]] = {}
    for cid, rs in chosen.items():
        out[cid] = [
            {
                "member_id": r["member_id"],
                "label": labels.get(r["member_id"], privacy.pseudonym(r["member_id"])),
                "rank": r["rank"],
                "score": r["score"],
                "helped_people": r["helped_people"],
                "people_helped": r["people_helped"],
                "answers": r["answers"],
                "questions_answered": r["questions_answered"],
                "accepted_or_thanked": r["accepted_or_thanked"],
                "median_response_h": None
                if r["median_response_h"] is None
                else round(float(r["median_response_h"]), 2),
                "bridging": r["bridging"],
                "in_core": r["in_core"],
                "org_unit": units.get(r["member_id"]),
                "evidence": nw.champion_evidence(r, period=state[cid]["period"], days=days),
            }
            for r in rs
        ]
    return out


def network(
    ws: Workspace, *, community: str | None = None, period: str | None = None, max_nodes: int = 60
) -> dict[str, dict[str, Any]]:
    """Per community: a readable picture of the interaction network (the core group, the champions and
    their strongest ties), its size, the core group, the top bridges, the core's reach into org units
    (small groups merged, None when units are unknown) and the method used."""
    import numpy as np

    from covalue import privacy
    from covalue.metrics import network as nw

    net = model(ws)["network"]
    state = _network_state(ws, community, period)
    parts: dict[str, dict[str, Any]] = {}
    for cid, s in state.items():
        meas: nw.Measures = s["measures"]
        g = meas.graph
        champs = [r["member_id"] for r in s["ranked"][:10]]
        picked, ties = nw.picture(
            meas, must=champs, max_nodes=max_nodes, ties_per_node=int(net["ties_per_node"])
        )
        order = np.argsort(-meas.bridging, kind="stable")
        parts[cid] = {
            "picked": picked,
            "ties": ties,
            "champs": set(champs),
            "bridges": [g.ids[k] for k in order[: int(net["bridges"])] if meas.bridging[k] > 0],
            "core": [g.ids[k] for k in np.flatnonzero(meas.core)],
        }
    # one look-up of labels and org units for every community at once
    shown = {s["measures"].graph.ids[k] for cid, s in state.items() for k in parts[cid]["picked"]}
    labels = privacy.labels(ws, shown | {b for p in parts.values() for b in p["bridges"]})
    units = _units(ws, sorted(shown | {m for p in parts.values() for m in p["core"]}))
    beside = _shown_units(ws, units)  # the core's reach counts every unit; a person's row, large ones
    out: dict[str, dict[str, Any]] = {}
    for cid, s in state.items():
        meas = s["measures"]
        g, p = meas.graph, parts[cid]
        counts: dict[str, int] = {}
        for mid in p["core"]:
            if units.get(mid):
                counts[units[mid]] = counts.get(units[mid], 0) + 1
        out[cid] = {
            "period": s["period"],
            "nodes": [
                {
                    "id": g.ids[k],
                    "label": labels[g.ids[k]],
                    "core_number": int(meas.core_number[k]),
                    "degree": int(meas.degree[k]),
                    "bridging": round(float(meas.bridging[k]), 3),
                    "is_champion": g.ids[k] in p["champs"],
                    "org_unit": beside.get(g.ids[k]),
                }
                for k in p["picked"]
            ],
            "edges": [{"source": g.ids[a], "target": g.ids[b], "weight": w} for a, b, w in p["ties"]],
            "n_members": g.n_nodes,
            "n_edges": g.n_edges,
            "core_k": meas.core_k,
            "core_size": int(meas.core.sum()),
            "bridges": [labels[b] for b in p["bridges"]],
            "reach": privacy.suppress_counts(dict(sorted(counts.items(), key=lambda kv: -kv[1])), ws)
            if counts
            else None,
            "method": meas.method,
        }
    return out


def resonance(ws: Workspace, *, community: str | None = None, top: int = 10) -> dict[str, dict[str, Any]]:
    """Per community, over its whole history: the most viewed, replied and reacted content, the themes
    of the questions asked and of those still unanswered, and the most attended events."""
    from covalue.metrics import resonance as rs

    rm = model(ws)["resonance"]
    items = ws.table("items")
    actions = ws.table("actions")
    roles = journey.derived(ws, "item_roles")
    facts = journey.derived(ws, "item_facts")
    if community:
        items = items.filter(items.community_id == community)
        roles = roles.filter(roles.community_id == community)
        facts = facts.filter(facts.community_id == community)
    names = {"viewed": "top_viewed", "replied": "top_replied", "reacted": "top_reacted", "attended": "events"}
    tops: dict[str, list[dict[str, Any]]] = {v: [] for v in names.values()}
    found = rs.top_lists(rs.item_counts(items, actions, roles), top)
    for r in table_rows(found.order_by(["measure", "community_id", ibis.desc("n"), "item_id"])):
        tops[names[r["measure"]]].append(r)
    if community:
        tops = {k: [r for r in v if r["community_id"] == community] for k, v in tops.items()}
    ids = sorted({r["item_id"] for v in tops.values() for r in v})
    it = ws.table("items")
    it = it.filter(it.item_id.isin(ids)).select("item_id", "title", text=it.text.substr(0, 400))
    shown = {r["item_id"]: rs.title_or_excerpt(r["title"], r["text"]) for r in table_rows(it)}

    # questions that open a thread: a question asked in a reply is part of someone else's conversation
    q = facts.filter(facts.is_question & facts.is_root & ~facts.author_is_bot)
    q = q.mutate(
        _r=ibis.row_number().over(group_by=q.community_id, order_by=[ibis.desc(q.created_at), q.item_id])
    )
    q = q.filter(q._r < int(rm["max_questions"]))
    it = ws.table("items")
    it = it.select(_iid="item_id", _title="title", _text=it.text.substr(0, 2000))
    q = q.join(it, q.item_id == it._iid).select("community_id", "item_id", "answered_ts", "_title", "_text")
    qs: dict[str, list[dict[str, Any]]] = {}
    for r in q.order_by(["community_id", "item_id"]).to_pyarrow().to_pylist():
        qs.setdefault(r["community_id"], []).append(r)

    cids = sorted({r["community_id"] for r in table_rows(items.select("community_id").distinct())})
    out: dict[str, dict[str, Any]] = {}
    for cid in cids:
        rows = qs.get(cid, [])
        texts = []
        for r in rows:
            title = rs.plain(r["_title"])
            texts.append(f"{title} {title} {rs.plain(r['_text'])}")  # the title counts twice
        qids = [r["item_id"] for r in rows]
        open_ = {r["item_id"] for r in rows if r["answered_ts"] is None}
        asked, waiting = rs.themes_summary(
            rs.find_themes(texts, rm),
            qids,
            lambda p, rows=rows: rs.title_or_excerpt(rows[p]["_title"], rows[p]["_text"]),
            open_,
            int(rm["examples"]),
        )

        def pick(name: str, key: str = "n", cid: str = cid) -> list[dict[str, Any]]:
            return [
                {
                    "item_id": r["item_id"],
                    "title_or_excerpt": shown.get(r["item_id"], "(no text)"),
                    key: r["n"],
                }
                for r in tops[name]
                if r["community_id"] == cid
            ]

        out[cid] = {
            "top_viewed": pick("top_viewed"),
            "top_replied": pick("top_replied"),
            "top_reacted": pick("top_reacted"),
            "question_themes": asked,
            "unanswered_themes": waiting,
            "events": pick("events", "attendees"),
        }
    if not ws.settings.privacy.show_names:  # excerpts quote people (Slack: "@jane shared a file")
        lists = [
            [e for t in x for e in t["examples"]] if "themes" in k else x
            for v in out.values()
            for k, x in v.items()
        ]
        privacy.redact_in_place(ws, [r for x in lists for r in x], ("title_or_excerpt",))
    return out
