"""Who answered which questions lately: the answers a coaching prompt may draw on to name the members
who know a waiting question's theme and answer it fast.

Each row is one member's first answer to someone else's question asked within the months a prompt may
cite (``max_age_months`` to the end of the period shown), with the question's words (title and the
start of its text), the space it was asked in and the hours it waited for that answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from covalue import journey, privacy
from covalue.periods import month_start, period_index

if TYPE_CHECKING:
    from covalue.workspace import Workspace

#: answers kept per community, newest first: enough to find who knows a theme, bounded for large sites
LIMIT = 5000


def recent_answers(
    ws: Workspace, periods: dict[str, str], *, months: int = 12, limit: int = LIMIT
) -> dict[str, list[dict[str, Any]]]:
    """Per community id: its members' answers to other members' questions asked in the ``months``
    months to the end of ``periods[cid]`` (YYYY-MM), newest first, each with ``member_id``, ``label``
    (as the workspace's privacy settings show people), ``question_id``, ``text`` (title and excerpt),
    ``space``, ``space_kind`` and ``hours`` (from the question to this member's first answer)."""
    out: dict[str, list[dict[str, Any]]] = {}
    f = journey.derived(ws, "item_facts")
    items, spaces = ws.table("items"), ws.table("spaces")
    for cid, period in sorted(periods.items()):
        try:
            end_idx = period_index(period) + 1
        except ValueError:
            continue
        until, since = month_start(end_idx), month_start(end_idx - months)
        a = f.filter(
            (f.community_id == cid)
            & f.helps_other
            & f.answers_item.notnull()
            & f.author_member.notnull()
            & (f.created_at < until)
        )
        a = a.group_by(_qid=a.answers_item, member_id=a.author_member).aggregate(_ans=a.created_at.min())
        q = items.filter(
            (items.community_id == cid) & (items.created_at >= since) & (items.created_at < until)
        )
        q = q.select(
            _iid=q.item_id, _asked=q.created_at, _sid=q.space_id, _title=q.title, _text=q.text.substr(0, 300)
        )
        j = a.join(q, a._qid == q._iid)
        sp = spaces.select(_spid=spaces.space_id, space=spaces.name, space_kind=spaces.kind)
        j = j.left_join(sp, j._sid == sp._spid)
        j = j.order_by([j._ans.desc(), j._qid, j.member_id]).limit(limit)
        rows = j.select("member_id", "_qid", "_asked", "_ans", "_title", "_text", "space", "space_kind")
        got = rows.to_pyarrow().to_pylist()
        out[cid] = [
            {
                "member_id": r["member_id"],
                "question_id": r["_qid"],
                "text": f"{r['_title'] or ''} {r['_text'] or ''}".strip(),
                "space": r["space"],
                "space_kind": r["space_kind"],
                "hours": _hours(r["_asked"], r["_ans"]),
            }
            for r in got
        ]
    names = privacy.labels(ws, [r["member_id"] for rs in out.values() for r in rs])
    for rs in out.values():
        for r in rs:
            r["label"] = names.get(r["member_id"], privacy.pseudonym(r["member_id"]))
    return out


def _hours(asked: datetime | None, answered: datetime | None) -> float | None:
    """Hours from a question to an answer; an answer dated before its question (moved or merged posts)
    counts as immediate."""
    if asked is None or answered is None:
        return None
    return max((answered - asked).total_seconds() / 3600.0, 0.0)
