"""Is it really a community? Shape, responsiveness and concentration, each with its numbers.

Built on the Value Maturity tables (``member_stages``, ``item_facts``, ``interactions``) so that health
and stages speak about exactly the same members, items and windows. Everything here is Ibis; results
are one row per community and period.

Shapes (after Nick Milton's "what is not a community"), tried in order, first match wins:

- **dormant**: almost nobody takes part any more;
- **fading**: active members fell by more than half in six months (decline is news before structure);
- **too little activity to judge**: too few threads or people for the shapes below to mean anything;
- **single voice**: one person writes most of what is started (a blog with readers);
- **broadcast**: a few people publish and hardly anyone replies (a newsletter);
- **workgroup**: a small closed team answering each other, nobody new coming in;
- **community**: none of the above: many voices, conversation, people coming in.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from covalue.metrics.classify import trimmed
from covalue.metrics.windows import in_windows

PERIOD_KEY = ("community_id", "pidx")
#: the verdict when a window holds too few threads or people for any shape to mean something
TOO_LITTLE = "too little activity to judge"


def _rate(num: ir.Value, den: ir.Value) -> ir.FloatingValue:
    return ibis.ifelse(den > 0, num.cast("float64") / den.cast("float64"), ibis.null("float64"))


def _hours(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.FloatingValue:
    return (later.epoch_seconds() - earlier.epoch_seconds()).cast("float64") / 3600.0


def with_first_replies(facts: ir.Table) -> ir.Table:
    """``facts`` with ``first_reply_ts`` and ``first_reply_inferred``: the analysis writes them into
    ``item_facts``; results of an older analysis get them computed here."""
    if "first_reply_ts" in facts.columns:
        return facts
    first = first_replies(facts)
    return facts.left_join(first, facts.item_id == first._rid).drop("_rid")


def first_replies(facts: ir.Table) -> ir.Table:
    """Per root item (``_rid``): ``first_reply_ts``, the first reply or answer by someone else anywhere
    in its thread, created at or after the root (a reply dated before its root, e.g. a post moved into a
    topic, would make a negative wait), and ``first_reply_inferred``, whether that first reply's parent
    was only inferred from chat timing (no real reply came as early).

    Read as a reader of the thread reads it: someone else's comment on the opener's own answer is the
    first word from another member, and so is a reply by a deleted account (it names nobody, so it is
    no interaction, but it is not the opener's)."""
    _vr = facts.view()
    roots = _vr.filter(_vr.is_root).select(_rid=_vr.item_id, _rts=_vr.created_at, _rwho=_vr.author_member)
    _vp = facts.view()
    said = _vp.filter(_vp.parent_id.notnull())
    if "author_is_bot" in facts.columns:
        said = said.filter(~said.author_is_bot)
    # a reply reaches its root through its thread (a comment on an answer too) or, when it has no
    # thread of another item (a chat reply inferred from timing, a reply in an export without
    # threads), through its parent
    own = said.thread_id.isnull() | (said.thread_id == said.item_id)
    keyed = said.select(
        "item_id", "created_at", "author_member", _key=ibis.ifelse(own, said.parent_id, said.thread_id)
    )
    r = keyed.join(roots, keyed._key == roots._rid)
    r = r.filter(r.author_member.isnull() | r._rwho.isnull() | (r.author_member != r._rwho))
    r = r.select("item_id", "_rid", "_rts", ts=r.created_at)
    r = r.filter(r.ts >= r._rts)
    if "parent_inferred" in facts.columns:
        inf = facts.select(_fid=facts.item_id, _inf=facts.parent_inferred.fill_null(False))
        r = r.left_join(inf, r.item_id == inf._fid)
        inferred = r._inf.fill_null(False)
    else:  # results analysed before replies were marked as inferred
        inferred = ibis.literal(False)
    r = r.mutate(_inferred=inferred)
    g = r.group_by("_rid").aggregate(
        first_reply_ts=r.ts.min(),
        _real=r.ts.min(where=~r._inferred),
        _guess=r.ts.min(where=r._inferred),
    )
    return g.select(
        "_rid",
        "first_reply_ts",
        first_reply_inferred=g._guess.notnull() & (g._real.isnull() | (g._guess < g._real)),
    )


def responsiveness(facts: ir.Table, periods: ir.Table, days: int) -> ir.Table:
    """Per community and period, over the trailing window, for threads started by people:
    ``originals``, ``responded`` (reply or reaction from someone else), ``replied`` (a reply or answer
    from someone else), ``response_rate``, ``reply_rate``, time to first reply in hours (median and
    90th percentile over the originals that got one, never negative), ``replied_inferred`` (how many of
    those first replies were inferred: a chat message by someone else within minutes, in a channel
    without threads), ``questions``, ``answered``, ``unanswered``."""
    roots = with_first_replies(facts).filter(facts.is_root)
    w = in_windows(roots, "created_at", periods, days)
    responded = w.first_response_ts.notnull() & (w.first_response_ts < w.win_end)
    replied = w.first_reply_ts.notnull() & (w.first_reply_ts < w.win_end)
    answered = w.answered_ts.notnull() & (w.answered_ts < w.win_end)
    # time to first response is timed on replies (CHAOSS: first reply by someone else): exports often
    # give a reaction no time of its own, only its message's, which would make every wait zero
    ttfr = ibis.ifelse(replied, _hours(w.first_reply_ts, w.created_at), ibis.null("float64"))
    w = w.mutate(_resp=responded, _repl=replied, _ans=answered, _ttfr=ttfr)
    agg = w.group_by(*PERIOD_KEY).aggregate(
        originals=w.count(),
        responded=w._resp.ifelse(1, 0).sum(),
        replied=w._repl.ifelse(1, 0).sum(),
        replied_inferred=(w._repl & w.first_reply_inferred.fill_null(False)).ifelse(1, 0).sum(),
        ttfr_median_h=w._ttfr.quantile(0.5),
        ttfr_p90_h=w._ttfr.quantile(0.9),
        questions=w.is_question.ifelse(1, 0).sum(),
        answered=(w.is_question & w._ans).ifelse(1, 0).sum(),
    )
    return agg.mutate(
        response_rate=_rate(agg.responded, agg.originals),
        reply_rate=_rate(agg.replied, agg.originals),
        unanswered=agg.questions - agg.answered,
    )


def with_inferred_note(resp: dict[str, Any], rule: str) -> dict[str, Any]:
    """``resp`` (a responsiveness row) with ``inferred_note``: how many of the timed first replies were
    only inferred in chat without threads, and by what ``rule`` (:func:`covalue.metrics.chat_replies.
    rule_in_words`), so that nobody reads those waits as replies the platform recorded (None when none
    was inferred)."""
    n = int(resp.get("replied_inferred") or 0)
    note = None
    if n:
        note = f"{n:,} of {int(resp.get('replied') or 0):,} first replies inferred: {rule}"
    return {**resp, "inferred_note": note} if resp else resp


#: messages to everyone in a channel ("@channel any volunteers ...") are logistics, not needs left unmet
BROADCAST_MENTION = r"(^|[^\w@])@(channel|here|everyone|all)\b"
#: the mark Zulip (and people copying it) put before a topic's name once it is resolved
SOLVED_MARK = "✔"


def unanswered_questions(
    facts: ir.Table,
    items: ir.Table,
    *,
    community: str | None = None,
    since: Any = None,
    until: Any = None,
    min_words: int = 0,
) -> ir.Table:
    """Questions nobody else has answered yet, oldest first: item_id, community_id, created_at,
    author_member, title, excerpt. ``since``/``until`` bound when they were asked, so a list can hold
    the needs still worth answering rather than years-old leftovers.

    It is a to-do list, so chatter is left out: chat lines without a title under ``min_words`` words
    ("?", "How was it??"), calls to the whole channel (@channel, @here), and topics marked resolved
    (a title starting with ✔, as Zulip marks them)."""
    # only questions that open a thread: a comment ending in "?" under a post is part of a
    # conversation, not a need left unmet
    q = facts.filter(facts.is_question & facts.is_root & facts.answered_ts.isnull())
    if community is not None:
        q = q.filter(q.community_id == community)
    if since is not None:
        q = q.filter(q.created_at >= since)
    if until is not None:
        q = q.filter(q.created_at < until)
    it = items.select(_iid=items.item_id, title=items.title, _text=items.text)
    q = q.left_join(it, q.item_id == it._iid)
    text = q._text.fill_null("")
    title = trimmed(q.title.fill_null(""))
    # words: each run of non-blanks becomes one letter, the blanks go, the letters are counted
    words = text.re_replace(r"\S+", "w").re_replace(r"\s+", "").length()
    chatter = (title == "") & (words < min_words)
    to_all = text.lower().re_search(BROADCAST_MENTION)
    q = q.filter(~chatter & ~to_all & ~title.startswith(SOLVED_MARK))
    return q.select(
        "item_id",
        "community_id",
        "created_at",
        "author_member",
        "title",
        excerpt=q._text.substr(0, 160),
    ).order_by("created_at")


def concentration(
    facts: ir.Table, who_units: ir.Table, periods: ir.Table, days: int, share: float
) -> ir.Table:
    """CHAOSS contributor absence factor (fewest members making more than ``share`` of the
    contributions) and elephant factor (the same over org units; null when no unit is known)."""
    w = in_windows(facts.select("community_id", "author_member", "created_at"), "created_at", periods, days)
    per = w.group_by(*PERIOD_KEY, "author_member").aggregate(n=w.count())
    absence = _fewest(per, "author_member", share).rename(absence_factor="fewest")

    u = who_units.select(_m=who_units.member_id, org_unit=who_units.org_unit)
    wu = w.left_join(u, w.author_member == u._m).drop("_m")
    wu = wu.filter(wu.org_unit.notnull())
    per_u = wu.group_by(*PERIOD_KEY, "org_unit").aggregate(n=wu.count())
    elephant = _fewest(per_u, "org_unit", share).rename(elephant_factor="fewest")
    e = elephant.rename(_ec="community_id", _ep="pidx")
    j = absence.left_join(e, (absence.community_id == e._ec) & (absence.pidx == e._ep))
    return j.drop("_ec", "_ep")


def _fewest(per: ir.Table, who: str, share: float) -> ir.Table:
    """Fewest ``who`` whose counts add up to more than ``share`` of the total, per community/period."""
    # an explicit running frame: with order_by alone Ibis frames the whole partition
    win = ibis.window(group_by=list(PERIOD_KEY), order_by=[ibis.desc(per.n), per[who]], rows=(None, 0))
    total = per.n.sum().over(group_by=list(PERIOD_KEY))
    ranked = per.mutate(_cum=per.n.sum().over(win), _total=total, _rank=ibis.row_number().over(win) + 1)
    # the first rank at which the running total passes the share: the count of ranks before it, plus one
    before = ranked.filter(ranked._cum.cast("float64") <= ranked._total.cast("float64") * share)
    lo = before.group_by(*PERIOD_KEY).aggregate(_k=before._rank.max())
    allp = per.select(*PERIOD_KEY).distinct()
    lo = lo.rename(_c="community_id", _p="pidx")
    j = allp.left_join(lo, (allp.community_id == lo._c) & (allp.pidx == lo._p))
    return j.select(*PERIOD_KEY, fewest=(j._k.fill_null(0) + 1).cast("int64"))


def reciprocity(edges: ir.Table, periods: ir.Table, days: int) -> ir.Table:
    """Share of directed member pairs (a responded to b) in the window where b also responded to a."""
    known = edges.filter(edges.target.notnull())  # pairs of people: replies to unknown authors left out
    w = in_windows(known.select("community_id", "ts", "actor", "target"), "ts", periods, days)
    pairs = w.select(*PERIOD_KEY, "actor", "target").distinct()
    rev = pairs.rename(_c="community_id", _p="pidx", _a="actor", _t="target")
    j = pairs.left_join(
        rev,
        (pairs.community_id == rev._c)
        & (pairs.pidx == rev._p)
        & (pairs.actor == rev._t)
        & (pairs.target == rev._a),
    )
    agg = j.group_by(*PERIOD_KEY).aggregate(pairs=j.count(), mutual=j._a.notnull().ifelse(1, 0).sum())
    return agg.mutate(reciprocity=_rate(agg.mutual, agg.pairs))


def people_numbers(ms: ir.Table, who_units: ir.Table) -> ir.Table:
    """From member_stages: active members, newcomers, thread starters, the top author's share of
    originals, askers and helpers, and the largest org unit's share of active members."""
    act = ms.filter(ms.n_interactions > 0)
    u = who_units.select(_m=who_units.member_id, _unit=who_units.org_unit)
    a = act.left_join(u, act.member_id == u._m)
    base = a.group_by(*PERIOD_KEY).aggregate(
        active=a.count(),
        newcomers=a.is_first.ifelse(1, 0).sum(),
        starters=(a.n_originals > 0).ifelse(1, 0).sum(),
        originals_total=a.n_originals.sum(),
        top_author_originals=a.n_originals.max(),
        askers=(a.n_questions > 0).ifelse(1, 0).sum(),
        helpers=(a.helped_items > 0).ifelse(1, 0).sum(),
        with_unit=a._unit.notnull().ifelse(1, 0).sum(),
    )
    au = a.filter(a._unit.notnull())
    units = au.group_by(*PERIOD_KEY, "_unit").aggregate(n=au.count())
    top = units.group_by(*PERIOD_KEY).aggregate(top_unit_members=units.n.max(), units=units.count())
    t = top.rename(_c="community_id", _p="pidx")
    j = base.left_join(t, (base.community_id == t._c) & (base.pidx == t._p)).drop("_c", "_p")
    return j.mutate(
        top_author_share=_rate(j.top_author_originals, j.originals_total),
        top_unit_share=_rate(j.top_unit_members, j.with_unit),
    )


def shape(
    ms: ir.Table,
    facts: ir.Table,
    edges: ir.Table,
    who_units: ir.Table,
    periods: ir.Table,
    model: dict[str, Any],
) -> ir.Table:
    """Per community and period: the numbers that decide the shape, and the verdict."""
    days = int(model["window"]["days"])
    s = model["shape"]
    p = people_numbers(ms, who_units)
    r = responsiveness(facts, periods, days)
    rc = reciprocity(edges, periods, days)

    def attach(left: ir.Table, right: ir.Table, cols: list[str]) -> ir.Table:
        rr = right.select(*cols, _c=right.community_id, _p=right.pidx)
        return left.left_join(rr, (left.community_id == rr._c) & (left.pidx == rr._p)).drop("_c", "_p")

    t = attach(p, r, ["originals", "responded", "replied", "response_rate", "reply_rate", "ttfr_median_h"])
    # the usual active members ``fading_months`` to twice that before: the median of those windows, so a
    # campaign spike in one of them is not the level a community is said to have lost. people_numbers
    # covers every period, so the earlier windows are there even when only the latest are reported
    months = int(s["fading_months"])
    now = p.select(_c=p.community_id, _p=p.pidx)
    old = p.select(_oc=p.community_id, _op=p.pidx, _oa=p.active)
    jo = now.join(old, (now._c == old._oc) & (old._op <= now._p - months) & (old._op >= now._p - 2 * months))
    before = jo.group_by("_c", "_p").aggregate(active_before=jo._oa.quantile(0.5))
    t = t.left_join(before, (t.community_id == before._c) & (t.pidx == before._p)).drop("_c", "_p")
    t = attach(t, rc, ["pairs", "mutual", "reciprocity"])
    t = t.mutate(
        originals=t.originals.fill_null(0),
        responded=t.responded.fill_null(0),
        reply_rate=t.reply_rate.fill_null(0.0),
        reciprocity=t.reciprocity.fill_null(0.0),
        pairs=t.pairs.fill_null(0),
    )
    # one or two people publishing with hardly a reply (an announcements list, a newsletter) is a single
    # voice or a broadcast, however few others show themselves: readers leave no trace
    publishing = (t.originals >= s["broadcast_min_originals"]) & (
        t.reply_rate <= s["broadcast_max_reply_rate"]
    )
    quiet = (t.originals <= s["dormant_max_originals"]) & (t.responded == 0) & (t.pairs == 0)
    dormant = ((t.active <= s["dormant_max_active"]) & ~publishing) | quiet
    fading = t.active_before.notnull() & (
        t.active.cast("float64") < t.active_before.cast("float64") * float(s["fading_max_share"])
    )
    too_little = (t.originals < s["judge_min_originals"]) | ((t.active < s["judge_min_active"]) & ~publishing)
    single = (t.originals >= s["single_voice_min_originals"]) & (
        t.top_author_share.fill_null(0.0) >= s["single_voice_min_share"]
    )
    broadcast = (
        (t.originals >= s["broadcast_min_originals"])
        & (t.starters <= s["broadcast_max_publishers"])
        & (t.reply_rate <= s["broadcast_max_reply_rate"])
    )
    unit_ok = t.top_unit_share.isnull() | (t.top_unit_share >= s["workgroup_min_unit_share"])
    workgroup = (
        (t.active <= s["workgroup_max_active"])
        & (t.newcomers <= s["workgroup_max_newcomers"])
        & (t.reciprocity >= s["workgroup_min_reciprocity"])
        & unit_ok
    )
    verdict = ibis.cases(
        (dormant, "dormant"),
        (fading, "fading"),
        (too_little, TOO_LITTLE),
        (single, "single voice"),
        (broadcast, "broadcast"),
        (workgroup, "workgroup"),
        else_="community",
    )
    periods_lbl = periods.select(_pp=periods.pidx, period=periods.period)
    t = t.mutate(shape=verdict)
    t = t.join(periods_lbl, t.pidx == periods_lbl._pp).drop("_pp")
    return t


def explain_shape(row: dict[str, Any], model: dict[str, Any]) -> str:
    """The verdict of one shape row in plain words, with the numbers and thresholds that decided it."""
    from covalue.presentation import plural

    s = model["shape"]
    share = row.get("top_author_share") or 0.0
    rr = row.get("reply_rate") or 0.0
    rc = row.get("reciprocity") or 0.0
    facts = (
        f"{plural(row['active'], 'active member')}, {row['newcomers']} new; {plural(row['originals'], 'thread')} "
        f"started by {plural(row['starters'], 'person')} (the most active wrote {share:.0%}); {rr:.0%} of threads got a reply from "
        f"someone else; {rc:.0%} of responding pairs responded both ways"
    )
    if row.get("top_unit_share") is not None:
        facts += f"; the largest org unit holds {row['top_unit_share']:.0%} of active members"
    before = row.get("active_before")
    if before is not None:
        facts += (
            f"; usually {plural(round(before), 'active member')} in the windows {s['fading_months']} to "
            f"{2 * s['fading_months']} months earlier"
        )
    why = {
        "dormant": f"at most {s['dormant_max_active']} people took part without publishing to an audience, or "
        "nothing new was started and nobody responded",
        "fading": f"active members fell to {row['active']:,} from a usual {before or 0:,.0f} {s['fading_months']} "
        f"to {2 * s['fading_months']} months earlier (fading means under {s['fading_max_share']:.0%} of that)",
        TOO_LITTLE: f"a verdict needs at least {s['judge_min_originals']} threads started and "
        f"{s['judge_min_active']} active members in the window",
        "single voice": f"one person started at least {s['single_voice_min_share']:.0%} of the threads",
        "broadcast": f"at most {s['broadcast_max_publishers']} people publish and at most "
        f"{s['broadcast_max_reply_rate']:.0%} of what they publish gets a reply",
        "workgroup": f"a group of at most {s['workgroup_max_active']} with no newcomers who answer each other "
        f"(reciprocity at least {s['workgroup_min_reciprocity']:.0%})",
        "community": f"no single voice dominates (the most active wrote {share:.0%} of what was started), "
        f"{plural(row['starters'], 'person')} {'starts' if row['starters'] == 1 else 'start'} conversations, so it is not a broadcast, and it is not a small closed "
        "group",
    }[row["shape"]]
    return f"{row['shape'].capitalize()}: {why}. The numbers: {facts}."
