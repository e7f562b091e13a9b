"""Member months: what each member did and received in each calendar month, summed once.

The 90-day windows of the member stages are added up from these monthly totals rather than from every
action, and the totals are kept in the workspace (``member_months``, ``responder_months``): after an
ingest, an incremental analysis computes the rows of the months that changed and reads every other
month's from here, instead of reading those months' actions again.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from covalue.metrics.windows import month_index, month_sums

#: the key of a member's monthly totals (with ``month`` and ``reach``, see :func:`month_sums`)
KEYS = ["member_id", "community_id"]
#: what a member did in a month that others can see, anything at all (presence), views, and what they
#: received from others
MEASURES = ("n_interactions", "n_items", "n_passive", "n_views", "n_received")


def member_months(activity: ir.Table, edges: ir.Table, days: int) -> ir.Table:
    """Per member, community, month and reach (:func:`~covalue.metrics.windows.month_sums`): the
    interactions others can see (``n_interactions``), the items among them (``n_items``), presence only
    (``n_passive``: views, joins, follows), views, and the responses received from others
    (``n_received``). ``activity`` is :func:`~covalue.metrics.member_stages.member_activity`'s table,
    ``edges`` the interactions. A row with ``n_interactions + n_passive > 0`` is a month of presence."""

    def one(flag: ir.BooleanValue | None) -> ir.IntegerValue:
        return ibis.literal(0, "int64") if flag is None else flag.ifelse(1, 0).cast("int64")

    a = activity.mutate(
        n_interactions=one(activity.counted),
        n_items=one(activity.counted & activity.authored),
        n_passive=one(~activity.counted),
        n_views=one(activity.verb == "view"),
        n_received=one(None),
    )
    did = month_sums(a, "ts", KEYS, {m: a[m] for m in MEASURES}, days)
    e = edges.filter(edges.ts.notnull() & edges.target.notnull())
    e = e.mutate(
        member_id=e.target, **{m: one(None) for m in MEASURES[:-1]}, n_received=ibis.literal(1, "int64")
    )
    got = month_sums(e, "ts", KEYS, {m: e[m] for m in MEASURES}, days)
    both = did.union(got.select(*did.columns), distinct=False)
    return both.group_by(*KEYS, "month", "reach").aggregate(
        **{m: both[m].sum().cast("int64") for m in MEASURES}
    )


def responder_months(edges: ir.Table) -> ir.Table:
    """One row per responder (``actor``), member responded to, community and month with a response,
    holding the month's last day with one (``last_day``): distinct responders per window are counted
    from these rows without regrouping every windowed pair."""
    r = edges.filter(edges.ts.notnull())
    return r.group_by("community_id", "actor", member_id=r.target, month=month_index(r.ts)).aggregate(
        last_day=r.ts.max().truncate("D")
    )
