"""Replies in chat without threads, inferred from the channel's flow.

Older Slack exports, Discord, IRC and the like keep no thread: every message is a new one, and read as
it comes nobody ever answered anybody. People answer in the flow, in two ways a reader recognises:

- **right after**: a message by someone else within ``chat_reply_minutes`` (30) of the previous one
  takes it up;
- **by name**: ``@bob: try restarting it`` answers bob's latest message in the channel, hours later if
  need be (up to ``chat_mention_reply_hours``, 12), whatever was said in between.

People also write in turns of several lines ("hi all" "my wallet stops syncing at 80 %" "on Windows").
A reader sees one conversation there, not three: with ``chat_turns`` a line that follows its writer's
own line within the gap, with nobody between and on the same day, **continues the turn** and joins the
thread of its first line, unless it asks or proposes something itself (then it opens a stretch of the
turn of its own, which the next lines continue). An answer to such a turn goes to the stretch it
follows.

A message that names someone answers them rather than whoever spoke last. Messages whose parent was
inferred say so (``parent_inferred``). Where people do use threads the rules stand aside (see
:func:`infer`).
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from covalue import periods


def _month(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Months since year 0: the period in which an export does or does not use threads."""
    return periods.month_index(ts)


def infer(
    it: ir.Table,
    items: ir.Table,
    conv: dict[str, Any],
    actions: ir.Table | None = None,
    authors: ir.Table | None = None,
    idea_threshold: float | None = None,
) -> ir.Table:
    """``it`` (items with ``author_member``, ``author_is_bot``, ``parent_id``, ``_t_question``,
    ``_iscore``) with a parent inferred for chat messages that take up another person's message or
    continue their writer's turn (see the module), ``parent_inferred``, and ``continues`` (a further line
    of its writer's turn). A line asks when ``_t_question`` says so, and proposes when its idea score
    ``_iscore`` reaches ``idea_threshold``; either opens a stretch of a turn of its own.
    ``actions`` (their mentions) and ``authors`` (identity → member) let a message answer the person
    it names; without them only the timing rule runs. Threaded replies keep their own parent; bots are
    skipped.

    Where people use threads a top-level message is a new conversation: the rules run only in the
    channels and months (``space_id`` and calendar month) with no threaded reply at all, and never move
    a message that has replies of its own, so a thread's real first reply keeps its time. Where replies
    stay in the channel's flow (Discord's reply-to, a bridge's quoted reply), a reply is a message of
    the flow like any other: the next message may answer it.
    """
    minutes = float(conv.get("chat_reply_minutes", 0) or 0)
    hours = float(conv.get("chat_mention_reply_hours", 0) or 0)
    platforms = list(conv.get("chat_platforms", []))
    if (minutes <= 0 and hours <= 0) or not platforms:
        return it.mutate(parent_inferred=ibis.literal(False), continues=ibis.literal(False))
    src = items.select(_sid=items.item_id, _platform=platform(items.source))
    cand = it.join(src, it.item_id == src._sid)
    # threads: replies of a thread kind, on platforms where such replies leave the channel's flow
    thread_kinds = list(conv.get("thread_kinds", ["reply"]))
    inline = list(conv.get("inline_reply_platforms", []))
    threaded = cand.filter(
        cand.kind.isin(thread_kinds)
        & cand.parent_id.notnull()
        & cand._platform.isin(threaded_platforms(conv) or ["\x00"])
        & cand.created_at.notnull()
        & cand.space_id.notnull()
    )
    months = threaded.select(_tspace=threaded.space_id, _tmonth=_month(threaded.created_at)).distinct()
    with_thread = threaded.select(_has_thread=threaded.parent_id).distinct()
    # the channel's flow: its messages without a parent, and on platforms whose replies stay in the flow
    # its replies too, which a later message may answer in turn
    flows = cand.parent_id.isnull() & cand.kind.isin(list(conv.get("chat_kinds", ["post"])))
    if inline:
        flows |= cand.parent_id.notnull() & cand.kind.isin(thread_kinds) & cand._platform.isin(inline)
    flow = cand.filter(
        cand._platform.isin(platforms)
        & flows
        & ~cand.author_is_bot
        & cand.created_at.notnull()
        & cand.space_id.notnull()
    )
    flow = flow.mutate(_m=_month(flow.created_at))
    turns = None
    found = []
    named = _mentions(actions, authors)
    if minutes > 0:
        quiet = quiet_hours(conv)
        after = _right_after(_lagged(flow), minutes, quiet)
        if quiet > 0:
            after = _not_opening(after, items, conv, named)
        found.append(after.drop("_quiet", "_asker"))
        if conv.get("chat_turns", False):
            turns = _turns(flow, minutes, idea_threshold)
    if hours > 0 and named is not None:
        found.append(_by_name(flow, named, hours))
    if not found:
        return it.mutate(parent_inferred=ibis.literal(False), continues=ibis.literal(False))
    # a message that names someone answers them rather than whoever spoke last
    follows = found[0]
    if len(found) == 2:
        named = found[1]
        follows = named.union(follows.anti_join(named, follows._cid == named._cid), distinct=False)
    follows = follows.mutate(_cont=ibis.literal(False))
    if turns is not None:
        # an answer to a line of a turn answers the stretch of the turn that line belongs to; the
        # turn's further lines join it, unless they name someone (then they answer that person)
        t = turns.select("_tid", "_topen")
        follows = follows.left_join(t, follows._inferred == t._tid)
        follows = follows.mutate(_inferred=follows._topen.coalesce(follows._inferred)).drop("_tid", "_topen")
        more = turns.filter(turns._topen != turns._tid)
        more = more.select(
            _cid=more._tid, _inferred=more._topen, _space=more._space, _fm=more._fm, _cont=ibis.literal(True)
        )
        follows = follows.union(more.anti_join(follows, more._cid == follows._cid), distinct=False)
    # not in a channel-month that uses threads, and not a message that opens a thread of its own
    follows = follows.anti_join(
        months, (follows._space == months._tspace) & (follows._fm == months._tmonth)
    ).anti_join(with_thread, follows._cid == with_thread._has_thread)
    follows = follows.select("_cid", "_inferred", "_cont")
    j = it.left_join(follows, it.item_id == follows._cid)
    inferred = j.parent_id.isnull() & j._inferred.notnull()
    return j.mutate(
        parent_inferred=inferred,
        continues=inferred & j._cont.fill_null(False),
        parent_id=j.parent_id.coalesce(j._inferred),
    ).drop("_cid", "_inferred", "_cont")


def platform(source: ir.StringValue) -> ir.StringValue:
    """The platform of an item's ``source`` (``discord`` of ``discord:komodo-discord-csv``)."""
    return source.re_extract(r"^([^:]+)", 1)


def flow_platforms(conv: dict[str, Any]) -> list[str]:
    """The chat platforms whose replies stay in the channel's flow (Discord's reply-to, a bridge's
    quoted reply): ``inline_reply_platforms`` that are ``chat_platforms``."""
    chat = set(conv.get("chat_platforms", []))
    return [p for p in conv.get("inline_reply_platforms", []) if p in chat]


def threaded_platforms(conv: dict[str, Any]) -> list[str]:
    """The chat platforms whose replies leave the channel for a thread of their own (Slack, Mattermost
    ...): ``chat_platforms`` but for ``inline_reply_platforms``. A reply there says the channel uses
    threads, and no reply is inferred in its month."""
    inline = set(conv.get("inline_reply_platforms", []))
    return [p for p in conv.get("chat_platforms", []) if p not in inline]


def rule_in_words(conv: dict[str, Any]) -> str:
    """How a reply was inferred, for a figure that rests on inferred replies: "a message by someone else
    within 30 minutes, or one naming its writer within 12 hours, or the next message by someone else
    within 72 hours of a question nobody took up, in a channel without threads"."""
    minutes = float(conv.get("chat_reply_minutes", 0) or 0)
    hours = float(conv.get("chat_mention_reply_hours", 0) or 0)
    quiet = quiet_hours(conv)
    ways = [f"a message by someone else within {minutes:g} minutes"] if minutes > 0 else []
    if hours > 0:
        ways.append(f"{'one' if ways else 'a message'} naming its writer within {hours:g} hours")
    if quiet > 0:
        ways.append(f"the next message by someone else within {quiet:g} hours of a question nobody took up")
    return f"{', or '.join(ways) or 'no rule'}, in a channel without threads"


def _turns(flow: ir.Table, minutes: float, idea_threshold: float | None) -> ir.Table:
    """Every message of the flow (``_tid``) with the first line of the stretch of its writer's turn it
    belongs to (``_topen``; itself when it opens one), ``_space`` and ``_fm``.

    A turn is one person's lines, each within ``minutes`` of the one before with nobody between, on one
    calendar day (a day bounds how far back a line's stretch can start, so that an update reads the
    days it touches, not whole monologues). A stretch starts at the turn's first line and at each line
    that asks or proposes, or that has a parent of its own (a reply-to)."""
    # each window sorts every column it is given: only the few it needs (the lines the answers look
    # back over are read apart, so that neither holds the other's columns)
    f = flow.select(
        "item_id", "space_id", "created_at", "author_member", "parent_id", "_t_question", "_iscore", "_m"
    )
    w = ibis.window(group_by=f.space_id, order_by=[f.created_at, f.item_id])
    f = f.mutate(_by1=f.author_member.lag().over(w), _at1=f.created_at.lag().over(w))
    gap = f.created_at.epoch_seconds() - f._at1.epoch_seconds()
    starts = (
        f._by1.isnull()
        | (f._by1 != f.author_member)
        | (gap > minutes * 60)
        | (f.created_at.date() != f._at1.date())
        | f.parent_id.notnull()
        | f._t_question.fill_null(False)
    )
    if idea_threshold is not None:
        starts |= f._iscore >= idea_threshold
    # stretches numbered along the channel, and each line joined to its stretch's first line
    f = f.select("item_id", "space_id", "created_at", "_m", _start=starts)
    upto = ibis.window(group_by=f.space_id, order_by=[f.created_at, f.item_id], preceding=None, following=0)
    f = f.mutate(_n=f._start.ifelse(1, 0).sum().over(upto))
    first = f.filter(f._start).select(_os=f.space_id, _on=f._n, _topen=f.item_id)
    j = f.join(first, (f.space_id == first._os) & (f._n == first._on))
    return j.select(_tid=j.item_id, _topen=j._topen, _space=j.space_id, _fm=j._m)


def _lagged(flow: ir.Table) -> ir.Table:
    """The flow with, for each message, the :data:`TURN_LINES` messages before it in its channel: their
    ids (``_id1`` ...), writers (``_by1`` ...), times (``_at1`` ...) and whether they ask (``_q1`` ...),
    read in one sort of the channel for every rule that looks back."""
    flow = flow.select("item_id", "space_id", "created_at", "author_member", "parent_id", "_t_question", "_m")
    w = ibis.window(group_by=flow.space_id, order_by=[flow.created_at, flow.item_id])
    back = range(1, TURN_LINES + 1)
    return flow.mutate(
        **{f"_id{k}": flow.item_id.lag(k).over(w) for k in back},
        **{f"_by{k}": flow.author_member.lag(k).over(w) for k in back},
        **{f"_at{k}": flow.created_at.lag(k).over(w) for k in back},
        **{f"_q{k}": flow._t_question.lag(k).over(w) for k in back},
    )


#: how many lines of a turn an answer looks back over for its question (one sort of the channel reads
#: them all; a question further back in a longer turn is rarely the one answered)
TURN_LINES = 5


def quiet_hours(conv: dict[str, Any]) -> float:
    """How long after a question nobody else took up a quiet channel's next message may still answer it
    (``chat_quiet_reply_hours``; 0 for never, and never when the timing rule is off)."""
    if float(conv.get("chat_reply_minutes", 0) or 0) <= 0:
        return 0.0
    return float(conv.get("chat_quiet_reply_hours", 0) or 0)


def _right_after(lines: ir.Table, minutes: float, quiet: float = 0.0) -> ir.Table:
    """Messages without a parent that follow another person's message of the flow within ``minutes``:
    ``_cid`` (the message), ``_inferred`` (the one it takes up), ``_space``, ``_fm`` (its month).

    People write a turn in several lines ("how do I sync the wallet?" "it stops at 80 %" "on Windows"),
    and the answer comes after the last. It takes up the turn, and the question in it: the message
    taken up is the latest question among the turn's last :data:`TURN_LINES` lines written within
    ``minutes`` of the answer, else the turn's last line.

    A quiet channel answers slowly: a message that comes later than ``minutes`` after the previous one,
    but within ``quiet`` hours, with nobody else writing between, takes up the latest question of the
    turn before it ("anyone going to the hackathon in May?" ... five hours later "yes! are you?"). Where
    that turn asked nothing, the message starts a conversation of its own."""
    f, back = lines, range(1, TURN_LINES + 1)  # as _lagged gives them
    gap = f.created_at.epoch_seconds() - f._at1.epoch_seconds()
    f = f.filter(
        f.parent_id.isnull()
        & f._id1.notnull()
        & (f._by1 != f.author_member)
        & (gap <= max(minutes * 60, quiet * 3600))
    )
    now = f.created_at.epoch_seconds()
    gap = now - f._at1.epoch_seconds()
    # line k is in the turn when it and every line after it are by the same person, each within the
    # gap of the next; it is taken up when it asks and is within the gap of the answer (any question of
    # the turn, after a quiet spell)
    taken, asked = f._id1, ibis.null("string")
    for k in reversed(back):
        same = ibis.literal(True)
        for j in range(2, k + 1):
            same &= (f[f"_by{j}"] == f._by1) & (
                f[f"_at{j - 1}"].epoch_seconds() - f[f"_at{j}"].epoch_seconds() <= minutes * 60
            )
        asks = same & f[f"_q{k}"].fill_null(False)
        taken = ibis.ifelse(asks & (now - f[f"_at{k}"].epoch_seconds() <= minutes * 60), f[f"_id{k}"], taken)
        asked = ibis.ifelse(asks, f[f"_id{k}"], asked)
    soon = gap <= minutes * 60
    f = f.mutate(_taken=ibis.ifelse(soon, taken, asked) if quiet > 0 else taken)
    f = f.filter(soon | f._taken.notnull())
    return f.select(
        _cid=f.item_id, _inferred=f._taken, _space=f.space_id, _fm=f._m, _quiet=~soon, _asker=f._by1
    )


def _not_opening(after: ir.Table, items: ir.Table, conv: dict[str, Any], named: ir.Table | None) -> ir.Table:
    """``after`` (:func:`_right_after`) without the messages after a quiet spell that open a
    conversation of their own rather than take up the question before them: those that greet the room
    (``chat_opening_pattern``: "hi all", "gm", "guys, ...") and those naming someone other than the
    person who asked. Only the few quiet ones are read again, so a busy channel pays nothing."""
    quiet = after.filter(after._quiet)
    pattern = str(conv.get("chat_opening_pattern", "") or "")
    drop = []
    if pattern:
        txt = items.select(_oid=items.item_id, _otext=items.text)
        q = quiet.join(txt, quiet._cid == txt._oid)
        drop.append(q.filter(q._otext.fill_null("").lower().re_search(pattern)).select(_d=q._cid))
    if named is not None:
        q = quiet.join(named, quiet._cid == named._mi)
        drop.append(q.filter(q._named != q._asker).select(_d=q._cid))
    if not drop:
        return after
    gone = drop[0] if len(drop) == 1 else drop[0].union(drop[1])
    return after.anti_join(gone, after._cid == gone._d)


def _mentions(actions: ir.Table | None, authors: ir.Table | None) -> ir.Table | None:
    """Who each message names: ``_mi`` (the message), ``_named`` (the member, else the identity named),
    one row per pair; None without mentions to read."""
    if actions is None or authors is None or not {"verb", "target_id"} <= set(actions.columns):
        return None
    who = authors.select(_wid=authors.identity_id, _wm=authors.member_id)
    m = actions.filter(
        (actions.verb == "mention") & actions.item_id.notnull() & actions.target_id.notnull()
    ).select(_mi=actions.item_id, _mtarget=actions.target_id)
    m = m.left_join(who, m._mtarget == who._wid)
    return m.select(_mi=m._mi, _named=m._wm.coalesce(m._mtarget)).distinct()


def _by_name(flow: ir.Table, m: ir.Table, hours: float) -> ir.Table:
    """Messages without a parent that name (``m``, :func:`_mentions`) one other person who wrote in the
    same channel within ``hours`` before: that person's latest message there is the one answered
    (``_cid``, ``_inferred``, ``_space``, ``_fm``). A message naming several people addresses a group
    ("@ann could you add @bob and @cy to the role"), and answers none of them by name."""
    c = flow.filter(flow.parent_id.isnull())
    c = c.join(m, c.item_id == m._mi)
    c = c.filter(c._named != c.author_member)
    c = c.mutate(_k=c._named.count().over(group_by=c.item_id))
    c = c.filter(c._k == 1).select(
        _cid=c.item_id, _space=c.space_id, _cts=c.created_at, _named=c._named, _fm=c._m
    )
    p = flow.select(
        _pid=flow.item_id, _pspace=flow.space_id, _pts=flow.created_at, _pauthor=flow.author_member
    )
    j = c.join(
        p,
        (c._space == p._pspace)
        & (c._named == p._pauthor)
        & (p._pts < c._cts)
        & (p._pts.epoch_seconds() >= c._cts.epoch_seconds() - hours * 3600),
    )
    w = ibis.window(group_by=j._cid, order_by=[ibis.desc(j._pts), ibis.desc(j._pid)])
    j = j.mutate(_n=ibis.row_number().over(w))
    j = j.filter(j._n == 0)
    return j.select(_cid=j._cid, _inferred=j._pid, _space=j._space, _fm=j._fm)
