"""Experiment contributions: who took part in a completed experiment of the Collaboration canvas by
writing something for it, as opposed to merely being listed."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir


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
