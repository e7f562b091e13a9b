"""Where members and communities stand on the Connect → Share → Solve → Innovate journey.

Per member, community and period (a calendar month) the trailing window (90 days ending with the month)
gives counts, the four stage flags, the stage reached, a persona and evidence (example items per flag).
From those come the community's stage mix, the journeys between consecutive periods and the stage
checks (Terry's questions made measurable). The rules and thresholds are ``models/maturity.toml``.

Everything here is an Ibis expression over the canonical tables, so it runs unchanged on DuckDB and on
Spark; the only data pulled into Python is the first and last month, to lay out the periods.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from covalue.metrics.interactions import resolve

STAGES = ("observer", "connect", "share", "solve", "innovate")
PERSONAS = ("Observer", "Engager", "Catalyst", "Responder", "Broadcaster")
TRANSITIONS = ("new", "moved up", "stayed", "dropped", "left")
KEY = ("member_id", "community_id", "pidx")


# -- periods -----------------------------------------------------------------------------------------
def month_index(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Months since year 0 (``year * 12 + month - 1``): an integer period key both engines agree on."""
    return (ts.year().cast("int64") * 12 + ts.month().cast("int64") - 1).name("pidx")


def month_start(pidx: int) -> datetime:
    return datetime(pidx // 12, pidx % 12 + 1, 1)


def period_label(pidx: int) -> str:
    return f"{pidx // 12:04d}-{pidx % 12 + 1:02d}"


def period_index(label: str) -> int:
    """``YYYY-MM`` → period key."""
    year, month = label.split("-")
    return int(year) * 12 + int(month) - 1


def periods_table(first: int, last: int, days: int) -> pa.Table:
    """One row per month from ``first`` to ``last`` (period keys) with its 90-day (``days``) window:
    ``win_start <= ts < win_end``, where ``win_end`` is the first instant of the next month."""
    rows = []
    for p in range(first, last + 1):
        end = month_start(p + 1)
        rows.append(
            {
                "pidx": p,
                "period": period_label(p),
                "period_start": month_start(p),
                "win_start": end - timedelta(days=days),
                "win_end": end,
            }
        )
    return pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                ("pidx", pa.int64()),
                ("period", pa.string()),
                ("period_start", pa.timestamp("us")),
                ("win_start", pa.timestamp("us")),
                ("win_end", pa.timestamp("us")),
            ]
        ),
    )


def activity_range(items: ir.Table, actions: ir.Table) -> tuple[int, int] | None:
    """First and last month (period keys) with any item or action, or None for an empty workspace."""
    a = items.aggregate(lo=items.created_at.min(), hi=items.created_at.max()).to_pyarrow().to_pylist()[0]
    b = actions.aggregate(lo=actions.ts.min(), hi=actions.ts.max()).to_pyarrow().to_pylist()[0]
    los = [v for v in (a["lo"], b["lo"]) if v is not None]
    his = [v for v in (a["hi"], b["hi"]) if v is not None]
    if not los:
        return None
    lo, hi = min(los), max(his)
    return lo.year * 12 + lo.month - 1, hi.year * 12 + hi.month - 1


def in_windows(t: ir.Table, ts: str, periods: ir.Table, days: int) -> ir.Table:
    """``t`` repeated once per period whose window holds ``t[ts]`` (with the period's columns).

    Each row is paired with its own month and the few months after it (a small cross join with the
    offsets), then kept where the window starts before it: an equi-join, not a range join.
    """
    # a month is at least 28 days, so a window ending k months after the row's month holds it only
    # when 28 * k < days: offsets 0..days // 28 are enough (one more only made rows the join dropped)
    offsets = ibis.memtable({"_off": list(range(days // 28 + 1))})
    x = t.mutate(_m0=month_index(t[ts])).cross_join(offsets)
    x = x.mutate(_pk=x._m0 + x._off)
    x = x.join(periods, x._pk == periods.pidx)
    x = x.filter((x[ts] >= x.win_start) & (x[ts] < x.win_end))
    return x.drop("_m0", "_off", "_pk")


# -- item facts --------------------------------------------------------------------------------------
def item_facts(roles: ir.Table, edges: ir.Table, model: dict[str, Any]) -> ir.Table:
    """Per item by a human author: its roles and when the community responded to it.

    ``first_response_ts``: the first response by another member; ``answered_ts`` (questions): the
    first answer by another member; ``seeker`` (answers): the other member whose question it answers;
    ``support_ts`` (ideas): when the k-th distinct other member supported it (k from the model).
    """
    k = int(model["stages"]["innovate_min_supporters"])
    support_kinds = ["reply", "answer", *model["interactions"]["support_verbs"]]
    first = edges.view()
    first = first.filter(first.target_item_id.notnull())
    first = first.group_by(_fid=first.target_item_id).aggregate(first_response_ts=first.ts.min())

    humans = roles.filter(~roles.author_is_bot)
    _vq = humans.view()
    q = _vq.select(_qid=_vq.item_id, _qauthor=_vq.author_member)
    ans = humans.filter(humans.answers_item.notnull())
    ans = ans.join(q, ans.answers_item == q._qid)
    ans = ans.filter(ans._qauthor != ans.author_member)
    answered = ans.group_by(_aid=ans.answers_item).aggregate(answered_ts=ans.created_at.min())
    seekers = ans.select(_sid=ans.item_id, seeker=ans._qauthor)

    sup = edges.filter(edges.kind.isin(support_kinds) & edges.target_item_id.notnull())
    sup = sup.group_by(_iid=sup.target_item_id, _who=sup.actor).aggregate(_ts=sup.ts.min())
    sup = sup.mutate(_n=ibis.row_number().over(group_by=sup._iid, order_by=[sup._ts, sup._who]) + 1)
    supported = sup.filter(sup._n == k).select(_sup_id=sup._iid, support_ts=sup._ts)

    f = humans.left_join(first, humans.item_id == first._fid)
    f = f.left_join(answered, f.item_id == answered._aid)
    f = f.left_join(seekers, f.item_id == seekers._sid)
    f = f.left_join(supported, f.item_id == supported._sup_id)
    f = f.drop("_fid", "_aid", "_sid", "_sup_id")
    # information shared: an item that is neither a question nor small talk, opening a thread or
    # carrying a resource or an answer
    share_ok = (
        ~f.is_question
        & ~f.is_social
        & ~(f.is_gratitude & ~f.is_answer)
        & (f.is_root | f.is_resource | f.is_answer)
    )
    return f.mutate(share_eligible=share_ok)


# -- members -----------------------------------------------------------------------------------------
def member_activity(roles: ir.Table, actions: ir.Table, who: ir.Table, model: dict[str, Any]) -> ir.Table:
    """Everything people (not bots) did, one row each: items they authored and actions they took, with
    the member, community, time, item, ``authored`` and ``counted`` (whether it counts toward the
    stage: authored items and the verbs in ``interactions.given_verbs``; views and joins do not)."""
    given_verbs = list(model["interactions"]["given_verbs"])
    acts = resolve(
        actions.filter(actions.actor_id.notnull() & actions.ts.notnull()), "actor_id", who, "member_id"
    )
    acts = acts.filter(~acts.member_id_is_bot)
    # only actions without a community need their item's: joining all of them (10 M rows against every
    # item) was the costliest step of the analysis; item ids are unique, so the join adds no rows
    _vitems_comm = roles.view()
    items_comm = _vitems_comm.select(_iid=_vitems_comm.item_id, _icomm=_vitems_comm.community_id)
    orphans = acts.filter(acts.community_id.isnull())
    orphans = orphans.left_join(items_comm, orphans.item_id == items_comm._iid)
    orphans = orphans.mutate(community_id=orphans._icomm).drop("_iid", "_icomm")
    acts = acts.filter(acts.community_id.notnull()).union(orphans, distinct=False)
    acts = acts.filter(acts.community_id.notnull())
    humans = roles.filter(~roles.author_is_bot & roles.created_at.notnull())
    authored = humans.select(
        member_id=humans.author_member,
        community_id=humans.community_id,
        ts=humans.created_at,
        item_id=humans.item_id,
        authored=ibis.literal(True),
        counted=ibis.literal(True),
    )
    done = acts.select(
        "member_id",
        "community_id",
        "ts",
        "item_id",
        authored=ibis.literal(False),
        counted=acts.verb.isin(given_verbs),
    )
    return authored.union(done)


def member_periods(
    roles: ir.Table,
    edges: ir.Table,
    actions: ir.Table,
    who: ir.Table,
    periods: ir.Table,
    model: dict[str, Any],
    experiments: ir.Table | None = None,
    *,
    facts: ir.Table | None = None,
    activity: ir.Table | None = None,
) -> tuple[ir.Table, ir.Table, ir.Table]:
    """``(member_stages, stage_evidence, facts)``: one row per member, community and period from their
    first month in the community until the month after their last activity has left the window; the
    evidence items per stage flag; and the item facts they were built from."""
    days = int(model["window"]["days"])
    st = model["stages"]
    if facts is None:
        facts = item_facts(roles, edges, model)

    if activity is None:
        activity = member_activity(roles, actions, who, model)

    # presence: anything a member did in a community, views and joins included
    pres = activity.select("member_id", "community_id", "ts")
    if experiments is not None:
        pres = pres.union(
            experiments.select("member_id", "community_id", ts=experiments.completed_at.cast(pres.ts.type()))
        )
    span = pres.group_by("member_id", "community_id").aggregate(
        _first=month_index(pres.ts.min()), _last=month_index(pres.ts.max())
    )
    reach = days // 28 + 2  # months after the last activity that a window can still hold it, plus one
    grid = span.cross_join(periods.select("pidx", "period", "win_start", "win_end"))
    # periods stop at the community's own last month with activity: after an export ends, nobody is
    # "no longer active", we simply do not know, and empty months would read as a dead community
    comm = pres.group_by(_ccomm=pres.community_id).aggregate(_clast=month_index(pres.ts.max()))
    grid = grid.join(comm, grid.community_id == comm._ccomm).drop("_ccomm")
    grid = grid.filter(
        (grid.pidx >= grid._first) & (grid.pidx <= grid._last + reach) & (grid.pidx <= grid._clast)
    )
    grid = grid.drop("_clast")
    grid = grid.mutate(is_first=grid.pidx == grid._first).drop("_last")

    # interactions counted toward the stage: items authored and reactions/votes given, added up per
    # day first (windows start at midnight, so a day is never split) to keep the repeated rows few
    events = activity.filter(activity.counted).select(
        "member_id", "community_id", "ts", "item_id", "authored"
    )
    daily = events.group_by("member_id", "community_id", day=events.ts.truncate("D")).aggregate(
        _n=events.count(), _ni=events.authored.ifelse(1, 0).sum()
    )
    ev = in_windows(daily, "day", periods, days)
    counts = ev.group_by(*KEY).aggregate(n_interactions=ev._n.sum(), n_items=ev._ni.sum())
    counts = counts.mutate(n_given=counts.n_interactions - counts.n_items)

    fw = in_windows(facts.rename(member_id="author_member"), "created_at", periods, days)
    share_hit = fw.share_eligible & fw.first_response_ts.notnull() & (fw.first_response_ts < fw.win_end)
    help_hit = fw.is_answer & fw.seeker.notnull()
    seek_hit = fw.is_question & fw.answered_ts.notnull() & (fw.answered_ts < fw.win_end)
    idea_hit = fw.is_idea & fw.support_ts.notnull() & (fw.support_ts < fw.win_end)
    fw = fw.mutate(_share=share_hit, _help=help_hit, _seek=seek_hit, _idea=idea_hit)
    made = fw.group_by(*KEY).aggregate(
        n_originals=fw.is_root.ifelse(1, 0).sum(),
        n_replies=(~fw.is_root).ifelse(1, 0).sum(),
        n_questions=fw.is_question.ifelse(1, 0).sum(),
        n_answers=fw.is_answer.ifelse(1, 0).sum(),
        n_ideas=fw.is_idea.ifelse(1, 0).sum(),
        shared_items=fw._share.ifelse(1, 0).sum(),
        helped_items=fw._help.ifelse(1, 0).sum(),
        answered_questions=fw._seek.ifelse(1, 0).sum(),
        supported_ideas=fw._idea.ifelse(1, 0).sum(),
    )

    # responses received: summed per member and day before the rows are repeated per window
    e = edges.group_by("community_id", member_id=edges.target, day=edges.ts.truncate("D")).aggregate(
        _n=edges.count()
    )
    rw = in_windows(e, "day", periods, days)
    got = rw.group_by(*KEY).aggregate(n_received=rw._n.sum())
    # distinct responders without regrouping every windowed (member, responder) row (10 M actions: 16 M
    # rows on four keys, the slowest part of this step): one row per pair and month holding its last
    # day. The latest month <= P with a response holds the pair's latest day before P's end, so the pair
    # is in P's window exactly when that row is; counting a row only up to the pair's next month then
    # counts each pair once per window
    r = edges.filter(edges.ts.notnull())
    r = r.group_by("community_id", "actor", member_id=r.target, _m=month_index(r.ts)).aggregate(
        _d=r.ts.max().truncate("D")
    )
    nxt = ibis.window(group_by=[r.community_id, r.actor, r.member_id], order_by=r._m)
    r = r.mutate(_next=r._m.lead().over(nxt))
    rr = in_windows(r, "_d", periods, days)
    rr = rr.filter(rr._next.isnull() | (rr.pidx < rr._next))
    who_resp = rr.group_by(*KEY).aggregate(responders=rr.count())

    # distinct people helped, counted like the responders (no count distinct over windowed rows)
    hp = facts.filter(facts.is_answer & facts.seeker.notnull() & facts.created_at.notnull())
    hp = hp.group_by(
        "community_id", "seeker", member_id=hp.author_member, _m=month_index(hp.created_at)
    ).aggregate(_t=hp.created_at.max())
    hnext = ibis.window(group_by=[hp.community_id, hp.seeker, hp.member_id], order_by=hp._m)
    hp = hp.mutate(_next=hp._m.lead().over(hnext))
    hw = in_windows(hp, "_t", periods, days)
    hw = hw.filter(hw._next.isnull() | (hw.pidx < hw._next))
    helped = hw.group_by(*KEY).aggregate(helped_people=hw.count())

    parts = [counts, made, got, who_resp, helped]
    if experiments is not None:
        ex = experiments.filter(experiments.completed_at.notnull())
        ex = ex.select("member_id", "community_id", ts=ex.completed_at.cast(pres.ts.type()))
        exw = in_windows(ex, "ts", periods, days)
        parts.append(exw.group_by(*KEY).aggregate(experiments=exw.count()))

    ms = grid
    for p in parts:
        pk = p.rename(_k_member="member_id", _k_comm="community_id", _k_pidx="pidx")
        ms = ms.left_join(
            pk, (ms.member_id == pk._k_member) & (ms.community_id == pk._k_comm) & (ms.pidx == pk._k_pidx)
        ).drop("_k_member", "_k_comm", "_k_pidx")
    zero_fill = [
        c
        for c in ms.columns
        if c.startswith("n_")
        or c
        in (
            "shared_items",
            "helped_items",
            "helped_people",
            "answered_questions",
            "supported_ideas",
            "responders",
            "experiments",
        )
    ]
    ms = ms.mutate(**{c: ms[c].fill_null(0).cast("int64") for c in zero_fill})
    if "experiments" not in ms.columns:
        ms = ms.mutate(experiments=ibis.literal(0, "int64"))

    connect = ms.n_interactions >= 1
    share = ms.shared_items >= int(st["share_min_items"])
    solve = (ms.helped_items >= int(st["solve_min_items"])) | (
        ms.answered_questions >= int(st["solve_min_items"])
    )
    innovate = (ms.supported_ideas >= 1) | (ms.experiments >= 1)
    ms = ms.mutate(connect=connect, share=share, solve=solve, innovate=innovate)
    enough = ms.n_interactions >= int(st["min_interactions"])
    stage = ibis.cases(
        (~enough, "observer"),
        (ms.innovate, "innovate"),
        (ms.solve, "solve"),
        (ms.share, "share"),
        else_="connect",
    )
    ms = ms.mutate(stage=stage)
    ms = ms.mutate(stage_rank=ms.stage.cases(*[(s, i) for i, s in enumerate(STAGES)], else_=0).cast("int64"))
    ms = ms.mutate(persona=_persona(ms, model))
    ms = ms.select(
        "member_id",
        "community_id",
        "period",
        "pidx",
        "is_first",
        "n_interactions",
        "n_items",
        "n_given",
        "n_received",
        "responders",
        "n_originals",
        "n_replies",
        "n_questions",
        "n_answers",
        "n_ideas",
        "shared_items",
        "helped_items",
        "helped_people",
        "answered_questions",
        "supported_ideas",
        "experiments",
        "connect",
        "share",
        "solve",
        "innovate",
        "stage",
        "stage_rank",
        "persona",
    )

    evidence = _evidence(events, fw, roles, periods, days, int(st["evidence_examples"]))
    return ms, evidence, facts


def _persona(ms: ir.Table, model: dict[str, Any]) -> ir.StringValue:
    """Give/receive balance (SWOOP): what a member gives is everything they author or react with;
    what they receive is every response from others to them."""
    p = model["personas"]
    enough = ms.n_interactions >= int(model["stages"]["min_interactions"])
    gives = ms.n_interactions.cast("float64")
    receives = ibis.greatest(ms.n_received, 1).cast("float64")
    ratio = gives / receives
    posts = ms.n_originals.cast("float64")
    mostly_posts = posts > (posts + ms.n_replies.cast("float64")) * float(p["broadcaster_min_original_share"])
    return ibis.cases(
        (~enough, "Observer"),
        ((ratio >= float(p["responder_ratio"])) & mostly_posts, "Broadcaster"),
        (ratio >= float(p["responder_ratio"]), "Responder"),
        (ratio <= float(p["catalyst_ratio"]), "Catalyst"),
        else_="Engager",
    )


def _evidence(
    events: ir.Table, fw: ir.Table, roles: ir.Table, periods: ir.Table, days: int, n: int
) -> ir.Table:
    """Up to ``n`` example items per member, community, period and stage flag (earliest first)."""
    _vknown = roles.view()
    known = _vknown.select(_known=_vknown.item_id)
    con = events.join(known, events.item_id == known._known)
    # examples are taken from the first n items of each month (one row per item) before the rows are
    # repeated per window: that keeps this step small on busy communities, and every example is still
    # an item of the window
    con = con.group_by("member_id", "community_id", "item_id", _m=month_index(con.ts)).aggregate(
        ts=con.ts.min()
    )
    first = ibis.window(group_by=[con.member_id, con.community_id, con._m], order_by=[con.ts, con.item_id])
    con = con.mutate(_r=ibis.row_number().over(first))
    con = con.filter(con._r < n).drop("_m", "_r")
    cw = in_windows(con, "ts", periods, days)
    # an item used in two months of one window is one example
    cw = cw.group_by(*KEY, "period", "item_id").aggregate(ts=cw.ts.min())
    rows = [cw.select(*KEY, "period", "item_id", "ts", flag=ibis.literal("connect"))]
    for flag, col in (("share", "_share"), ("solve", "_help"), ("solve", "_seek"), ("innovate", "_idea")):
        x = fw.filter(fw[col])
        rows.append(x.select(*KEY, "period", "item_id", ts=x.created_at, flag=ibis.literal(flag)))
    allr = rows[0]
    for r in rows[1:]:
        # no duplicates across these: an item is an answer or a question, never both
        allr = allr.union(r, distinct=False)
    w = ibis.window(
        group_by=[allr.member_id, allr.community_id, allr.pidx, allr.flag], order_by=[allr.ts, allr.item_id]
    )
    allr = allr.mutate(rank=ibis.row_number().over(w) + 1)
    return allr.filter(allr.rank <= n).select(*KEY, "period", "flag", "rank", "item_id")


# -- community ---------------------------------------------------------------------------------------
def stage_mix(ms: ir.Table) -> ir.Table:
    """Per community and period: members present, active (any interaction) and at each stage, with each
    stage's share of the active members."""
    active = ms.n_interactions > 0
    agg = {"members": ms.count(), "active": active.ifelse(1, 0).sum()}
    for s in STAGES:
        agg[s] = ((ms.stage == s) & active).ifelse(1, 0).sum()
    mix = ms.group_by("community_id", "period", "pidx").aggregate(**agg)
    denom = ibis.greatest(mix.active, 1).cast("float64")
    return mix.mutate(**{f"{s}_share": mix[s].cast("float64") / denom for s in STAGES})


def journeys(ms: ir.Table, actions: ir.Table, who: ir.Table) -> ir.Table:
    """Each member's move between consecutive periods: new, moved up, stayed, dropped or left.

    Left: active in the previous window and nothing in this one, or a leave action this month.
    Rows where the member did nothing in either window are left out (nothing happened).
    """
    w = ibis.window(group_by=[ms.member_id, ms.community_id], order_by=ms.pidx)
    j = ms.mutate(prev_stage=ms.stage.lag().over(w), _prev_n=ms.n_interactions.lag().over(w))
    leaves = resolve(actions.filter(actions.verb == "leave"), "actor_id", who, "_lm")
    leaves = leaves.select(_lm=leaves._lm, _lc=leaves.community_id, _lp=month_index(leaves.ts)).distinct()
    j = j.left_join(
        leaves, (j.member_id == leaves._lm) & (j.community_id == leaves._lc) & (j.pidx == leaves._lp)
    )
    prev_rank = j.prev_stage.cases(*[(s, i) for i, s in enumerate(STAGES)], else_=0)
    prev_n = j._prev_n.fill_null(0)
    transition = ibis.cases(
        (j.is_first, "new"),
        (j._lm.notnull() | ((prev_n > 0) & (j.n_interactions == 0)), "left"),
        (j.stage_rank > prev_rank, "moved up"),
        (j.stage_rank < prev_rank, "dropped"),
        else_="stayed",
    )
    j = j.mutate(transition=transition, prev_interactions=prev_n.cast("int64"))
    j = j.filter(j.is_first | (j.prev_interactions > 0) | (j.n_interactions > 0) | j._lm.notnull())
    return j.select(
        "member_id",
        "community_id",
        "period",
        "pidx",
        "prev_stage",
        "stage",
        "transition",
        "prev_interactions",
        "n_interactions",
    )


def persona_mix(ms: ir.Table) -> ir.Table:
    """Members per persona, community and period (members with no activity in the window left out)."""
    a = ms.filter(ms.n_interactions > 0)
    return a.group_by("community_id", "period", "pidx", "persona").aggregate(members=a.count())


def stage_checks(
    ms: ir.Table,
    facts: ir.Table,
    jn: ir.Table,
    periods: ir.Table,
    model: dict[str, Any],
    *,
    with_experiments: bool = False,
) -> ir.Table:
    """Terry's questions per community and period, one row per measure: its value, threshold,
    direction and whether it passes. A stage passes when all its measures pass."""
    c = model["checks"]
    days = int(model["window"]["days"])
    hours = float(c["solve_timely_hours"])

    mix = ms.group_by("community_id", "pidx").aggregate(
        active=(ms.n_interactions > 0).ifelse(1, 0).sum(),
        helpers=ibis.ifelse(ms.helped_items > 0, ms.member_id, ibis.null("string")).nunique(),
        participants=(ms.experiments > 0).ifelse(1, 0).sum(),
    )
    # retention: of last period's active members, the share still active (not left)
    ret = jn.filter(jn.prev_interactions > 0)
    ret = ret.group_by("community_id", "pidx").aggregate(
        _was_active=ret.count(),
        _kept=(ret.transition != "left").ifelse(1, 0).sum(),
    )

    f = facts.mutate(_pm=month_index(facts.created_at))
    f = f.join(periods.select("pidx", "win_end"), f._pm == periods.pidx)
    posts = f.is_root & ~f.is_question
    got = f.first_response_ts.notnull() & (f.first_response_ts < f.win_end)
    answered = f.answered_ts.notnull() & (f.answered_ts < f.win_end)
    timely = answered & ((f.answered_ts.epoch_seconds() - f.created_at.epoch_seconds()) <= hours * 3600)
    month = f.group_by("community_id", "pidx").aggregate(
        new_posts=posts.ifelse(1, 0).sum(),
        answered_posts=(posts & got).ifelse(1, 0).sum(),
        questions=f.is_question.ifelse(1, 0).sum(),
        answered_q=(f.is_question & answered).ifelse(1, 0).sum(),
        timely_q=(f.is_question & timely).ifelse(1, 0).sum(),
    )

    fw = in_windows(facts.filter(facts.is_root), "created_at", periods, days)
    by_author = fw.group_by("community_id", "pidx", "author_member").aggregate(_n=fw.count())
    roots = by_author.group_by("community_id", "pidx").aggregate(
        contributors=by_author.count(), _top=by_author._n.max(), _roots=by_author._n.sum()
    )
    iw = in_windows(facts.filter(facts.is_idea), "created_at", periods, days)
    ideas = iw.group_by("community_id", "pidx").aggregate(
        ideas=iw.count(),
        supported=(iw.support_ts.notnull() & (iw.support_ts < iw.win_end)).ifelse(1, 0).sum(),
    )

    base = mix.join(periods.select("pidx", "period"), "pidx")
    for p in (ret, month, roots, ideas):
        pk = p.rename(_kc="community_id", _kp="pidx")
        base = base.left_join(pk, (base.community_id == pk._kc) & (base.pidx == pk._kp)).drop("_kc", "_kp")

    def rate(num: ir.Value, den: ir.Value) -> ir.FloatingValue:
        return ibis.ifelse(
            den.fill_null(0) > 0, num.fill_null(0).cast("float64") / den.cast("float64"), ibis.null("float64")
        )

    measures = [
        (
            "connect",
            "still a group?",
            "active members",
            base.active.cast("float64"),
            c["connect_min_active"],
            ">=",
        ),
        (
            "connect",
            "still a group?",
            "members kept from last period",
            rate(base._kept, base._was_active),
            c["connect_min_retention"],
            ">=",
        ),
        (
            "share",
            "still sharing?",
            "new posts (not questions) this month",
            base.new_posts.fill_null(0).cast("float64"),
            c["share_min_new_posts"],
            ">=",
        ),
        (
            "share",
            "still sharing?",
            "share of new posts with a response",
            rate(base.answered_posts, base.new_posts),
            c["share_min_response_rate"],
            ">=",
        ),
        (
            "share",
            "still sharing?",
            "distinct authors of posts in the window",
            base.contributors.fill_null(0).cast("float64"),
            c["share_min_contributors"],
            ">=",
        ),
        (
            "share",
            "still sharing?",
            "top author's share of posts in the window",
            rate(base._top, base._roots),
            c["share_max_top_author_share"],
            "<=",
        ),
        (
            "solve",
            "doing work?",
            "questions asked this month",
            base.questions.fill_null(0).cast("float64"),
            c["solve_min_questions"],
            ">=",
        ),
        (
            "solve",
            "doing work?",
            "share of questions answered by another member",
            rate(base.answered_q, base.questions),
            c["solve_min_answered_rate"],
            ">=",
        ),
        (
            "solve",
            "doing work?",
            f"share of questions answered within {hours:g} hours",
            rate(base.timely_q, base.questions),
            c["solve_min_timely_rate"],
            ">=",
        ),
        (
            "solve",
            "doing work?",
            "members who answered someone else in the window",
            base.helpers.cast("float64"),
            c["solve_min_helpers"],
            ">=",
        ),
        (
            "innovate",
            "innovating?",
            "ideas proposed in the window",
            base.ideas.fill_null(0).cast("float64"),
            c["innovate_min_ideas"],
            ">=",
        ),
        (
            "innovate",
            "innovating?",
            "ideas with enough supporters in the window",
            base.supported.fill_null(0).cast("float64"),
            c["innovate_min_supported"],
            ">=",
        ),
    ]
    if with_experiments or float(c["innovate_min_participants"]) > 0:
        measures.append(
            (
                "innovate",
                "innovating?",
                "members in experiments in the window",
                base.participants.cast("float64"),
                c["innovate_min_participants"],
                ">=",
            )
        )
    out = None
    for order, (stage, question, measure, value, threshold, op) in enumerate(measures):
        th = float(threshold)
        # a rate with nothing to measure (no posts, no questions) cannot pass
        passed = (value >= th) if op == ">=" else (value <= th)
        row = base.select(
            "community_id",
            "period",
            "pidx",
            stage=ibis.literal(stage),
            question=ibis.literal(question),
            measure=ibis.literal(measure),
            ord=ibis.literal(order, "int64"),
            value=value,
            threshold=ibis.literal(th, "float64"),
            op=ibis.literal(op),
            passed=passed.fill_null(False),
        )
        out = row if out is None else out.union(row)
    return out


def compute(
    tables: dict[str, ir.Table],
    maturity_model: dict[str, Any],
    roles_model: dict[str, Any],
    *,
    experiments: ir.Table | None = None,
    periods: ir.Table | None = None,
    materialize: Callable[[str, ir.Table], ir.Table] | None = None,
) -> dict[str, ir.Table]:
    """The whole Value Maturity computation over canonical tables (``items``, ``actions``,
    ``identities``, ``members``) as lazy Ibis expressions, one per derived table.

    ``experiments`` (``member_id, community_id, completed_at``) adds Innovate participation from the
    Collaboration canvas. ``periods`` defaults to every month with activity. ``materialize(name,
    expr)`` may store a step's result and return a table reading it back (the workspace does, so each
    step is computed once); without it everything stays lazy.
    """
    from covalue.metrics.classify import classify_items
    from covalue.metrics.interactions import build_interactions, people

    items, actions = tables["items"], tables["actions"]
    who = people(tables["identities"], tables["members"])
    if periods is None:
        rng = activity_range(items, actions) or (0, -1)
        periods = ibis.memtable(periods_table(*rng, int(maturity_model["window"]["days"])))
    keep = materialize or (lambda _name, expr: expr)
    out: dict[str, ir.Table] = {}
    out["people"] = who = keep("people", who)
    out["item_roles"] = roles = keep("item_roles", classify_items(items, who, roles_model))
    out["interactions"] = edges = keep(
        "interactions", build_interactions(roles, actions, who, maturity_model)
    )
    # kept lazy: writing every action once more costs more than resolving it twice
    activity = member_activity(roles, actions, who, maturity_model)
    out["item_facts"] = facts = keep("item_facts", item_facts(roles, edges, maturity_model))
    ms, evidence, _ = member_periods(
        roles, edges, actions, who, periods, maturity_model, experiments, facts=facts, activity=activity
    )
    out["member_stages"] = ms = keep("member_stages", ms)
    out["stage_evidence"] = keep("stage_evidence", evidence)
    out["stage_mix"] = keep("stage_mix", stage_mix(ms))
    out["journeys"] = jn = keep("journeys", journeys(ms, actions, who))
    out["personas"] = keep("personas", persona_mix(ms))
    out["stage_checks"] = keep(
        "stage_checks",
        stage_checks(ms, facts, jn, periods, maturity_model, with_experiments=experiments is not None),
    )
    return out
