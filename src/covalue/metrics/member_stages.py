"""Member stages: per member, community and period, what they did in the trailing window, the four
stage flags (Connect, Share, Solve, Innovate) earned from value evidence, the stage reached and a
persona (SWOOP's give/receive balance). The rules and thresholds are ``models/maturity.toml``."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from covalue import stages
from covalue.metrics.experiments import experiment_contributions
from covalue.metrics.interactions import resolve
from covalue.metrics.item_facts import item_facts
from covalue.metrics.member_months import MEASURES, member_months, responder_months
from covalue.metrics.windows import in_windows, month_index, sums_in_windows

#: the journey's stages, lowest first (models/maturity.toml [journey])
STAGES = stages.ORDER
PERSONAS = ("Observer", "Engager", "Catalyst", "Responder", "Broadcaster")
KEY = ("member_id", "community_id", "pidx")
#: what a member did in a period, by kind, as :func:`member_periods` counts it (each a column)
CONTRIBUTION_COUNTS = (
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
)


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


def contributions_in_windows(facts: ir.Table, periods: ir.Table, days: int) -> ir.Table:
    """Each item fact once per period whose window holds it, keyed by its author (``member_id``), with
    what it earned by the window's end: ``_share`` (shared and responded to), ``_help`` (answered
    someone else), ``_seek`` (a question someone else answered), ``_idea`` (an idea with enough
    supporters). Member stages count these; the evidence lists them."""
    fw = in_windows(facts.rename(member_id="author_member"), "created_at", periods, days)
    share_hit = fw.share_eligible & fw.first_response_ts.notnull() & (fw.first_response_ts < fw.win_end)
    help_hit = fw.is_answer & fw.helps_other
    seek_hit = fw.is_question & fw.answered_ts.notnull() & (fw.answered_ts < fw.win_end)
    idea_hit = fw.is_idea & fw.support_ts.notnull() & (fw.support_ts < fw.win_end)
    return fw.mutate(_share=share_hit, _help=help_hit, _seek=seek_hit, _idea=idea_hit)


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
    months: ir.Table | None = None,
    pairs: ir.Table | None = None,
    few_periods: bool = False,
) -> ir.Table:
    """One row per member, community and period from their first month in the community until the
    month after their last activity has left the window: the counts, the stage flags, the stage and
    the persona. ``facts``, ``activity``, ``months`` (:func:`member_months`) and ``pairs``
    (:func:`responder_months`) are computed here when not given; ``months`` must hold every month of
    presence, the first and last month of each member are read from it. ``few_periods`` (an update's
    one or two months) counts distinct responders directly over the windowed rows, which is quicker
    there; over many periods each pair is counted from its latest month instead. Both count the same."""
    days = int(model["window"]["days"])
    st = model["stages"]
    if facts is None:
        facts = item_facts(roles, edges, model, actions)
    if months is None:
        if activity is None:
            activity = member_activity(roles, actions, who, model)
        months = member_months(activity, edges, days)
    if pairs is None:
        pairs = responder_months(edges)

    # presence: anything a member did in a community, views and joins included
    pres = months.filter((months.n_interactions + months.n_passive) > 0)
    pres = pres.select("member_id", "community_id", "month")
    if experiments is not None:
        pres = pres.union(
            experiments.select(
                "member_id", "community_id", month=month_index(experiments.completed_at.cast("timestamp"))
            )
        )
    span = pres.group_by("member_id", "community_id").aggregate(
        _first=pres.month.min(), _last=pres.month.max()
    )
    reach = days // 28 + 2  # months after the last activity that a window can still hold it, plus one
    grid = span.cross_join(periods.select("pidx", "period", "win_start", "win_end"))
    # periods stop at the community's own last month with activity: after an export ends, nobody is
    # "no longer active", we simply do not know, and empty months would read as a dead community
    comm = pres.group_by(_ccomm=pres.community_id).aggregate(_clast=pres.month.max())
    grid = grid.join(comm, grid.community_id == comm._ccomm).drop("_ccomm")
    grid = grid.filter(
        (grid.pidx >= grid._first) & (grid.pidx <= grid._last + reach) & (grid.pidx <= grid._clast)
    )
    grid = grid.drop("_clast")
    grid = grid.mutate(is_first=grid.pidx == grid._first).drop("_last")

    # interactions counted toward the stage (items authored and reactions/votes given: what others can
    # see; joins, views and follows are presence only, an Observer, never a stage) and responses
    # received, added up per window from the monthly totals
    counts = sums_in_windows(months, ["member_id", "community_id"], list(MEASURES), periods, days)
    counts = counts.mutate(n_given=counts.n_interactions - counts.n_items)

    fw = contributions_in_windows(facts, periods, days)
    made = fw.group_by(*KEY).aggregate(
        n_originals=fw.is_root.ifelse(1, 0).sum(),
        # a further line of one's own chat turn is part of what they started, not a reply
        n_replies=(fw.parent_id.notnull() & ~fw.continues).ifelse(1, 0).sum(),
        n_questions=fw.is_question.ifelse(1, 0).sum(),
        n_answers=fw.is_answer.ifelse(1, 0).sum(),
        n_ideas=fw.is_idea.ifelse(1, 0).sum(),
        shared_items=fw._share.ifelse(1, 0).sum(),
        helped_items=fw._help.ifelse(1, 0).sum(),
        answered_questions=fw._seek.ifelse(1, 0).sum(),
        supported_ideas=fw._idea.ifelse(1, 0).sum(),
    )

    # distinct responders without regrouping every windowed (member, responder) row (10 M actions: 16 M
    # rows on four keys, the slowest part of this step): one row per pair and month holding its last
    # day. The latest month <= P with a response holds the pair's latest day before P's end, so the pair
    # is in P's window exactly when that row is; counting a row only up to the pair's next month then
    # counts each pair once per window
    if few_periods:  # each row is in one or two windows: regrouping them costs less than ordering pairs
        rr = in_windows(pairs, "last_day", periods, days)
        who_resp = rr.group_by(*KEY).aggregate(responders=rr.actor.nunique())
    else:
        nxt = ibis.window(group_by=[pairs.community_id, pairs.actor, pairs.member_id], order_by=pairs.month)
        r = pairs.mutate(_next=pairs.month.lead().over(nxt))
        rr = in_windows(r, "last_day", periods, days)
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

    parts = [counts, made, who_resp, helped]
    if experiments is not None:
        ex = experiments.filter(experiments.completed_at.notnull())
        ex = ex.mutate(ts=ex.completed_at.cast("timestamp"))
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
        *CONTRIBUTION_COUNTS,
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
    return ms


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
