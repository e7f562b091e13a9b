"""Chat without threads: replies are inferred from who spoke next in the same channel, and when."""

from __future__ import annotations

from datetime import datetime, timedelta

import covalue
from covalue import analysis


def _msg(n: int, who: str, minute: int, source: str = "slack:team", parent: str | None = None) -> dict:
    return {
        "item_id": f"{source}:{n}",
        "source": source,
        "space_id": f"{source}:general",
        "community_id": "c",
        "author_id": who,
        "created_at": datetime(2024, 3, 10, 9) + timedelta(minutes=minute),
        "kind": "reply" if parent else "post",
        "parent_id": parent,
        "text": "hello there",
    }


def _roles(ws: covalue.Workspace, rows: list[dict]) -> dict[str, str | None]:
    people = {r["author_id"] for r in rows}
    ws.append(
        "identities",
        [
            {"identity_id": p, "member_id": p, "source": "s", "native_id": p, "is_bot": p == "bot"}
            for p in people
        ],
    )
    ws.append("items", rows)
    ws.analyze()
    t = analysis.derived(ws, "item_roles").select("item_id", "parent_id").to_pyarrow().to_pylist()
    return {r["item_id"]: r["parent_id"] for r in t}


def test_chat_messages_answer_the_previous_speaker(ws: covalue.Workspace) -> None:
    rows = [
        _msg(1, "ann", 0),
        _msg(2, "bob", 5),  # bob answers ann within minutes
        _msg(3, "bob", 7),  # bob again: not a reply to himself
        _msg(4, "bot", 8),  # bots are skipped
        _msg(5, "cat", 9),  # cat follows bob (the bot does not count)
        _msg(6, "ann", 200),  # hours later: a new conversation
        _msg(7, "dan", 201, parent="slack:team:6"),  # a threaded reply keeps its parent
    ]
    parents = _roles(ws, rows)
    assert parents["slack:team:1"] is None
    assert parents["slack:team:2"] == "slack:team:1"
    assert parents["slack:team:3"] is None
    assert parents["slack:team:5"] == "slack:team:3"
    assert parents["slack:team:6"] is None
    assert parents["slack:team:7"] == "slack:team:6"


def test_forums_are_left_alone(ws: covalue.Workspace) -> None:
    rows = [_msg(1, "ann", 0, source="discourse:forum"), _msg(2, "bob", 5, source="discourse:forum")]
    parents = _roles(ws, rows)
    assert parents["discourse:forum:2"] is None
