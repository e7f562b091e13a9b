"""Stage evidence: up to n example items per member, community, period and stage flag, the items a
reader can open to see why a member is at their stage.

Evidence would be the largest derived table (every member x month x flag) while only ``explain`` reads
it, for one member at a time: so it is never stored. :func:`member_evidence` computes one member's
(``explain``), :func:`stage_evidence` everyone's (an analyst's question, and the tests).
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from covalue.metrics.member_stages import KEY, contributions_in_windows, member_activity
from covalue.metrics.windows import month_index, window_offsets


def example_months(activity: ir.Table, roles: ir.Table, model: dict[str, Any]) -> ir.Table:
    """Connect's candidate examples: per member, community and month (``month``) the first
    ``stages.evidence_examples`` items they authored or responded to there that others could see
    (``item_id``, ``ts`` of their first touch that month). ``activity`` is
    :func:`~covalue.metrics.member_stages.member_activity`'s table."""
    n = int(model["stages"]["evidence_examples"])
    events = activity.filter(activity.counted).select("member_id", "community_id", "ts", "item_id")
    _vknown = roles.view()
    known = _vknown.select(_known=_vknown.item_id)
    con = events.join(known, events.item_id == known._known)
    # examples are taken from the first n items of each month (one row per item) before the rows are
    # repeated per window: that keeps evidence small on busy communities, and every example is still
    # an item of the window
    con = con.group_by("member_id", "community_id", "item_id", month=month_index(con.ts)).aggregate(
        ts=con.ts.min()
    )
    first = ibis.window(group_by=[con.member_id, con.community_id, con.month], order_by=[con.ts, con.item_id])
    con = con.mutate(_r=ibis.row_number().over(first))
    con = con.filter(con._r < n)
    return con.select("member_id", "community_id", "month", "item_id", "ts", rank=con._r + 1)


def _connect_evidence(examples: ir.Table, periods: ir.Table, days: int, n: int) -> tuple[ir.Table, ir.Table]:
    """Connect's evidence in two parts: (ranked, candidates).

    The first ``n`` items of a window are those of its earliest month with examples whenever that month
    has ``n`` examples inside the window: every item there comes before any later month's, and the
    month's own rank is the window's. Those windows (most, on an active community) are ranked here from
    the monthly totals, without repeating and sorting every example per window (the costliest part of
    evidence); ``candidates`` are the examples of the other windows (with ``period`` and ``ts``), still
    to be ranked."""
    mc = ("member_id", "community_id")
    mon = examples.group_by(*mc, "month").aggregate(
        _n=examples.count(), _lo=examples.ts.min(), _hi=examples.ts.max()
    )
    # a window holds rows of its own month and of at most days // 28 months before it
    months = window_offsets(days)
    x = mon.cross_join(months)
    x = x.mutate(_pk=x.month + x._off)
    pw = periods.select("pidx", "period", "win_start")
    x = x.join(pw, x._pk == pw.pidx)
    # a month of the window or before it: some of its examples are inside when the last one is
    x = x.filter(x._hi >= x.win_start)
    first = x.group_by(*mc, "pidx").aggregate(
        _m1=x.month.min(),
        _n1=x._n.argmin(x.month),
        _lo1=x._lo.argmin(x.month),
        _ws=x.win_start.max(),
        period=x.period.max(),
    )
    whole = (first._n1 >= n) & (first._lo1 >= first._ws)
    ex = examples.rename(_em="member_id", _ec="community_id")

    def months_examples(t: ir.Table, month: ir.IntegerValue) -> ir.Table:
        return t.join(ex, (t.member_id == ex._em) & (t.community_id == ex._ec) & (month == ex.month))

    fast = first.filter(whole)
    ranked = months_examples(fast, fast._m1).select(*KEY, "period", "item_id", "rank")
    # the other windows: each paired with its months, and their examples inside the window
    slow = first.filter(~whole).select(*mc, "pidx", "period", "_ws").cross_join(months)
    cw = months_examples(slow, slow.pidx - slow._off)
    cw = cw.filter(cw.ts >= cw._ws).select(*KEY, "period", "item_id", "ts")
    return ranked, cw


def stage_evidence(
    examples: ir.Table,
    facts: ir.Table,
    periods: ir.Table,
    model: dict[str, Any],
) -> ir.Table:
    """Up to ``stages.evidence_examples`` example items per member, community, period and stage flag
    (earliest first): for Connect anything they did that others could see (``examples``, from
    :func:`example_months`), for the other flags the contributions that earned it (``facts``, the item
    facts)."""
    days = int(model["window"]["days"])
    n = int(model["stages"]["evidence_examples"])
    ranked, cw = _connect_evidence(examples, periods, days, n)
    # an item used in two months of one window is one example
    cw = cw.group_by(*KEY, "period", "item_id").aggregate(ts=cw.ts.min())
    fw = contributions_in_windows(facts, periods, days)
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
    allr = allr.filter(allr.rank <= n).select(*KEY, "period", "flag", "rank", "item_id")
    ranked = ranked.select(
        # row numbers are 32-bit on Spark, 64-bit on DuckDB: the window's type on either
        *KEY,
        "period",
        flag=ibis.literal("connect"),
        rank=ranked.rank.cast(allr.rank.type()),
        item_id=ranked.item_id,
    )
    return allr.union(ranked, distinct=False)


def member_evidence(
    member: ir.Table,
    roles: ir.Table,
    actions: ir.Table,
    who: ir.Table,
    facts: ir.Table,
    periods: ir.Table,
    model: dict[str, Any],
) -> ir.Table:
    """The evidence of one member in every period of ``periods`` (``explain``): the rules of
    :func:`stage_evidence` over that member's rows alone, so it equals their rows there. ``member`` is
    a table of the member's id (``member_id``), so that the expression can be compiled once and run
    for anyone."""
    m = member.select(_mm=member.member_id)
    identities = who.semi_join(m, who.member_id == m._mm)
    mine = actions.semi_join(identities, actions.actor_id == identities.identity_id)
    # all the roles still: an action without a community takes its item's, whoever wrote the item (a
    # scan of the roles costs less than reading the member's actions twice to narrow them)
    activity = member_activity(roles, mine, who, model)
    activity = activity.semi_join(m, activity.member_id == m._mm)
    own_facts = facts.semi_join(m, facts.author_member == m._mm)
    return stage_evidence(example_months(activity, roles, model), own_facts, periods, model)
