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

from covalue.metrics import chat_replies
from covalue.quoting import strip_quoted

TEXT_ROLES = ("question", "answer", "idea", "resource", "gratitude", "social")
#: the primary role is the first of these an item has (an idea phrased as a question is an idea)
ROLE_PRIORITY = ("idea", "question", "answer", "resource", "gratitude", "social")


def clean_text(text: ir.StringValue, max_chars: int = 20000) -> ir.StringValue:
    """Lower-cased text without quoted text (mail quotes, attributions, signatures: see
    :mod:`covalue.quoting`), HTML tags and runs of white space, cut at ``max_chars``."""
    return _unmarked(strip_quoted(text.fill_null("").substr(0, max_chars).lower()))


def _unmarked(t: ir.StringValue) -> ir.StringValue:
    """Markup and entities out, white space collapsed and trimmed."""
    t = t.re_replace(r"<[^>]*>", " ")
    t = t.re_replace(r"&(nbsp|#160);", " ").re_replace(r"&quot;", '"').re_replace(r"&(#39|apos);", "'")
    t = t.re_replace(r"&amp;", "&").re_replace(r"&lt;", "<").re_replace(r"&gt;", ">")
    return trimmed(t.re_replace(r"\s+", " "))


def trimmed(t: ir.StringValue) -> ir.StringValue:
    """``t`` without white space at either end. A pattern, not ``strip()``: ibis compiles that for Spark
    into a TRIM whose character list also holds the letter f, so Spark read "feature request" as
    "eature request"."""
    return t.re_replace(r"^\s+|\s+$", "")


def idea_text(title: ir.StringValue, text: ir.StringValue, max_chars: int = 20000) -> ir.StringValue:
    """``title ¶ text``, cleaned, as the idea rules read a thread opener: a proposal is often stated in
    the title alone ("Feature request: ...", "Should we add a tag for ...?"). The mark lets a rule tell
    the title's start (``^``) from a chat message's (``¶``), which has no title."""
    return titled(clean_text(title, max_chars), clean_text(text, max_chars))


#: folded for the idea rules: accented Latin letters to their base letter, French typography's
#: no-break spaces to a space, typographic apostrophes to ', combining accents (decomposed text) dropped.
#: RE2 and Java read ``\b`` and ``[a-z]`` in ASCII, so "ça serait" or "créé" could never match a rule
#: with an accent next to a word boundary; folded, the rules are written in plain ASCII.
_FOLD_FROM = (
    "àâäáãåçéèêëíìîïñóòôöõúùûüýÿ\u00a0\u202f\u2009\u2019\u2018\u02bc\u0300\u0301\u0302\u0303\u0308\u0327"
)
_FOLD_TO = "aaaaaaceeeeiiiinooooouuuuyy   '''"


def titled(title: ir.StringValue, text: ir.StringValue) -> ir.StringValue:
    """:func:`idea_text` from a title and a text each already cleaned (classification cleans every text
    once and reuses it here), folded to ASCII letters (``_FOLD_FROM``) for the idea rules."""
    return trimmed(title.concat(" ¶ ", text).translate(_FOLD_FROM, _FOLD_TO))


def idea_structure(
    items: ir.Table, spaces: ir.Table | None, actions: ir.Table | None, structure: dict[str, Any]
) -> ir.Table | None:
    """The items with an idea signal from structure: ``_isid``, ``_itag`` (an idea tag ties it to a space
    of kind tag through a ``system`` action with ``detail = "tag"``, as the Stack Exchange and Discourse
    readers write them) and ``_ispace`` (its space, a channel, stream or category, is named for ideas).

    Whether the item opens a thread is checked by the caller. None when there is nothing to read.
    """
    if spaces is None:
        return None
    names = spaces.select(_sp=spaces.space_id, _name=spaces.name.fill_null("").lower())
    parts = []
    space_pat = structure.get("idea_spaces")
    if space_pat:
        named = names.filter(names._name.re_search(space_pat))
        j = items.join(named, items.space_id == named._sp)
        parts.append(j.select(_isid=j.item_id, _itag=ibis.literal(False), _ispace=ibis.literal(True)))
    tag_pat = structure.get("idea_tags")
    if tag_pat and actions is not None:
        tags = actions.filter(
            (actions.verb == "system") & (actions.detail == "tag") & actions.item_id.notnull()
        )
        idea_tags = names.filter(names._name.re_search(tag_pat))
        j = tags.join(idea_tags, tags.space_id == idea_tags._sp)
        # a status tag (`status-completed`) says a request was carried out: on an item its members also
        # tagged as a bug or a support request it marks a fix, not a proposal
        status_pat, not_pat = structure.get("idea_status_tags"), structure.get("not_idea_tags")
        if status_pat and not_pat:
            not_named = names.filter(names._name.re_search(not_pat))
            not_idea = tags.join(not_named, tags.space_id == not_named._sp).select(_nid=tags.item_id)
            status = j.filter(j._name.re_search(status_pat))
            status = status.anti_join(not_idea, status.item_id == not_idea._nid)
            j = j.filter(~j._name.re_search(status_pat)).select("item_id").union(status.select("item_id"))
        parts.append(j.select(_isid=j.item_id, _itag=ibis.literal(True), _ispace=ibis.literal(False)))
    if not parts:
        return None
    out = parts[0]
    for part in parts[1:]:
        out = out.union(part)
    return out.group_by("_isid").aggregate(_itag=out._itag.max(), _ispace=out._ispace.max())


def _opens_thread(items: ir.Table) -> ir.Table:
    """``_oid`` of the items the export itself shows opening a thread: with a title (a topic, a subject)
    or with a reply that names them as parent or thread. A chat message that merely starts after a
    pause is not among them."""
    # a pattern, not strip(): Spark's TRIM for strip() also removes the letter f
    titled = items.filter(items.title.re_search(r"\S")).select(_oid=items.item_id)
    parents = items.filter(items.parent_id.notnull()).select(_oid=items.parent_id)
    threads = items.filter(items.thread_id.notnull() & (items.thread_id != items.item_id)).select(
        _oid=items.thread_id
    )
    return titled.union(parents).union(threads).distinct()


def _taken_up(it: ir.Table, items: ir.Table, actions: ir.Table | None, root_kinds: list[str]) -> ir.Table:
    """``_upid`` of the items another member took up: a reply inferred from chat timing or naming (by
    someone else: a further line of one's own turn is no uptake), or a reaction or vote whose actor is
    not the author (an anonymous one counts, as Discord's exports name no reactor).

    Only items that may open a thread are looked up (no parent or thread of another item, a kind in
    ``root_kinds``): uptake matters for no other, and most reactions are on replies."""
    up = it.filter(it.parent_inferred & ~it.continues).select(_upid=it.parent_id)
    if actions is not None:
        acts = actions.filter(actions.verb.isin(["react", "vote"]) & actions.item_id.notnull())
        roots = items.filter(
            items.parent_id.isnull()
            & (items.thread_id.isnull() | (items.thread_id == items.item_id))
            & items.kind.isin(root_kinds)
        )
        own = roots.select(_aid=roots.item_id, _author=roots.author_id)
        j = acts.join(own, acts.item_id == own._aid)
        if "actor_id" in j.columns:
            j = j.filter(j.actor_id.isnull() | (j.actor_id != j._author.fill_null("")))
        up = up.union(j.select(_upid=j.item_id))
    return up.distinct()


#: longest alternation of a role's rules searched in one go: past it RE2 outgrows its automaton's memory
#: and falls back to a slower matcher, so the long idea rules (about 10,000 characters together) took
#: four times longer in one search than in five
ONE_SEARCH_MAX = 4000
#: a web address in a cleaned text, up to the next space or bracket
LINK = r"(https?://|www\.)[^\s<>()\[\]\"]+"


def question_text(text: ir.StringValue) -> ir.StringValue:
    """``text`` (already cleaned) as the question rules read it: without its links, since a question
    mark in a link ("watch?v=", "status/1194?s=19") asks nothing (the other roles see the links: a
    link is a resource)."""
    return text.re_replace(LINK, " ")


def role_score(text: ir.StringValue, rules: list[dict[str, Any]]) -> ir.FloatingValue:
    """The sum of the weights of the rules whose pattern occurs in ``text`` (already cleaned)."""
    # typed literals: Spark would otherwise read 2.5 as a decimal and add exactly where DuckDB rounds
    zero = ibis.literal(0.0, "float64")
    score: ir.FloatingValue = zero
    for rule in rules:
        score = score + text.re_search(rule["pattern"]).ifelse(
            ibis.literal(float(rule["weight"]), "float64"), zero
        )
    any_rule = "|".join(f"(?:{rule['pattern']})" for rule in rules)
    if len(rules) > 1 and len(any_rule) <= ONE_SEARCH_MAX:
        # one search for all the rules first: most texts match none of a role's rules, and with no
        # match the sum is 0 anyway, so they are spared a search per rule (30 % less work classifying
        # the synthetic organisation's items)
        score = text.re_search(any_rule).ifelse(score, zero)
    return score


def text_roles(
    text: ir.StringValue, roles_model: dict[str, Any], *, roles: tuple[str, ...] = TEXT_ROLES
) -> dict[str, ir.BooleanValue]:
    """For each text role (of ``roles``), whether ``text`` (already cleaned) reaches the role's
    threshold; the idea rules read it folded to plain letters, as they are written."""
    out = {}
    for role in roles:
        spec = roles_model["roles"][role]
        t = text.translate(_FOLD_FROM, _FOLD_TO) if role == "idea" else text
        out[role] = role_score(t, spec["rules"]) >= float(spec["threshold"])
    return out


def text_key(items: ir.Table) -> ir.IntegerValue:
    """A hash of everything :func:`text_scores` reads of an item (title, text and whether it can open a
    thread), so that a kept score is reused only while it still holds."""
    opener = _may_propose(items).ifelse("1", "0")
    return (items.title.fill_null("") + "\x1f" + items.text.fill_null("") + "\x1f" + opener).hash()


def _may_propose(items: ir.Table) -> ir.BooleanValue:
    """Whether an item can be an idea by its text: a thread opener of a kind that opens threads (the
    author's being a bot is checked where the author is known)."""
    return items.parent_id.isnull() & (items.thread_id.isnull() | (items.thread_id == items.item_id))


def text_scores(items: ir.Table, roles_model: dict[str, Any]) -> ir.Table:
    """What each item's own text earns, one row per item: ``_sid`` (its id), ``_th`` (:func:`text_key`),
    ``_iscore`` (the idea rules' score of ``title ¶ text``, for a thread opener; 0 otherwise),
    ``question_score`` and a ``_t_<role>`` flag per text role. This is the costliest part of
    classification and depends on nothing but the item, so a workspace keeps it between runs."""
    st = roles_model["structure"]
    qspec, ispec = roles_model["roles"]["question"], roles_model["roles"]["idea"]
    root_kinds = list(st.get("root_kinds", ["post", "question", "idea", "event"]))
    may = _may_propose(items) & items.kind.isin(root_kinds) & ~items.kind.isin(st["answer_kinds"])
    it = items.select(
        _sid=items.item_id,
        _th=text_key(items),
        _may=may,
        _text=clean_text(items.text, int(st.get("max_chars", 20000))),
        _title=items.title,
    )
    idea_max = int(ispec.get("max_chars", st.get("max_chars", 20000)))
    # the text is a column of its own first: each rule refers to it, and an inline expression would
    # be cleaned again for every rule; the idea rules (long alternations, on the title and the text
    # already cleaned) are evaluated for thread openers alone
    it = it.mutate(
        _itext=ibis.ifelse(
            it._may,
            titled(clean_text(it._title, idea_max), it._text.substr(0, idea_max)),
            ibis.literal(""),
        )
    )
    # the idea rules are read once, on the opener's title and text: a flag on the text alone would
    # only repeat the costliest rules for every item
    it = it.mutate(_iscore=role_score(it._itext, ispec["rules"]))
    flags = text_roles(
        it._text, roles_model, roles=tuple(r for r in TEXT_ROLES if r not in ("idea", "question"))
    )
    asks = role_score(question_text(it._text), qspec["rules"])
    flags["question"] = asks >= float(qspec["threshold"])
    flags["idea"] = it._iscore >= float(ispec["threshold"])
    # in the order kept scores have always had them (erased texts' scores are kept for good)
    roles = {role: flags[role] for role in (*(r for r in TEXT_ROLES if r != "idea"), "idea")}
    return it.select(
        "_sid",
        "_th",
        "_iscore",
        # rounded so that engines adding the weights in another order report the same score
        question_score=asks.round(4),
        **{f"_t_{role}": flag for role, flag in roles.items()},
    )


def classify_items(
    items: ir.Table,
    authors: ir.Table,
    roles_model: dict[str, Any],
    spaces: ir.Table | None = None,
    actions: ir.Table | None = None,
    scores: ir.Table | None = None,
) -> ir.Table:
    """One row per item with its member, its role flags and its primary role.

    ``spaces`` and ``actions`` (optional) let thread openers be ideas by structure: posted in a space
    named for ideas, or tagged as a feature request (:func:`idea_structure`). Without them only the
    ``idea`` kind and the text rules find ideas. Ideas from text are thread openers only.

    ``authors`` maps identity ids to members (``identity_id, member_id, is_bot``; see
    :func:`covalue.metrics.interactions.people`) so that merged identities count as one member.
    Columns: item_id, community_id, space_id, thread_id, parent_id, author_member, author_is_bot,
    created_at, kind, is_root, question_score, the ``is_<role>`` flags, ``answers_item`` (the question an
    answer answers), ``role`` and ``role_source`` (structure or text), ``parent_inferred``
    (the parent was inferred from the chat's flow, not given by the export) and ``continues`` (a
    further line of its writer's chat turn: its parent is their own line).

    ``scores`` is :func:`text_scores` of these items, when kept from an earlier run (a text's scores
    never change while the text and the rules stay the same); computed here when not given.
    """
    st = roles_model["structure"]
    a = authors.select(
        _aid=authors.identity_id, author_member=authors.member_id, author_is_bot=authors.is_bot
    )
    if scores is None:
        scores = text_scores(items, roles_model)
    sc = scores.drop("_th") if "_th" in scores.columns else scores
    it = items.left_join(a, items.author_id == a._aid)
    it = it.left_join(sc, it.item_id == sc._sid)
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
        # bots propose nothing: their thread openers were scored like anyone's, the score is dropped here
        _iscore=ibis.ifelse(it.author_is_bot.fill_null(False), 0.0, it._iscore.fill_null(0.0)),
        question_score=it.question_score.fill_null(0.0),
        **{f"_t_{role}": it[f"_t_{role}"].fill_null(False) for role in TEXT_ROLES},
    )
    ispec = roles_model["roles"]["idea"]
    root_kinds = list(st.get("root_kinds", ["post", "question", "idea", "event"]))
    conv = roles_model.get("conversation", {})
    it = chat_replies.infer(it, items, conv, actions, authors, idea_threshold=float(ispec["threshold"]))
    idea_score = it._iscore
    by_structure = idea_structure(items, spaces, actions, st)
    opens = _opens_thread(items)
    it = it.left_join(opens, it.item_id == opens._oid)
    it = it.mutate(_opens=it._oid.notnull()).drop("_oid")
    if by_structure is not None:
        it = it.left_join(by_structure, it.item_id == by_structure._isid)
        # a tag is the author's own label; an idea space says less about a chat message whose thread
        # is only inferred, so it lowers the bar the text must clear instead of clearing it
        in_space = it._ispace.fill_null(False) & (
            it._opens | (idea_score >= float(st.get("idea_space_chat_threshold", 0.5)))
        )
        it = it.mutate(_idea_struct=it._itag.fill_null(False) | in_space).drop("_isid", "_itag", "_ispace")
    else:
        it = it.mutate(_idea_struct=ibis.literal(False))
    # a chat message that opens a conversation only by following a pause must say more to be an idea
    # than a titled post or a thread the export shows, and (``chat_needs_uptake``) someone else must
    # have taken it up: a reply inferred from timing, a reaction or a vote by another member. Floated
    # in passing and left unanswered, "I suggest we ..." is most often advice within a task.
    chat_bar = ibis.literal(float(ispec.get("chat_threshold", ispec["threshold"])), "float64")
    if ispec.get("chat_needs_uptake", False):
        up = _taken_up(it, items, actions, root_kinds)
        it = it.left_join(up, it.item_id == up._upid)
        it = it.mutate(_up=it._upid.notnull()).drop("_upid")
        chat_bar = ibis.ifelse(it._up, chat_bar, ibis.literal(float("inf"), "float64"))
    idea_bar = ibis.ifelse(it._opens, ibis.literal(float(ispec["threshold"]), "float64"), chat_bar)
    q_kind = it.kind.isin(st["question_kinds"])
    a_kind = it.kind.isin(st["answer_kinds"])
    idea_kind = it.kind.isin(st["idea_kinds"])
    # a thread starts at an item without a parent whose kind opens one: a Stack Exchange tag-wiki page
    # (kind "page") has no parent either, but nobody starts a conversation with it
    is_root = it.parent_id.isnull() & it.kind.isin(root_kinds)
    base = it.mutate(
        is_root=is_root,
        _q_kind=q_kind,
        _a_kind=a_kind | it.accepted.fill_null(False),
        # ideas: by kind; a thread opener in an idea space or with an idea tag; or a thread opener
        # (never a reply or an answer) whose title and text read as a proposal
        # (bots propose nothing)
        _idea_struct=idea_kind | (it._idea_struct & is_root & ~it.author_is_bot),
        is_idea=idea_kind
        | (it._idea_struct & is_root & ~it.author_is_bot)
        | (is_root & ~a_kind & ~it.author_is_bot & (idea_score >= idea_bar)),
        _q_text=it._t_question,
        _a_text=it._t_answer,
        is_resource=(it._t_resource | (it.n_links.fill_null(0) > 0)),
        is_gratitude=it._t_gratitude,
        is_social=it._t_social,
    ).drop("_iscore", *[f"_t_{role}" for role in TEXT_ROLES])
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
    root = _vroot.select(
        _rid=_vroot.item_id, _r_q=_vroot.is_question, _r_author=_vroot.author_member, _r_qkind=_vroot._q_kind
    )
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
    # (a question by a deleted or unknown account is someone else's too)
    in_other_q = j._target_q.notnull() & (j._target_author.isnull() | (j._target_author != j.author_member))
    plain_thanks = j.is_gratitude & ~j._a_text
    # where the platform itself marks questions (Stack Exchange), it marks answers too: a comment under
    # such a question is part of the conversation, not an answer
    # (one row per community joined back: a window over every item would carry all their columns)
    marked = items.filter(items.kind.isin(st["answer_kinds"])).select(_mcid=items.community_id).distinct()
    j = j.left_join(marked, j.community_id == marked._mcid)
    by_structure = j._r_qkind.fill_null(False) & j._mcid.notnull()
    # a further line of one's own turn, or a reply to oneself, answers nobody whatever it says
    own = j._p_author.notnull() & (j._p_author == j.author_member)
    is_answer = j._a_kind | (
        ~by_structure
        & (
            (~j.is_question & ~j.is_idea & in_other_q & ~plain_thanks)
            | (j.parent_id.notnull() & ~own & ~j.is_question & j._a_text)
        )
    )
    j = j.mutate(is_answer=is_answer, answers_item=ibis.ifelse(is_answer, j._target_q, ibis.null("string")))
    role = ibis.cases(
        *[(j[f"is_{r}"], r) for r in ROLE_PRIORITY],
        else_=ibis.ifelse(j.parent_id.isnull(), "information", "comment"),
    )
    # an idea's source is how it became an idea (a question kind that reads as a proposal is one by text)
    structural = ibis.ifelse(
        j.is_idea, j._idea_struct, (j._q_kind & j.is_question) | (j._a_kind & j.is_answer)
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
        "parent_inferred",
        "continues",
    )


def question_quality(items: ir.Table, roles_model: dict[str, Any]) -> dict[str, float]:
    """Precision, recall and F1 of text-only question detection on items whose kind is known.

    Only ``question`` and ``answer`` items take part; their kind is the truth and the text (never the
    title) is what the rules see. The counts are aggregated in the engine; four numbers come back.
    """
    st = roles_model["structure"]
    t = items.filter(items.kind.isin([*st["question_kinds"], *st["answer_kinds"]]))
    text = question_text(clean_text(t.text, int(st.get("max_chars", 20000))))
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


def idea_quality(
    items: ir.Table, actions: ir.Table, spaces: ir.Table, roles_model: dict[str, Any]
) -> list[dict[str, Any]]:
    """Recall of text-only idea detection, per source, against the thread openers that members
    tagged as requests (``[evaluation] idea_truth_tags``, e.g. a meta site's ``feature-request``).

    Structure is off: the rules read only the title and text, as they must on exports without tags.
    Precision is not scored against the tags (an untagged opener can still be a proposal); it comes
    from a human-read sample instead (:func:`covalue.evaluation.idea_sample_precision`).
    """
    st = roles_model["structure"]
    pat = roles_model.get("evaluation", {}).get("idea_truth_tags")
    if not pat:
        return []
    names = spaces.filter(spaces.kind == "tag")
    names = names.filter(names.name.fill_null("").lower().re_search(pat)).select(_sp=names.space_id)
    tags = actions.filter((actions.verb == "system") & (actions.detail == "tag"))
    tagged = tags.join(names, tags.space_id == names._sp).select(_tid=tags.item_id).distinct()
    root_kinds = list(st.get("root_kinds", ["post", "question", "idea", "event"]))
    roots = items.filter(items.parent_id.isnull() & items.kind.isin(root_kinds))
    spec = roles_model["roles"]["idea"]
    text = idea_text(roots.title, roots.text, int(spec.get("max_chars", st.get("max_chars", 20000))))
    roots = roots.mutate(_pred=role_score(text, spec["rules"]) >= float(spec["threshold"]))
    j = roots.left_join(tagged, roots.item_id == tagged._tid)
    truth = j._tid.notnull()
    agg = j.group_by(j.source).aggregate(
        openers=j.count(),
        requests=truth.ifelse(1, 0).sum(),
        found=(truth & j._pred).ifelse(1, 0).sum(),
        text_ideas=j._pred.ifelse(1, 0).sum(),
    )
    rows = agg.filter(agg.requests > 0).order_by("source").to_pyarrow().to_pylist()
    for r in rows:
        r["recall"] = r["found"] / r["requests"]
    return rows
