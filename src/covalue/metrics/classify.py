"""Item roles: what each contribution does for the community.

Roles (question, answer, idea, resource, gratitude, social) come first from structure — a Stack Exchange
question or answer, an accepted answer, a reply in the thread of someone else's question — and then from
the text, with the weighted regular expressions of ``models/roles.toml``. Every rule is an Ibis
expression (``re_search`` on lower-cased text with markup removed), so classification runs inside the
engine, on DuckDB or Spark alike, without a Python loop over rows.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from covalue.quoting import strip_quoted

TEXT_ROLES = ("question", "answer", "idea", "resource", "gratitude", "social")
#: the primary role is the first of these an item has (an idea phrased as a question is an idea)
ROLE_PRIORITY = ("idea", "question", "answer", "resource", "gratitude", "social")


def clean_text(text: ir.StringValue, max_chars: int = 20000) -> ir.StringValue:
    """Lower-cased text without quoted text (mail quotes, attributions, signatures: see
    :mod:`covalue.quoting`), HTML tags and runs of white space, cut at ``max_chars``."""
    t = strip_quoted(text.fill_null("").substr(0, max_chars).lower())
    t = t.re_replace(r"<[^>]*>", " ")
    t = t.re_replace(r"&(nbsp|#160);", " ").re_replace(r"&quot;", '"').re_replace(r"&(#39|apos);", "'")
    t = t.re_replace(r"&amp;", "&").re_replace(r"&lt;", "<").re_replace(r"&gt;", ">")
    return t.re_replace(r"\s+", " ").strip()


def role_score(text: ir.StringValue, rules: list[dict[str, Any]]) -> ir.FloatingValue:
    """The sum of the weights of the rules whose pattern occurs in ``text`` (already cleaned)."""
    # typed literals: Spark would otherwise read 2.5 as a decimal and add exactly where DuckDB rounds
    zero = ibis.literal(0.0, "float64")
    score: ir.FloatingValue = zero
    for rule in rules:
        score = score + text.re_search(rule["pattern"]).ifelse(
            ibis.literal(float(rule["weight"]), "float64"), zero
        )
    if len(rules) > 1:
        # one search for all the rules first: most texts match none of a role's rules, and with no
        # match the sum is 0 anyway, so they are spared a search per rule (30 % less work classifying
        # the synthetic organisation's items)
        any_rule = "|".join(f"(?:{rule['pattern']})" for rule in rules)
        score = text.re_search(any_rule).ifelse(score, zero)
    return score


def text_roles(text: ir.StringValue, roles_model: dict[str, Any]) -> dict[str, ir.BooleanValue]:
    """For each text role, whether ``text`` (already cleaned) reaches the role's threshold."""
    out = {}
    for role in TEXT_ROLES:
        spec = roles_model["roles"][role]
        out[role] = role_score(text, spec["rules"]) >= float(spec["threshold"])
    return out


def _chat_replies(it: ir.Table, items: ir.Table, conv: dict[str, Any]) -> ir.Table:
    """In chat platforms without threads (older Slack, Discord, IRC ...), a message that follows
    another person's message in the same channel within a few minutes answers it: give such messages
    that message as parent. Threaded replies keep their own parent; bots are skipped.

    Without this, every chat message would be a new thread nobody replied to.
    """
    minutes = float(conv.get("chat_reply_minutes", 0) or 0)
    platforms = list(conv.get("chat_platforms", []))
    if minutes <= 0 or not platforms:
        return it
    src = items.select(_sid=items.item_id, _platform=items.source.re_extract(r"^([^:]+)", 1))
    cand = it.join(src, it.item_id == src._sid)
    cand = cand.filter(
        cand._platform.isin(platforms)
        & cand.parent_id.isnull()
        & cand.kind.isin(list(conv.get("chat_kinds", ["post"])))
        & ~cand.author_is_bot
        & cand.created_at.notnull()
        & cand.space_id.notnull()
    )
    w = ibis.window(group_by=cand.space_id, order_by=[cand.created_at, cand.item_id])
    cand = cand.mutate(
        _prev=cand.item_id.lag().over(w),
        _prev_author=cand.author_member.lag().over(w),
        _prev_ts=cand.created_at.lag().over(w),
    )
    gap = cand.created_at.epoch_seconds() - cand._prev_ts.epoch_seconds()
    follows = cand.filter(
        cand._prev.notnull() & (cand._prev_author != cand.author_member) & (gap <= minutes * 60)
    ).select(_cid=cand.item_id, _inferred=cand._prev)
    j = it.left_join(follows, it.item_id == follows._cid)
    return j.mutate(parent_id=j.parent_id.coalesce(j._inferred)).drop("_cid", "_inferred")


def classify_items(items: ir.Table, authors: ir.Table, roles_model: dict[str, Any]) -> ir.Table:
    """One row per item with its member, its role flags and its primary role.

    ``authors`` maps identity ids to members (``identity_id, member_id, is_bot``; see
    :func:`covalue.metrics.interactions.people`) so that merged identities count as one member.
    Columns: item_id, community_id, space_id, thread_id, parent_id, author_member, author_is_bot,
    created_at, kind, is_root, question_score, the ``is_<role>`` flags, ``answers_item`` (the question an
    answer answers), ``role`` and ``role_source`` (structure or text).
    """
    st = roles_model["structure"]
    qspec = roles_model["roles"]["question"]
    a = authors.select(
        _aid=authors.identity_id, author_member=authors.member_id, author_is_bot=authors.is_bot
    )
    it = items.left_join(a, items.author_id == a._aid)
    text = clean_text(it.text, int(st.get("max_chars", 20000)))
    it = it.select(
        "item_id",
        "community_id",
        "space_id",
        "created_at",
        "kind",
        "accepted",
        "n_links",
        author_member=it.author_member.coalesce(it.author_id),
        author_is_bot=it.author_is_bot.fill_null(False),
        # a reply's parent: its parent item, or the thread's first item when only the thread is known
        parent_id=it.parent_id.coalesce(
            ibis.ifelse(it.thread_id != it.item_id, it.thread_id, ibis.null("string"))
        ),
        thread_id=it.thread_id.coalesce(it.item_id),
        _text=text,
    )
    it = _chat_replies(it, items, roles_model.get("conversation", {}))
    roles = text_roles(it._text, roles_model)
    q_kind = it.kind.isin(st["question_kinds"])
    a_kind = it.kind.isin(st["answer_kinds"])
    idea_kind = it.kind.isin(st["idea_kinds"])
    is_root = it.parent_id.isnull()
    base = it.mutate(
        is_root=is_root,
        # rounded so that engines adding the weights in another order report the same score
        question_score=role_score(it._text, qspec["rules"]).round(4),
        _q_kind=q_kind,
        _a_kind=a_kind | it.accepted.fill_null(False),
        is_idea=idea_kind | (roles["idea"] & ~q_kind & ~a_kind),
        _q_text=roles["question"],
        _a_text=roles["answer"],
        is_resource=(roles["resource"] | (it.n_links.fill_null(0) > 0)),
        is_gratitude=roles["gratitude"],
        is_social=roles["social"],
    ).drop("_text")
    # a structural answer is never a question; an idea is not a question unless its kind says so
    base = base.mutate(
        is_question=base._q_kind | (~base._a_kind & ~base.is_idea & base._q_text),
    )
    # the question an item answers: its parent if that is a question, else its thread's first item
    # (a reply to a reply in a help thread), but not for comments on a structural answer
    _vpar = base.view()
    par = _vpar.select(
        _pid=_vpar.item_id, _p_q=_vpar.is_question, _p_author=_vpar.author_member, _p_ans=_vpar._a_kind
    )
    _vroot = base.view()
    root = _vroot.select(_rid=_vroot.item_id, _r_q=_vroot.is_question, _r_author=_vroot.author_member)
    j = base.left_join(par, base.parent_id == par._pid).left_join(root, base.thread_id == root._rid)
    via_root = (j.thread_id != j.item_id) & j._r_q.fill_null(False) & ~j._p_ans.fill_null(False)
    j = j.mutate(
        _target_q=ibis.cases(
            (j._p_q.fill_null(False), j.parent_id),
            (via_root, j.thread_id),
            else_=ibis.null("string"),
        ),
        _target_author=ibis.cases(
            (j._p_q.fill_null(False), j._p_author),
            (via_root, j._r_author),
            else_=ibis.null("string"),
        ),
    )
    # an answer: structural, or a reply in someone else's question thread that is not itself a question
    # or a plain thank-you, or a reply whose text reads as advice
    in_other_q = j._target_q.notnull() & (j._target_author != j.author_member)
    plain_thanks = j.is_gratitude & ~j._a_text
    is_answer = (
        j._a_kind
        | (~j.is_question & ~j.is_idea & in_other_q & ~plain_thanks)
        | (~j.is_root & ~j.is_question & j._a_text)
    )
    j = j.mutate(is_answer=is_answer, answers_item=ibis.ifelse(is_answer, j._target_q, ibis.null("string")))
    role = ibis.cases(
        *[(j[f"is_{r}"], r) for r in ROLE_PRIORITY], else_=ibis.ifelse(j.is_root, "information", "comment")
    )
    structural = (
        (j._q_kind & j.is_question) | (j._a_kind & j.is_answer) | (j.kind.isin(st["idea_kinds"]) & j.is_idea)
    )
    j = j.mutate(role=role, role_source=ibis.ifelse(structural, "structure", "text"))
    return j.select(
        "item_id",
        "community_id",
        "space_id",
        "thread_id",
        "parent_id",
        "author_member",
        "author_is_bot",
        "created_at",
        "kind",
        "is_root",
        "question_score",
        "is_question",
        "is_answer",
        "is_idea",
        "is_resource",
        "is_gratitude",
        "is_social",
        "answers_item",
        "role",
        "role_source",
    )


def question_quality(items: ir.Table, roles_model: dict[str, Any]) -> dict[str, float]:
    """Precision, recall and F1 of text-only question detection on items whose kind is known.

    Only ``question`` and ``answer`` items take part; their kind is the truth and the text (never the
    title) is what the rules see. The counts are aggregated in the engine; four numbers come back.
    """
    st = roles_model["structure"]
    t = items.filter(items.kind.isin([*st["question_kinds"], *st["answer_kinds"]]))
    text = clean_text(t.text, int(st.get("max_chars", 20000)))
    spec = roles_model["roles"]["question"]
    pred = role_score(text, spec["rules"]) >= float(spec["threshold"])
    truth = t.kind.isin(st["question_kinds"])
    agg = (
        t.aggregate(
            tp=(pred & truth).ifelse(1, 0).sum(),
            fp=(pred & ~truth).ifelse(1, 0).sum(),
            fn=(~pred & truth).ifelse(1, 0).sum(),
            n=t.count(),
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    tp, fp, fn, n = (int(agg[k] or 0) for k in ("tp", "fp", "fn", "n"))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "items": n,
        "questions": tp + fn,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }
