"""Where members and communities stand on the Connect → Share → Solve → Innovate journey.

Per member, community and period (a calendar month) the trailing window (90 days ending with the month)
gives counts, the four stage flags, the stage reached, a persona and evidence (example items per flag).
From those come the community's stage mix, the journeys between consecutive periods and the stage
checks (Terry's questions made measurable). The rules and thresholds are ``models/maturity.toml``.

This module runs the whole computation (:func:`compute`); each concept has its own module:
:mod:`~covalue.metrics.windows` (periods and trailing windows), :mod:`~covalue.metrics.item_facts`,
:mod:`~covalue.metrics.experiments`, :mod:`~covalue.metrics.member_stages`,
:mod:`~covalue.metrics.evidence`, :mod:`~covalue.metrics.stage_mix`, :mod:`~covalue.metrics.journeys`
and :mod:`~covalue.metrics.stage_checks`. Their public names are importable from here too.

Everything is an Ibis expression over the canonical tables, so it runs unchanged on DuckDB and on
Spark; the only data pulled into Python is the first and last month, to lay out the periods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ibis
import ibis.expr.types as ir

from covalue.metrics.evidence import example_months, member_evidence, stage_evidence
from covalue.metrics.experiments import experiment_contributions
from covalue.metrics.item_facts import anonymous_responses, item_facts
from covalue.metrics.journeys import TRANSITIONS, journeys
from covalue.metrics.member_months import member_months, responder_months
from covalue.metrics.member_stages import (
    KEY,
    PERSONAS,
    STAGES,
    contributions_in_windows,
    member_activity,
    member_periods,
)
from covalue.metrics.stage_checks import responding_communities, stage_checks
from covalue.metrics.stage_mix import persona_mix, stage_mix
from covalue.metrics.windows import (
    activity_range,
    in_windows,
    month_index,
    month_start,
    period_index,
    period_label,
    periods_table,
)

__all__ = [
    "KEY",
    "PERSONAS",
    "STAGES",
    "TRANSITIONS",
    "activity_range",
    "anonymous_responses",
    "compute",
    "contributions_in_windows",
    "example_months",
    "experiment_contributions",
    "in_windows",
    "item_facts",
    "journeys",
    "member_activity",
    "member_evidence",
    "member_months",
    "member_periods",
    "month_index",
    "month_start",
    "period_index",
    "period_label",
    "periods_table",
    "persona_mix",
    "responder_months",
    "responding_communities",
    "stage_checks",
    "stage_evidence",
    "stage_mix",
]


def compute(
    tables: dict[str, ir.Table],
    maturity_model: dict[str, Any],
    roles_model: dict[str, Any],
    *,
    experiments: ir.Table | None = None,
    experiment_items: ir.Table | None = None,
    periods: ir.Table | None = None,
    materialize: Callable[[str, ir.Table], ir.Table] | None = None,
    scores: ir.Table | None = None,
) -> dict[str, ir.Table]:
    """The whole Value Maturity computation over canonical tables (``items``, ``actions``,
    ``identities``, ``members`` and optionally ``spaces``) as lazy Ibis expressions, one per derived
    table.

    ``experiments`` (``member_id, community_id, completed_at`` and optionally ``experiment_id,
    started_at, space_id``) lists the Collaboration canvas's participants; with ``experiment_items``
    (``experiment_id, item_id``) it shows who contributed, which the model may count toward Innovate. ``periods`` defaults to every month with activity. ``materialize(name,
    expr)`` may store a step's result and return a table reading it back (the workspace does, so each
    step is computed once); without it everything stays lazy. Evidence (example items per flag) is
    not among the tables: :func:`stage_evidence` and :func:`member_evidence` compute it when asked.
    ``scores`` are the items' text scores kept from earlier runs
    (:func:`~covalue.metrics.classify.text_scores`), computed when not given.
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
    roles_expr = classify_items(
        items, who, roles_model, spaces=tables.get("spaces"), actions=actions, scores=scores
    )
    out["item_roles"] = roles = keep("item_roles", roles_expr)
    out["interactions"] = edges = keep(
        "interactions", build_interactions(roles, actions, who, maturity_model)
    )
    # kept lazy: writing every action once more costs more than resolving it twice
    activity = member_activity(roles, actions, who, maturity_model)
    out["item_facts"] = facts = keep("item_facts", item_facts(roles, edges, maturity_model, actions))
    # monthly totals, kept so that a later incremental run reads only the new months' actions
    days = int(maturity_model["window"]["days"])
    out["member_months"] = months = keep("member_months", member_months(activity, edges, days))
    out["responder_months"] = pairs = keep("responder_months", responder_months(edges))
    ms = member_periods(
        roles,
        edges,
        actions,
        who,
        periods,
        maturity_model,
        experiments,
        experiment_items=experiment_items,
        facts=facts,
        months=months,
        pairs=pairs,
    )
    out["member_stages"] = ms = keep("member_stages", ms)
    out["stage_mix"] = keep("stage_mix", stage_mix(ms, maturity_model))
    out["journeys"] = jn = keep("journeys", journeys(ms, actions, who, months))
    out["personas"] = keep("personas", persona_mix(ms))
    out["stage_checks"] = keep(
        "stage_checks",
        stage_checks(
            ms, facts, jn, periods, maturity_model, with_experiments=experiments is not None,
            responses=responding_communities(actions, roles, maturity_model),
        ),
    )  # fmt: skip
    return out
