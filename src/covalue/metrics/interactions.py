"""Who responded to whom: the interaction edges every value metric is built on.

A reply points at its parent's author, an answer at the asker, a reaction, vote or accept at the
author of the item (or at ``target_id`` when the item is not in the workspace), a mention at the person
mentioned. Accounts are resolved to members through ``identities.member_id`` so that merges across
sources apply, and bots and self-interactions are left out. Replies to posts by deleted or unknown
accounts keep a null ``target``: the post was answered even though nobody can be named.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

EDGE_COLUMNS = ("community_id", "ts", "actor", "target", "kind", "item_id", "target_item_id")


def people(identities: ir.Table, members: ir.Table) -> ir.Table:
    """``identity_id → member_id, is_bot``: an identity is a bot when the account or its member says so."""
    m = members.select(_mid=members.member_id, _mbot=members.is_bot)
    j = identities.left_join(m, identities.member_id == m._mid)
    p = j.select(
        identity_id=j.identity_id,
        member_id=j.member_id.coalesce(j.identity_id),
        is_bot=j.is_bot.fill_null(False) | j._mbot.fill_null(False),
    )
    # a merged member with one bot account is a bot everywhere
    return p.select("identity_id", "member_id", is_bot=p.is_bot.max().over(group_by=p.member_id))


def resolve(table: ir.Table, column: str, who: ir.Table, prefix: str) -> ir.Table:
    """``table`` with ``<prefix>`` (the member behind identity ``column``) and ``<prefix>_is_bot``."""
    w = who.select(_rid=who.identity_id, _rm=who.member_id, _rb=who.is_bot)
    j = table.left_join(w, table[column] == w._rid)
    return j.mutate(**{prefix: j._rm.coalesce(j[column]), f"{prefix}_is_bot": j._rb.fill_null(False)}).drop(
        "_rid", "_rm", "_rb"
    )


def build_interactions(
    roles: ir.Table, actions: ir.Table, who: ir.Table, maturity_model: dict[str, Any]
) -> ir.Table:
    """One row per response of one member to another: ``community_id, ts, actor, target, kind,
    item_id, target_item_id``.

    ``roles`` is the output of :func:`covalue.metrics.classify.classify_items`; ``kind`` is reply,
    answer, or the action's verb (react, vote, accept, mention). ``item_id`` is the responding item
    (replies, answers, mentions) or the item acted on; ``target_item_id`` is the item responded to.
    """
    verbs = list(dict.fromkeys([*maturity_model["interactions"]["response_verbs"], "mention"]))
    _vparents = roles.view()
    parents = _vparents.select(
        _pid=_vparents.item_id, _pauthor=_vparents.author_member, _pbot=_vparents.author_is_bot
    )
    r = roles.filter(roles.parent_id.notnull())
    r = r.join(parents, r.parent_id == parents._pid)
    replies = r.select(
        community_id=r.community_id,
        ts=r.created_at,
        actor=r.author_member,
        target=r._pauthor,
        kind=ibis.ifelse(r.is_answer, "answer", "reply"),
        item_id=r.item_id,
        target_item_id=r.parent_id,
        _abot=r.author_is_bot,
        _tbot=r._pbot,
    )

    # a down-vote or a moderation vote (close, spam, ...) is not a response to what someone shared
    positive = (actions.verb != "vote") | actions.value.isnull() | (actions.value > 0)
    acts = actions.filter(actions.verb.isin(verbs) & actions.actor_id.notnull() & positive)
    acts = resolve(acts, "actor_id", who, "actor")
    acts = resolve(acts, "target_id", who, "tmember")
    _vitems = roles.view()
    items = _vitems.select(
        _iid=_vitems.item_id,
        _iauthor=_vitems.author_member,
        _ibot=_vitems.author_is_bot,
        _icomm=_vitems.community_id,
    )
    a = acts.left_join(items, acts.item_id == items._iid)
    is_mention = a.verb == "mention"
    # a mention points at the person; everything else at the item's author, or target_id without item
    target = ibis.ifelse(is_mention, a.tmember, a._iauthor.coalesce(a.tmember))
    target_bot = ibis.ifelse(
        is_mention, a.tmember_is_bot, ibis.ifelse(a._iauthor.notnull(), a._ibot, a.tmember_is_bot)
    )
    given = a.select(
        community_id=a.community_id.coalesce(a._icomm),
        ts=a.ts,
        actor=a.actor,
        target=target,
        kind=a.verb,
        item_id=a.item_id,
        target_item_id=ibis.ifelse(is_mention, ibis.null("string"), a.item_id),
        _abot=a.actor_is_bot,
        _tbot=target_bot.fill_null(False),
    )
    edges = replies.union(given)
    # a reply or answer to a post whose author is unknown (a deleted account) is still a response to
    # that post: it keeps a null target, so thread measures count it while measures of people (who
    # responded to whom) leave it out
    to_unknown = edges.kind.isin(("reply", "answer")) & edges.target.isnull() & edges.target_item_id.notnull()
    edges = edges.filter(
        edges.actor.notnull()
        & (edges.target.notnull() | to_unknown)
        & edges.ts.notnull()
        & ((edges.actor != edges.target) | edges.target.isnull())
        & ~edges._abot
        & ~edges._tbot
    )
    return edges.select(*EDGE_COLUMNS)
