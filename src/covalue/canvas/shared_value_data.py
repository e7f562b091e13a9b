"""The question themes of one community read from its workspace, with the distinct members who asked
each one: what the Shared Value canvas proposes as candidate needs (``shared_value.needs_from_themes``).

Themes are found as the report finds them (``metrics.resonance.find_themes`` on the questions that
open a thread), so a candidate need matches a theme the report shows; what this adds is who asked,
counted as people rather than questions, and the question that typifies the theme (the one nearest
its centre) to word the need."""

from __future__ import annotations

from typing import Any

import ibis

from covalue.workspace import Workspace


def question_themes(ws: Workspace, community_id: str) -> list[dict[str, Any]]:
    """Per theme, biggest first: label, terms, questions, unanswered questions, the members who asked
    (pseudonymous ids, bots left out), the most typical question and two more examples."""
    from covalue import diagnosis, journey
    from covalue.metrics import resonance as rs

    rm = diagnosis.model(ws)["resonance"]
    facts = journey.derived(ws, "item_facts")
    q = facts.filter(
        facts.is_question & facts.is_root & ~facts.author_is_bot & (facts.community_id == community_id)
    )
    # the same most recent questions the report's themes are drawn from
    q = q.order_by([ibis.desc(q.created_at), q.item_id]).limit(int(rm["max_questions"]))
    items = ws.table("items")
    it = items.select(_iid="item_id", _title="title", _text=items.text.substr(0, 2000))
    rows = (
        q.join(it, q.item_id == it._iid)
        .select("item_id", "author_member", "answered_ts", "_title", "_text")
        .order_by("item_id")
        .to_pyarrow()
        .to_pylist()
    )
    texts = []
    for r in rows:
        title = rs.plain(r["_title"])
        texts.append(f"{title} {title} {rs.plain(r['_text'])}")  # the title counts twice, as in the report
    out = []
    for t in rs.find_themes(texts, rm):
        members = [rows[p] for p in t.members]
        shown = [rs.title_or_excerpt(r["_title"], r["_text"]) for r in members[:3]]
        out.append(
            {
                "label": t.label,
                "terms": t.terms,
                "n_questions": len(members),
                "unanswered": sum(1 for r in members if r["answered_ts"] is None),
                "askers": sorted({r["author_member"] for r in members if r["author_member"]}),
                "typical": shown[0] if shown else "",
                "examples": shown[1:],
            }
        )
    return out
