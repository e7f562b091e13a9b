"""The community's stage mix and persona mix per period, counted from the member stages."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from covalue.metrics.member_stages import STAGES


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


def persona_mix(ms: ir.Table) -> ir.Table:
    """Members per persona, community and period (members with no activity in the window left out)."""
    a = ms.filter(ms.active)
    return a.group_by("community_id", "period", "pidx", "persona").aggregate(members=a.count())
