"""How well covalue reads what an export does not say outright: question and idea detection measured
against the structure a platform gives (Stack Exchange's question and answer kinds, a meta site's
feature-request tag) and against a sample of ideas a person read and labelled, and who answered whom in
a chat's flow against the replies the platform recorded. ``covalue evaluate`` prints these figures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from covalue.journey import load_models

if TYPE_CHECKING:
    from covalue.workspace import Workspace


def question_quality(ws: Workspace) -> dict[str, float]:
    """Text-only question detection against the structural truth (question vs answer items)."""
    from covalue.metrics.classify import question_quality as qq

    _, roles = load_models(ws)
    return qq(ws.table("items"), roles)


def idea_quality(ws: Workspace) -> list[dict[str, Any]]:
    """Text-only idea detection against the thread openers members tagged as requests, per source."""
    from covalue.metrics.classify import idea_quality as iq

    _, roles = load_models(ws)
    return iq(ws.table("items"), ws.table("actions"), ws.table("spaces"), roles)


def idea_sample_precision(path: str | Path, ws: Workspace | None = None) -> dict[str, Any]:
    """Precision of idea detection on a human-read sample (a TOML file of ``[[item]]`` with ``item_id``,
    ``source`` and ``label``; see tests/data/idea_sample.toml): the share labelled a proposal, overall and
    per source. With a workspace, also how many sampled items it holds and how many it still calls
    ideas, since the labels are only meaningful for items the current rules select."""
    import tomllib

    items = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("item", [])
    by_source: dict[str, dict[str, int]] = {}
    for it in items:
        b = by_source.setdefault(str(it["source"]), {"items": 0, "proposals": 0})
        b["items"] += 1
        b["proposals"] += bool(it["label"])
    n = sum(b["items"] for b in by_source.values())
    yes = sum(b["proposals"] for b in by_source.values())
    out: dict[str, Any] = {
        "items": n,
        "proposals": yes,
        "precision": yes / n if n else 0.0,
        "by_source": {
            s: {**b, "precision": b["proposals"] / b["items"]} for s, b in sorted(by_source.items())
        },
    }
    if ws is not None:
        ids = [str(it["item_id"]) for it in items]
        roles = ws.table("item_roles") if "item_roles" in ws.con.list_tables() else None
        held = ws.table("items").filter(ws.table("items").item_id.isin(ids)).count().to_pyarrow().as_py()
        out["in_workspace"] = int(held)
        if roles is not None:
            still = roles.filter(roles.item_id.isin(ids) & roles.is_idea).count().to_pyarrow().as_py()
            out["still_ideas"] = int(still)
    return out


def reply_quality(ws: Workspace) -> dict[str, Any]:
    """How well replies are read from a chat's flow, against the replies the platform recorded.

    On chats whose replies stay in the flow (Discord's reply-to, a bridge's quoted reply: the
    ``inline_reply_platforms`` of the roles model) each recorded reply to another person is hidden, as
    an export without reply structure would hide it, and the roles are read again: the flow rules
    (right after, by name, turns) then say which message, if any, each one took up. Counted: the
    replies scored, those given a parent, those whose parent is the recorded message and those whose
    parent is by the person recorded (who was answered, which is what the solve and response measures
    use). Recorded replies are often the ones a writer marked because the message they answer was not
    the last one, so the figures are a floor for replies in general."""
    import ibis

    from covalue import text_memo
    from covalue.metrics import chat_replies
    from covalue.metrics.classify import classify_items
    from covalue.metrics.interactions import people

    _, roles = load_models(ws)
    conv = roles.get("conversation", {})
    flow = chat_replies.flow_platforms(conv)
    empty = {"replies": 0, "linked": 0, "right_message": 0, "right_person": 0}
    if not flow:
        return empty
    items = ws.table("items")
    who = people(ws.table("identities"), ws.table("members"))
    kinds = list(conv.get("thread_kinds", ["reply"]))
    writer = who.select(_aid=who.identity_id, _am=who.member_id, _bot=who.is_bot)
    rec = items.filter(
        items.parent_id.notnull() & items.kind.isin(kinds) & chat_replies.platform(items.source).isin(flow)
    )
    rec = rec.join(writer, rec.author_id == writer._aid)
    parent = items.select(_pid=items.item_id, _pauthor=items.author_id)
    pw = who.select(_pa=who.identity_id, _pm=who.member_id)
    parent = parent.join(pw, parent._pauthor == pw._pa)
    rec = rec.join(parent, rec.parent_id == parent._pid)
    # a reply to another person, by a person: a reply to oneself is a turn, a bot's is nobody's answer
    rec = rec.filter((rec._am != rec._pm) & ~rec._bot.fill_null(False))
    truth = rec.select(_tid=rec.item_id, _true_parent=rec.parent_id, _true_person=rec._pm)
    if not truth.count().to_pyarrow().as_py():
        return empty
    hide = items.item_id.isin(truth._tid)
    hidden = items.mutate(
        parent_id=ibis.ifelse(hide, ibis.null("string"), items.parent_id),
        thread_id=ibis.ifelse(hide, items.item_id, items.thread_id),
        kind=ibis.ifelse(hide, ibis.literal(str(conv.get("chat_kinds", ["post"])[0])), items.kind),
    )
    scores = text_memo.kept_scores(ws, items, roles)
    read = classify_items(
        hidden, who, roles, spaces=ws.table("spaces"), actions=ws.table("actions"), scores=scores
    )
    got = read.select(_gid=read.item_id, _got=read.parent_id, _cont=read.continues)
    persons = read.select(_rid=read.item_id, _rperson=read.author_member)
    x = truth.join(got, truth._tid == got._gid)
    x = x.left_join(persons, x._got == persons._rid)
    linked = x._got.notnull() & ~x._cont
    agg = x.aggregate(
        replies=x.count(),
        linked=linked.ifelse(1, 0).sum(),
        right_message=(linked & (x._got == x._true_parent)).ifelse(1, 0).sum(),
        right_person=(linked & (x._rperson == x._true_person)).ifelse(1, 0).sum(),
    )
    row = agg.to_pyarrow().to_pylist()[0]
    return {k: int(row[k] or 0) for k in empty}
