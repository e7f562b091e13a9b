"""Journeys: each member's move between consecutive periods (new, returned, moved up, stayed, dropped,
left), judged on what others could see."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from covalue.metrics.interactions import resolve
from covalue.metrics.windows import month_index

TRANSITIONS = ("new", "returned", "moved up", "stayed", "dropped", "left")


def journeys(ms: ir.Table, actions: ir.Table, who: ir.Table, months: ir.Table) -> ir.Table:
    """Each member's move between consecutive periods, judged on what others could see (``active``).

    ``prev_stage``/``stage`` are null when the member was not active in that window. Transitions:
    new (active for the first time), returned (active again after a pause), moved up, stayed, dropped,
    and left (active before and not now, or a leave action in a month in which they took no part that
    others could see: ``months``, :func:`~covalue.metrics.member_months.member_months`'s table, says).
    Leaving one channel of a Slack workspace while posting in others is not leaving the community. Months
    in which the member was not active on either side are left out: nothing happened.
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
    took_part = months.filter(months.n_interactions > 0)
    leaves = leaves.anti_join(
        took_part,
        (leaves._lm == took_part.member_id)
        & (leaves._lc == took_part.community_id)
        & (leaves._lp == took_part.month),
    )
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
