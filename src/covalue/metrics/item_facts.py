"""Item facts: for every item a person wrote, its roles and when the community responded to it (first
response, first answer by someone else, the k-th supporter of an idea, the first reply health times)."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from covalue.metrics.health import first_replies


def anonymous_responses(actions: ir.Table, model: dict[str, Any]) -> ir.Table:
    """Positive responses whose giver the export does not name (``_iid, _who, _ts``): Stack Exchange
    dumps keep up-votes without their voter. Nobody can vote on their own post there, so each is a
    response from someone else, and one voter per row (one vote per person and post)."""
    verbs = list(
        dict.fromkeys([*model["interactions"]["response_verbs"], *model["interactions"]["support_verbs"]])
    )
    a = actions.filter(
        actions.actor_id.isnull()
        & actions.item_id.notnull()
        & actions.ts.notnull()
        & actions.verb.isin(verbs)
        & (actions.value.isnull() | (actions.value > 0))
    )
    return a.select(_iid=a.item_id, _who=ibis.literal("anonymous:").concat(a.action_id), _ts=a.ts)


def item_facts(
    roles: ir.Table, edges: ir.Table, model: dict[str, Any], actions: ir.Table | None = None
) -> ir.Table:
    """Per item by a human author: its roles and when the community responded to it.

    ``first_response_ts``: the first response by another member; ``answered_ts`` (questions): the
    first answer by another member; ``helps_other`` (answers): it answers someone else's question, and
    ``seeker`` is that person when known (null for a deleted account); ``first_reply_ts`` and
    ``first_reply_inferred`` (roots): the first reply or answer by someone else, as health times it;
    ``support_ts`` (ideas; null for other items): when the k-th distinct other member supported it (k
    from the model).
    """
    k = int(model["stages"]["innovate_min_supporters"])
    support_kinds = ["reply", "answer", *model["interactions"]["support_verbs"]]
    anon = anonymous_responses(actions, model) if actions is not None else None
    first = edges.view()
    first = first.filter(first.target_item_id.notnull()).select(_iid=first.target_item_id, _ts=first.ts)
    if anon is not None:
        first = first.union(anon.select("_iid", "_ts"), distinct=False)
    # a reply whose author's account was deleted is still a reply from someone else
    _vgone = roles.view()
    gone = _vgone.filter(_vgone.author_member.isnull() & _vgone.parent_id.notnull() & ~_vgone.author_is_bot)
    first = first.union(gone.select(_iid=gone.parent_id, _ts=gone.created_at), distinct=False)
    # a response comes after what it responds to: a reply moved under an older topic, or dated before
    # it, is not a response in no time (votes carry only their day, so the day of the item counts)
    _vborn = roles.view()
    born = _vborn.select(_bid=_vborn.item_id, _born=_vborn.created_at)
    first = first.join(born, first._iid == born._bid)
    first = first.filter(first._ts >= first._born.truncate("D"))
    first = first.mutate(_ts=ibis.greatest(first._ts, first._born))
    first = first.group_by(_fid=first._iid).aggregate(first_response_ts=first._ts.min())

    humans = roles.filter(~roles.author_is_bot)
    _vq = humans.view()
    q = _vq.select(_qid=_vq.item_id, _qauthor=_vq.author_member)
    ans = humans.filter(humans.answers_item.notnull())
    ans = ans.join(q, ans.answers_item == q._qid)
    # a question by a deleted or unknown account (no author) is someone else's question too
    # ... and an answer by a deleted account is someone else's answer
    ans = ans.filter(ans._qauthor.isnull() | ans.author_member.isnull() | (ans._qauthor != ans.author_member))
    # an answer older than its question (merged or moved posts) answers it from the question's birth
    answered = ans.group_by(_aid=ans.answers_item).aggregate(answered_ts=ans.created_at.min())
    _vqt = humans.view()
    asked = _vqt.select(_at_id=_vqt.item_id, _asked=_vqt.created_at)
    answered = answered.join(asked, answered._aid == asked._at_id)
    answered = answered.select("_aid", answered_ts=ibis.greatest(answered.answered_ts, answered._asked))
    seekers = ans.select(_sid=ans.item_id, seeker=ans._qauthor, helps_other=ibis.literal(True))

    sup = edges.filter(
        edges.kind.isin(support_kinds) & edges.target_item_id.notnull() & edges.actor.notnull()
    )
    sup = sup.select(_iid=sup.target_item_id, _who=sup.actor, _ts=sup.ts)
    if anon is not None:
        sup = sup.union(anon, distinct=False)
    # only ideas need their k-th supporter: ranking every response to every item was most of this step
    _videas = roles.view()
    ideas = _videas.filter(_videas.is_idea).select(_idea_id=_videas.item_id)
    sup = sup.semi_join(ideas, sup._iid == ideas._idea_id)
    sup = sup.group_by("_iid", "_who").aggregate(_ts=sup._ts.min())
    sup = sup.mutate(_n=ibis.row_number().over(group_by=sup._iid, order_by=[sup._ts, sup._who]) + 1)
    supported = sup.filter(sup._n == k).select(_sup_id=sup._iid, support_ts=sup._ts)

    f = humans.left_join(first, humans.item_id == first._fid)
    f = f.left_join(answered, f.item_id == answered._aid)
    f = f.left_join(seekers, f.item_id == seekers._sid)
    f = f.left_join(supported, f.item_id == supported._sup_id)
    f = f.drop("_fid", "_aid", "_sid", "_sup_id")
    # the first reply or answer by someone else (health's time to first response), computed once here
    # from the items themselves: reading it off ``f`` made the engine compute ``f`` (and every join
    # above) three times over
    replied = first_replies(humans)
    f = f.left_join(replied, f.item_id == replied._rid).drop("_rid")
    f = f.mutate(helps_other=f.helps_other.fill_null(False))
    # information shared: an item that is neither a question nor small talk, opening a thread (or
    # going on with one's own chat turn) or carrying a resource or an answer
    share_ok = (
        ~f.is_question
        & ~f.is_social
        & ~(f.is_gratitude & ~f.is_answer)
        & (f.is_root | f.continues | f.is_resource | f.is_answer)
    )
    return f.mutate(share_eligible=share_ok)
