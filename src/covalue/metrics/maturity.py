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
TRANSITIONS = ("new", "returned", "moved up", "stayed", "dropped", "left")
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
def anonymous_responses(actions: ir.Table, model: dict[str, Any]) -> ir.Table:
    """Positive responses whose giver the export does not name (``_iid, _who, _ts``): Stack Exchange
    dumps keep up-votes without their voter. Nobody can vote on their own post there, so each is a
    response from someone else, and one voter per row (one vote per person and post)."""
    verbs = list(
        dict.fromkeys([*model["interactions"]["response_verbs"], *model["interactions"]["support_verbs"]])
    )
    a = actions.filter(
        actions.actor_id.isnull()
        & actions.item_id.notnull()
        & actions.ts.notnull()
        & actions.verb.isin(verbs)
        & (actions.value.isnull() | (actions.value > 0))
    )
    return a.select(_iid=a.item_id, _who=ibis.literal("anonymous:").concat(a.action_id), _ts=a.ts)


def item_facts(
    roles: ir.Table, edges: ir.Table, model: dict[str, Any], actions: ir.Table | None = None
) -> ir.Table:
    """Per item by a human author: its roles and when the community responded to it.

    ``first_response_ts``: the first response by another member; ``answered_ts`` (questions): the
    first answer by another member; ``helps_other`` (answers): it answers someone else's question, and
    ``seeker`` is that person when known (null for a deleted account); ``first_reply_ts`` and
    ``first_reply_inferred`` (roots): the first reply or answer by someone else, as health times it;
    ``support_ts`` (ideas): when the k-th distinct other member supported it (k from the model).
    """
    k = int(model["stages"]["innovate_min_supporters"])
    support_kinds = ["reply", "answer", *model["interactions"]["support_verbs"]]
    anon = anonymous_responses(actions, model) if actions is not None else None
    first = edges.view()
    first = first.filter(first.target_item_id.notnull()).select(_iid=first.target_item_id, _ts=first.ts)
    if anon is not None:
        first = first.union(anon.select("_iid", "_ts"), distinct=False)
    # a reply whose author's account was deleted is still a reply from someone else
    _vgone = roles.view()
    gone = _vgone.filter(_vgone.author_member.isnull() & _vgone.parent_id.notnull() & ~_vgone.author_is_bot)
    first = first.union(gone.select(_iid=gone.parent_id, _ts=gone.created_at), distinct=False)
    # a response comes after what it responds to: a reply moved under an older topic, or dated before
    # it, is not a response in no time (votes carry only their day, so the day of the item counts)
    _vborn = roles.view()
    born = _vborn.select(_bid=_vborn.item_id, _born=_vborn.created_at)
    first = first.join(born, first._iid == born._bid)
    first = first.filter(first._ts >= first._born.truncate("D"))
    first = first.mutate(_ts=ibis.greatest(first._ts, first._born))
    first = first.group_by(_fid=first._iid).aggregate(first_response_ts=first._ts.min())

    humans = roles.filter(~roles.author_is_bot)
    _vq = humans.view()
    q = _vq.select(_qid=_vq.item_id, _qauthor=_vq.author_member)
    ans = humans.filter(humans.answers_item.notnull())
    ans = ans.join(q, ans.answers_item == q._qid)
    # a question by a deleted or unknown account (no author) is someone else's question too
    # ... and an answer by a deleted account is someone else's answer
    ans = ans.filter(ans._qauthor.isnull() | ans.author_member.isnull() | (ans._qauthor != ans.author_member))
    # an answer older than its question (merged or moved posts) answers it from the question's birth
    answered = ans.group_by(_aid=ans.answers_item).aggregate(answered_ts=ans.created_at.min())
    _vqt = humans.view()
    asked = _vqt.select(_at_id=_vqt.item_id, _asked=_vqt.created_at)
    answered = answered.join(asked, answered._aid == asked._at_id)
    answered = answered.select("_aid", answered_ts=ibis.greatest(answered.answered_ts, answered._asked))
    seekers = ans.select(_sid=ans.item_id, seeker=ans._qauthor, helps_other=ibis.literal(True))

    sup = edges.filter(
        edges.kind.isin(support_kinds) & edges.target_item_id.notnull() & edges.actor.notnull()
    )
    sup = sup.select(_iid=sup.target_item_id, _who=sup.actor, _ts=sup.ts)
    if anon is not None:
        sup = sup.union(anon, distinct=False)
    sup = sup.group_by("_iid", "_who").aggregate(_ts=sup._ts.min())
    sup = sup.mutate(_n=ibis.row_number().over(group_by=sup._iid, order_by=[sup._ts, sup._who]) + 1)
    supported = sup.filter(sup._n == k).select(_sup_id=sup._iid, support_ts=sup._ts)

    f = humans.left_join(first, humans.item_id == first._fid)
    f = f.left_join(answered, f.item_id == answered._aid)
    f = f.left_join(seekers, f.item_id == seekers._sid)
    f = f.left_join(supported, f.item_id == supported._sup_id)
    f = f.drop("_fid", "_aid", "_sid", "_sup_id")
    f = f.mutate(helps_other=f.helps_other.fill_null(False))
    # the first reply or answer by someone else (health's time to first response), computed once here
    from covalue.metrics.health import with_first_replies  # health builds on this module

    f = with_first_replies(f, edges)
    # information shared: an item that is neither a question nor small talk, opening a thread or
    # carrying a resource or an answer
    share_ok = (
        ~f.is_question
        & ~f.is_social
        & ~(f.is_gratitude & ~f.is_answer)
        & (f.is_root | f.is_resource | f.is_answer)
    )
    return f.mutate(share_eligible=share_ok)


# -- experiments -------------------------------------------------------------------------------------
def experiment_contributions(ex: ir.Table, roles: ir.Table, experiment_items: ir.Table | None) -> ir.Table:
    """One row per participant and completed experiment they contributed to (``member_id,
    community_id, ts``, ``ts`` being the experiment's completion): they wrote an item linked to the
    experiment, or wrote in the experiment's space between its start and its end. Being listed alone
    is not a contribution, so clicking in the canvas cannot move anyone's stage."""
    for col, typ in (("experiment_id", "int64"), ("started_at", "timestamp"), ("space_id", "string")):
        if col not in ex.columns:
            ex = ex.mutate(**{col: ibis.null(typ)})
    _vr = roles.view()
    authored = _vr.filter(~_vr.author_is_bot & _vr.author_member.notnull()).select(
        _iid=_vr.item_id, _author=_vr.author_member, _space=_vr.space_id, _at=_vr.created_at
    )
    keys = ("member_id", "community_id", "experiment_id", "ts")
    in_space = ex.filter(ex.space_id.notnull()).join(
        authored, (ex.space_id == authored._space) & (ex.member_id == authored._author)
    )
    started = in_space.started_at.cast(in_space._at.type())
    in_space = in_space.filter(
        (started.isnull() | (in_space._at >= started))
        & (in_space._at <= in_space.ts.cast(in_space._at.type()))
    ).select(*keys)
    hits = in_space
    if experiment_items is not None:
        li = experiment_items.select(
            _eid=experiment_items.experiment_id.cast("int64"), _liid=experiment_items.item_id
        )
        linked = ex.join(li, ex.experiment_id == li._eid)
        linked = linked.join(
            authored, (linked._liid == authored._iid) & (linked.member_id == authored._author)
        )
        hits = hits.union(linked.select(*keys), distinct=False)
    return hits.distinct().select("member_id", "community_id", "ts")


# -- members -----------------------------------------------------------------------------------------
def member_activity(roles: ir.Table, actions: ir.Table, who: ir.Table, model: dict[str, Any]) -> ir.Table:
    """Everything people (not bots) did, one row each: items they authored and actions they took, with
    the member, community, time, item, ``verb`` (``author`` for items), ``authored`` and ``counted``
    (whether others can see it: authored items and the verbs in ``interactions.given_verbs``; views,
    joins and follows make presence only)."""
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
    humans = roles.filter(~roles.author_is_bot & roles.created_at.notnull() & roles.author_member.notnull())
    authored = humans.select(
        member_id=humans.author_member,
        community_id=humans.community_id,
        ts=humans.created_at,
        item_id=humans.item_id,
        verb=ibis.literal("author"),
        authored=ibis.literal(True),
        counted=ibis.literal(True),
    )
    done = acts.select(
        "member_id",
        "community_id",
        "ts",
        "item_id",
        "verb",
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
    experiment_items: ir.Table | None = None,
    facts: ir.Table | None = None,
    activity: ir.Table | None = None,
) -> tuple[ir.Table, ir.Table, ir.Table]:
    """``(member_stages, stage_evidence, facts)``: one row per member, community and period from their
    first month in the community until the month after their last activity has left the window; the
    evidence items per stage flag; and the item facts they were built from."""
    days = int(model["window"]["days"])
    st = model["stages"]
    if facts is None:
        facts = item_facts(roles, edges, model, actions)

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
    # one pass over everything people did, per member and day: what others can see counts toward the
    # stage; joins, views and follows are presence only (an Observer), never a stage
    daily = activity.group_by("member_id", "community_id", day=activity.ts.truncate("D")).aggregate(
        _n=activity.counted.ifelse(1, 0).sum(),
        _ni=(activity.counted & activity.authored).ifelse(1, 0).sum(),
        _np=(~activity.counted).ifelse(1, 0).sum(),
        _nv=(activity.verb == "view").ifelse(1, 0).sum(),
    )
    ev = in_windows(daily, "day", periods, days)
    counts = ev.group_by(*KEY).aggregate(
        n_interactions=ev._n.sum(), n_items=ev._ni.sum(), n_passive=ev._np.sum(), n_views=ev._nv.sum()
    )
    counts = counts.mutate(n_given=counts.n_interactions - counts.n_items)

    fw = in_windows(facts.rename(member_id="author_member"), "created_at", periods, days)
    share_hit = fw.share_eligible & fw.first_response_ts.notnull() & (fw.first_response_ts < fw.win_end)
    help_hit = fw.is_answer & fw.helps_other
    seek_hit = fw.is_question & fw.answered_ts.notnull() & (fw.answered_ts < fw.win_end)
    idea_hit = fw.is_idea & fw.support_ts.notnull() & (fw.support_ts < fw.win_end)
    fw = fw.mutate(_share=share_hit, _help=help_hit, _seek=seek_hit, _idea=idea_hit)
    made = fw.group_by(*KEY).aggregate(
        n_originals=fw.is_root.ifelse(1, 0).sum(),
        n_replies=fw.parent_id.notnull().ifelse(1, 0).sum(),
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
        ex = ex.mutate(ts=ex.completed_at.cast(pres.ts.type()))
        exw = in_windows(ex.select("member_id", "community_id", "ts"), "ts", periods, days)
        parts.append(exw.group_by(*KEY).aggregate(experiments=exw.count()))
        done = experiment_contributions(ex, roles, experiment_items)
        dw = in_windows(done, "ts", periods, days)
        parts.append(dw.group_by(*KEY).aggregate(experiment_contributions=dw.count()))

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
            "experiment_contributions",
        )
    ]
    ms = ms.mutate(**{c: ms[c].fill_null(0).cast("int64") for c in zero_fill})
    for col in ("experiments", "experiment_contributions"):
        if col not in ms.columns:
            ms = ms.mutate(**{col: ibis.literal(0, "int64")})
    # active: did something others can see in the window; present: did anything, joins and views included
    ms = ms.mutate(active=ms.n_interactions > 0, present=(ms.n_interactions + ms.n_passive) > 0)

    # the stage is the highest flag earned (DESIGN §5): value evidence decides it, never volume
    connect = ms.n_interactions >= 1
    share = ms.shared_items >= max(1, int(st["share_min_items"]))
    solve = (ms.helped_items >= max(1, int(st["solve_min_items"]))) | (
        ms.answered_questions >= max(1, int(st["solve_min_items"]))
    )
    innovate = ms.supported_ideas >= 1
    if bool(st.get("experiment_contributions_count", True)):
        # being listed in an experiment is shown next to the stage; only contributing to it counts
        innovate = innovate | (ms.experiment_contributions >= 1)
    ms = ms.mutate(connect=connect, share=share, solve=solve, innovate=innovate)
    stage = ibis.cases(
        (ms.innovate, "innovate"),
        (ms.solve, "solve"),
        (ms.share, "share"),
        (ms.connect, "connect"),
        else_="observer",
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
        "experiment_contributions",
        "n_passive",
        "n_views",
        "active",
        "present",
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
def stage_mix(ms: ir.Table, model: dict[str, Any] | None = None) -> ir.Table:
    """Per community and period: ``members`` present in the window (joins and views included),
    ``active`` (did something others can see), members at each stage from Connect up (active members
    only), ``observer`` (present but not active: joined, viewed or followed only), ``readers``
    (members seen viewing, where the source records views), and ``regular`` (active at least as often
    as SWOOP's frequency rule asks: that is the persona, shown beside the stages, never inside them).

    ``<stage>_share`` is the share of the active members at that stage; ``observer_share`` is the
    share of the members present who were only observing."""
    regular_min = int((model or {}).get("stages", {}).get("min_interactions", 6))
    agg = {
        "members": ms.present.ifelse(1, 0).sum(),
        "active": ms.active.ifelse(1, 0).sum(),
        "observer": (ms.present & ~ms.active).ifelse(1, 0).sum(),
        "readers": (ms.n_views > 0).ifelse(1, 0).sum(),
        "regular": (ms.n_interactions >= regular_min).ifelse(1, 0).sum(),
    }
    for s in STAGES[1:]:
        agg[s] = ((ms.stage == s) & ms.active).ifelse(1, 0).sum()
    mix = ms.group_by("community_id", "period", "pidx").aggregate(**agg)
    denom = ibis.greatest(mix.active, 1).cast("float64")
    shares = {f"{s}_share": mix[s].cast("float64") / denom for s in STAGES[1:]}
    shares["observer_share"] = mix.observer.cast("float64") / ibis.greatest(mix.members, 1).cast("float64")
    return mix.mutate(**shares)


def journeys(ms: ir.Table, actions: ir.Table, who: ir.Table) -> ir.Table:
    """Each member's move between consecutive periods, judged on what others could see (``active``).

    ``prev_stage``/``stage`` are null when the member was not active in that window. Transitions:
    new (active for the first time), returned (active again after a pause), moved up, stayed, dropped,
    and left (active before and not now, or a leave action this month). Months in which the member was
    not active on either side are left out: nothing happened.
    """
    w = ibis.window(group_by=[ms.member_id, ms.community_id], order_by=ms.pidx)
    j = ms.mutate(
        _prev_active=ms.active.lag().over(w).fill_null(False),
        _prev_stage=ms.stage.lag().over(w),
        _prev_rank=ms.stage_rank.lag().over(w),
        _prev_n=ms.n_interactions.lag().over(w),
        _first_active=ibis.ifelse(ms.active, ms.pidx, ibis.null("int64"))
        .min()
        .over(group_by=[ms.member_id, ms.community_id]),
    )
    leaves = resolve(actions.filter(actions.verb == "leave"), "actor_id", who, "_lm")
    leaves = leaves.select(_lm=leaves._lm, _lc=leaves.community_id, _lp=month_index(leaves.ts)).distinct()
    j = j.left_join(
        leaves, (j.member_id == leaves._lm) & (j.community_id == leaves._lc) & (j.pidx == leaves._lp)
    )
    left = j._lm.notnull() | (j._prev_active & ~j.active)
    transition = ibis.cases(
        (left, "left"),
        (~j._prev_active & (j.pidx == j._first_active), "new"),
        (~j._prev_active, "returned"),
        (j.stage_rank > j._prev_rank, "moved up"),
        (j.stage_rank < j._prev_rank, "dropped"),
        else_="stayed",
    )
    j = j.mutate(
        transition=transition,
        prev_stage=ibis.ifelse(j._prev_active, j._prev_stage, ibis.null("string")),
        stage=ibis.ifelse(j.active, j.stage, ibis.null("string")),
        prev_interactions=j._prev_n.fill_null(0).cast("int64"),
    )
    j = j.filter(j.active | j._prev_active | j._lm.notnull())
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
    a = ms.filter(ms.active)
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
    direction, whether it passes and the ``window`` it was measured over ("2020-05" for the month,
    "90 days to 2020-05-31" for the trailing window). A stage passes when all its measures pass.

    Questions are thread-opening questions and are counted over the trailing window, as health counts
    them, so the two never disagree. A measure whose threshold is 0 asks nothing and is left out (it
    could not fail). Where the community has no idea signal at all, the Innovate measures are
    ``measurable = false`` (value and pass left empty): "not measurable from this export", not 0.
    """
    c = model["checks"]
    days = int(model["window"]["days"])
    hours = float(c["solve_timely_hours"])

    mix = ms.group_by("community_id", "pidx").aggregate(
        active=ms.active.ifelse(1, 0).sum(),
        helpers=(ms.helped_items > 0).ifelse(1, 0).sum(),
        contributors_x=(ms.experiment_contributions > 0).ifelse(1, 0).sum(),
    )
    # retention: of last period's active members, the share still active (not left)
    ret = jn.filter(jn.prev_stage.notnull())
    ret = ret.group_by("community_id", "pidx").aggregate(
        _was_active=ret.count(),
        _kept=(ret.transition != "left").ifelse(1, 0).sum(),
    )

    # shared contributions of the month: posts, answers and resources (not questions)
    f = facts.mutate(_pm=month_index(facts.created_at))
    f = f.join(periods.select("pidx", "win_end"), f._pm == periods.pidx)
    shared = f.share_eligible
    got = f.first_response_ts.notnull() & (f.first_response_ts < f.win_end)
    month = f.group_by("community_id", "pidx").aggregate(
        new_posts=shared.ifelse(1, 0).sum(),
        answered_posts=(shared & got).ifelse(1, 0).sum(),
    )

    roots = facts.filter(facts.is_root)
    fw = in_windows(roots, "created_at", periods, days)
    answered = fw.answered_ts.notnull() & (fw.answered_ts < fw.win_end)
    timely = answered & ((fw.answered_ts.epoch_seconds() - fw.created_at.epoch_seconds()) <= hours * 3600)
    # one pass over the windowed threads: per author first (for the top author's share), then summed
    by_author = fw.group_by("community_id", "pidx", "author_member").aggregate(
        _n=fw.count(),
        _q=fw.is_question.ifelse(1, 0).sum(),
        _aq=(fw.is_question & answered).ifelse(1, 0).sum(),
        _tq=(fw.is_question & timely).ifelse(1, 0).sum(),
    )
    known = by_author.author_member.notnull()  # threads of deleted accounts have no author to count
    authors = by_author.group_by("community_id", "pidx").aggregate(
        contributors=known.ifelse(1, 0).sum(),
        _top=ibis.ifelse(known, by_author._n, ibis.null("int64")).max(),
        _roots=ibis.ifelse(known, by_author._n, 0).sum(),
        questions=by_author._q.sum(),
        answered_q=by_author._aq.sum(),
        timely_q=by_author._tq.sum(),
    )
    iw = in_windows(facts.filter(facts.is_idea), "created_at", periods, days)
    ideas = iw.group_by("community_id", "pidx").aggregate(
        ideas=iw.count(),
        supported=(iw.support_ts.notnull() & (iw.support_ts < iw.win_end)).ifelse(1, 0).sum(),
    )
    # a community whose export never shows an idea cannot say whether it innovates
    any_idea = facts.group_by(_ic=facts.community_id).aggregate(_has_ideas=facts.is_idea.any())

    base = mix.join(periods.select("pidx", "period", "win_start", "win_end"), "pidx")
    for p in (ret, month, authors, ideas):
        pk = p.rename(_kc="community_id", _kp="pidx")
        base = base.left_join(pk, (base.community_id == pk._kc) & (base.pidx == pk._kp)).drop("_kc", "_kp")
    base = base.left_join(any_idea, base.community_id == any_idea._ic).drop("_ic")
    base = base.mutate(_has_ideas=base._has_ideas.fill_null(False))

    def rate(num: ir.Value, den: ir.Value) -> ir.FloatingValue:
        return ibis.ifelse(
            den.fill_null(0) > 0, num.fill_null(0).cast("float64") / den.cast("float64"), ibis.null("float64")
        )

    def count(v: ir.Value) -> ir.FloatingValue:
        return v.fill_null(0).cast("float64")

    window = f"{days} days"
    measures = [
        (
            "connect",
            "still a group?",
            "active members",
            window,
            count(base.active),
            c["connect_min_active"],
            ">=",
        ),
        (
            "connect",
            "still a group?",
            "members kept from last period",
            "month",
            rate(base._kept, base._was_active),
            c["connect_min_retention"],
            ">=",
        ),
        (
            "share",
            "still sharing?",
            "contributions shared this month (posts, answers, resources; not questions)",
            "month",
            count(base.new_posts),
            c["share_min_new_posts"],
            ">=",
        ),
        (
            "share",
            "still sharing?",
            "share of those contributions with a response",
            "month",
            rate(base.answered_posts, base.new_posts),
            c["share_min_response_rate"],
            ">=",
        ),
        (
            "share",
            "still sharing?",
            "distinct people who started threads in the window",
            window,
            count(base.contributors),
            c["share_min_contributors"],
            ">=",
        ),
        (
            "share",
            "still sharing?",
            "top author's share of threads started in the window",
            window,
            rate(base._top, base._roots),
            c["share_max_top_author_share"],
            "<=",
        ),
        (
            "solve",
            "doing work?",
            "questions asked in the window (threads opened)",
            window,
            count(base.questions),
            c["solve_min_questions"],
            ">=",
        ),
        (
            "solve",
            "doing work?",
            "share of questions answered by another member",
            window,
            rate(base.answered_q, base.questions),
            c["solve_min_answered_rate"],
            ">=",
        ),
        (
            "solve",
            "doing work?",
            f"share of questions answered within {hours:g} hours",
            window,
            rate(base.timely_q, base.questions),
            c["solve_min_timely_rate"],
            ">=",
        ),
        (
            "solve",
            "doing work?",
            "members who answered someone else in the window",
            window,
            count(base.helpers),
            c["solve_min_helpers"],
            ">=",
        ),
        (
            "innovate",
            "innovating?",
            "ideas proposed in the window",
            window,
            count(base.ideas),
            c["innovate_min_ideas"],
            ">=",
        ),
        (
            "innovate",
            "innovating?",
            "ideas with enough supporters in the window",
            window,
            count(base.supported),
            c["innovate_min_supported"],
            ">=",
        ),
    ]
    if with_experiments or float(c["innovate_min_participants"]) > 0:
        measures.append(
            (
                "innovate",
                "innovating?",
                "members who contributed to an experiment in the window",
                window,
                count(base.contributors_x),
                c["innovate_min_participants"],
                ">=",
            )
        )
    month_end = (base.win_end - ibis.interval(days=1)).date().cast("string")
    out = None
    order = 0
    for stage, question, measure, span, value, threshold, op in measures:
        th = float(threshold)
        if op == ">=" and th <= 0:
            continue  # asks nothing: a check that cannot fail is not a check
        measurable = base._has_ideas if stage == "innovate" else ibis.literal(True)
        passed = (value >= th) if op == ">=" else (value <= th)
        label = base.period if span == "month" else ibis.literal(f"{span} to ").concat(month_end)
        row = base.select(
            "community_id",
            "period",
            "pidx",
            stage=ibis.literal(stage),
            question=ibis.literal(question),
            measure=ibis.literal(measure),
            ord=ibis.literal(order, "int64"),
            window=label,
            measurable=measurable,
            value=ibis.ifelse(measurable, value, ibis.null("float64")),
            threshold=ibis.literal(th, "float64"),
            op=ibis.literal(op),
            # a rate with nothing to measure (no posts, no questions) cannot pass
            passed=ibis.ifelse(measurable, passed.fill_null(False), ibis.null("boolean")),
        )
        order += 1
        out = row if out is None else out.union(row)
    return out


def compute(
    tables: dict[str, ir.Table],
    maturity_model: dict[str, Any],
    roles_model: dict[str, Any],
    *,
    experiments: ir.Table | None = None,
    experiment_items: ir.Table | None = None,
    periods: ir.Table | None = None,
    materialize: Callable[[str, ir.Table], ir.Table] | None = None,
) -> dict[str, ir.Table]:
    """The whole Value Maturity computation over canonical tables (``items``, ``actions``,
    ``identities``, ``members`` and optionally ``spaces``) as lazy Ibis expressions, one per derived
    table.

    ``experiments`` (``member_id, community_id, completed_at`` and optionally ``experiment_id,
    started_at, space_id``) lists the Collaboration canvas's participants; with ``experiment_items``
    (``experiment_id, item_id``) it shows who contributed, which the model may count toward Innovate. ``periods`` defaults to every month with activity. ``materialize(name,
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
    # spaces and tags carry the structural idea signals (idea channels, feature-request tags)
    roles_expr = classify_items(items, who, roles_model, spaces=tables.get("spaces"), actions=actions)
    out["item_roles"] = roles = keep("item_roles", roles_expr)
    out["interactions"] = edges = keep(
        "interactions", build_interactions(roles, actions, who, maturity_model)
    )
    # kept lazy: writing every action once more costs more than resolving it twice
    activity = member_activity(roles, actions, who, maturity_model)
    out["item_facts"] = facts = keep("item_facts", item_facts(roles, edges, maturity_model, actions))
    ms, evidence, _ = member_periods(
        roles,
        edges,
        actions,
        who,
        periods,
        maturity_model,
        experiments,
        experiment_items=experiment_items,
        facts=facts,
        activity=activity,
    )
    out["member_stages"] = ms = keep("member_stages", ms)
    out["stage_evidence"] = keep("stage_evidence", evidence)
    out["stage_mix"] = keep("stage_mix", stage_mix(ms, maturity_model))
    out["journeys"] = jn = keep("journeys", journeys(ms, actions, who))
    out["personas"] = keep("personas", persona_mix(ms))
    out["stage_checks"] = keep(
        "stage_checks",
        stage_checks(ms, facts, jn, periods, maturity_model, with_experiments=experiments is not None),
    )
    return out
