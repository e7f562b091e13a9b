"""Chat without threads: replies are inferred from who spoke next in the same channel, and when."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import covalue
from covalue import journey

MONTH = 31 * 24 * 60  # minutes from 2024-03-10 to 2024-04-10


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


def _roles(ws: covalue.Workspace, rows: list[dict]) -> dict[str, Any]:
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
    return _column(ws, "parent_id")


def _column(ws: covalue.Workspace, col: str) -> dict[str, Any]:
    t = journey.derived(ws, "item_roles").select("item_id", col).to_pyarrow().to_pylist()
    return {r["item_id"]: r[col] for r in t}


def test_chat_messages_answer_the_previous_speaker(ws: covalue.Workspace) -> None:
    rows = [
        _msg(1, "ann", 0),
        _msg(2, "bob", 5),  # bob answers ann within minutes
        _msg(3, "bob", 7),  # bob again: his turn goes on (no reply to himself)
        _msg(4, "bot", 8),  # bots are skipped
        _msg(5, "cat", 9),  # cat follows bob's turn (the bot does not count)
        _msg(6, "ann", 200),  # hours later: a new conversation
        # a month later the channel uses threads: a threaded reply keeps its parent
        _msg(7, "eve", MONTH),
        _msg(8, "dan", MONTH + 1, parent="slack:team:7"),
    ]
    parents = _roles(ws, rows)
    assert parents["slack:team:1"] is None
    assert parents["slack:team:2"] == "slack:team:1"
    assert parents["slack:team:3"] == "slack:team:2"
    assert parents["slack:team:5"] == "slack:team:2"
    assert parents["slack:team:6"] is None
    assert parents["slack:team:8"] == "slack:team:7"


def test_forums_are_left_alone(ws: covalue.Workspace) -> None:
    rows = [_msg(1, "ann", 0, source="discourse:forum"), _msg(2, "bob", 5, source="discourse:forum")]
    parents = _roles(ws, rows)
    assert parents["discourse:forum:2"] is None


def test_no_inference_in_a_channel_and_month_that_use_threads(ws: covalue.Workspace) -> None:
    rows = [
        # March: ann's post has a thread; bob and cat post at the top level right after her
        _msg(1, "ann", 0),
        _msg(2, "bob", 3),
        _msg(3, "dan", 50, parent="slack:team:1"),  # the thread's real first reply, 50 minutes on
        _msg(4, "cat", 55),
        # April in the same channel, no thread: replies are inferred again
        _msg(5, "ann", MONTH),
        _msg(6, "bob", MONTH + 4),
        # another channel in March, no thread: inferred too
        {**_msg(7, "ann", 0), "space_id": "slack:team:random"},
        {**_msg(8, "cat", 2), "space_id": "slack:team:random"},
    ]
    parents = _roles(ws, rows)
    inferred = _column(ws, "parent_inferred")
    assert parents["slack:team:2"] is None and parents["slack:team:4"] is None
    assert parents["slack:team:3"] == "slack:team:1" and inferred["slack:team:3"] is False
    assert parents["slack:team:6"] == "slack:team:5" and inferred["slack:team:6"] is True
    assert parents["slack:team:8"] == "slack:team:7" and inferred["slack:team:8"] is True
    assert not any(inferred[f"slack:team:{n}"] for n in (1, 2, 3, 4, 5, 7))


def test_a_message_with_its_own_thread_is_never_moved(ws: covalue.Workspace) -> None:
    # bob's post follows ann's within minutes, but its reply comes the next month: the month of the
    # posts has no threaded reply, and bob's post still keeps its own thread
    rows = [_msg(1, "ann", 0), _msg(2, "bob", 4), _msg(3, "cat", MONTH, parent="slack:team:2")]
    parents = _roles(ws, rows)
    assert parents["slack:team:2"] is None
    assert parents["slack:team:3"] == "slack:team:2"
