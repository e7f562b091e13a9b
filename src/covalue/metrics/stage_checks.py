"""Stage checks: Terry's questions per community and period (still a group? still sharing? doing
work? innovating?), each a measure with its threshold, window and verdict."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from covalue.metrics.windows import in_windows, month_index

#: the measure that reads how others took up what was shared: an answer is taken up by a reaction, a
#: vote or an acceptance far more often than by a reply, so an export without any of those cannot show it
UPTAKE = "share of those contributions with a response"


def unmeasurable_reason(check: dict[str, Any]) -> str:
    """Why a check row marked ``measurable = false`` cannot be read, in the words every output uses."""
    if check.get("stage") == "innovate":
        return "not measurable from this export: it shows no idea at all"
    if check.get("measure") == UPTAKE:
        return "not measurable from this export: it holds no reaction, vote or acceptance"
    return "not measurable from this export"


def responding_communities(actions: ir.Table, roles: ir.Table, model: dict[str, Any]) -> ir.Table:
    """The communities (``_rc``) whose export holds at least one response that is not a reply (a
    reaction, a vote, an acceptance: ``interactions.response_verbs``). An action without a community
    takes its item's."""
    a = actions.filter(actions.verb.isin(list(model["interactions"]["response_verbs"])))
    _vr = roles.view()
    r = _vr.select(_ri=_vr.item_id, _rcom=_vr.community_id)
    a = a.left_join(r, a.item_id == r._ri)
    a = a.select(_rc=ibis.coalesce(a.community_id, a._rcom))
    return a.filter(a._rc.notnull()).distinct()


def stage_checks(
    ms: ir.Table,
    facts: ir.Table,
    jn: ir.Table,
    periods: ir.Table,
    model: dict[str, Any],
    *,
    with_experiments: bool = False,
    responses: ir.Table | None = None,
) -> ir.Table:
    """Terry's questions per community and period, one row per measure: its value, threshold,
    direction, whether it passes and the ``window`` it was measured over ("2020-05" for the month,
    "90 days to 2020-05-31" for the trailing window). A stage passes when all its measures pass.

    Questions are thread-opening questions and are counted over the trailing window, as health counts
    them, so the two never disagree. A measure whose threshold is 0 asks nothing and is left out (it
    could not fail). Where the community has no idea signal at all, the Innovate measures are
    ``measurable = false`` (value and pass left empty): "not measurable from this export", not 0. So is
    the share of contributions with a response (:data:`UPTAKE`) where the export holds no reaction, vote
    or acceptance at all (a community outside ``responses``, see :func:`responding_communities`): replies
    alone show almost no answer taken up, on a healthy list as on a dead one. Without ``responses``
    every community is taken to show them.
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
    if responses is None:
        base = base.mutate(_has_uptake=ibis.literal(True))
    else:
        up = responses.select(_uc=responses._rc, _has_uptake=ibis.literal(True))
        base = base.left_join(up, base.community_id == up._uc).drop("_uc")
        base = base.mutate(_has_uptake=base._has_uptake.fill_null(False))

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
            UPTAKE,
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
    # a threshold of 0 asks nothing: a check that cannot fail is not a check
    kept = [m for m in measures if not (m[6] == ">=" and float(m[5]) <= 0)]
    # every value is a column of ``base`` first, then each community-period row meets the table of
    # measures once: one pass over ``base`` (a union of one select per measure computed it 12 times)
    base = base.mutate(**{f"_v{i}": m[4] for i, m in enumerate(kept)})
    spec = ibis.memtable(
        {
            "ord": list(range(len(kept))),
            "stage": [m[0] for m in kept],
            "question": [m[1] for m in kept],
            "measure": [m[2] for m in kept],
            "_span": [m[3] for m in kept],
            "threshold": [float(m[5]) for m in kept],
            "_op": [m[6] for m in kept],
        },
        schema={
            "ord": "int64",
            "stage": "string",
            "question": "string",
            "measure": "string",
            "_span": "string",
            "threshold": "float64",
            "_op": "string",
        },
    )
    x = base.cross_join(spec)
    value = ibis.cases(*[(x.ord == i, x[f"_v{i}"]) for i in range(len(kept))], else_=ibis.null("float64"))
    month_end = (x.win_end - ibis.interval(days=1)).date().cast("string")
    measurable = ibis.cases(
        (x.stage == "innovate", x._has_ideas), (x.measure == UPTAKE, x._has_uptake), else_=ibis.literal(True)
    )
    passed = ibis.ifelse(x._op == ">=", value >= x.threshold, value <= x.threshold)
    return x.select(
        "community_id",
        "period",
        "pidx",
        "stage",
        "question",
        "measure",
        "ord",
        window=ibis.ifelse(x._span == "month", x.period, x._span.concat(" to ").concat(month_end)),
        measurable=measurable,
        value=ibis.ifelse(measurable, value, ibis.null("float64")),
        threshold=x.threshold,
        op=x._op,
        # a rate with nothing to measure (no posts, no questions) cannot pass
        passed=ibis.ifelse(measurable, passed.fill_null(False), ibis.null("boolean")),
    )
