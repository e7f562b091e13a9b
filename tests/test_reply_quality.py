"""``covalue evaluate`` measures the chat reply rules against the replies a platform recorded: on a
chat whose replies stay in the flow (Discord), each recorded reply to another person is hidden, the
roles are read again, and the parent the rules give is compared with the recorded one. A planted
channel has one reply of each outcome; the Komodo archive's figures are in tests/test_relays.py."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

import covalue
from covalue import evaluation
from covalue.cli import app

T0 = datetime(2021, 5, 3, 9)
SPACE = "discord:guild:general"
#: (n, author, minutes after T0, recorded parent or None, text)
LINES = [
    (1, "ann", 0, None, "my node stops syncing at block 100, any idea?"),
    (2, "bob", 2, 1, "restart it with -reindex"),  # right after what it answers: right message
    (3, "cat", 10, None, "anyone tried the new wallet?"),
    (4, "dan", 12, None, "yes, it works fine"),
    (5, "ann", 14, 2, "thanks, that worked"),  # answers bob while dan spoke last: wrong person
    (9, "bob", 22, None, "also check your disk space"),
    (10, "dan", 23, 2, "did the reindex take long?"),  # bob spoke last, in another line: right person
    # more than three days after dan's question, which nobody took up: no parent
    (11, "fay", 74 * 60, 1, "same here, block 100"),
    (12, "deploybot", 74 * 60 + 1, 11, "build 512 deployed"),  # a bot's reply is nobody's answer
    (13, "ann", 74 * 60 + 2, 1, "still stuck by the way"),  # a reply to oneself continues a turn
]


def _workspace(tmp_path: Path) -> covalue.Workspace:
    ws = covalue.init(tmp_path / "ws")
    people = sorted({who for _, who, *_ in LINES})
    ws.append(
        "identities",
        [
            {
                "identity_id": p,
                "member_id": p,
                "source": "discord:guild",
                "native_id": p,
                "is_bot": p == "deploybot",
            }
            for p in people
        ],
    )
    ws.append(
        "members", [{"member_id": p, "source": "discord:guild", "is_bot": p == "deploybot"} for p in people]
    )
    ws.append(
        "spaces", [{"space_id": SPACE, "source": "discord:guild", "name": "general", "community_id": "guild"}]
    )
    ws.append(
        "items",
        [
            {
                "item_id": f"discord:guild:{n}",
                "source": "discord:guild",
                "space_id": SPACE,
                "community_id": "guild",
                "author_id": who,
                "created_at": T0 + timedelta(minutes=m),
                "kind": "post" if parent is None else "reply",
                "parent_id": None if parent is None else f"discord:guild:{parent}",
                "thread_id": f"discord:guild:{parent or n}",
                "text": text,
            }
            for n, who, m, parent, text in LINES
        ],
    )
    return ws


def test_each_recorded_reply_is_scored_once(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    got = evaluation.reply_quality(ws)
    # 2, 5, 10 and 11 answer another person; the bot's and ann's reply to herself are not scored
    assert got == {"replies": 4, "linked": 3, "right_message": 1, "right_person": 2}
    ws.close()

    out = CliRunner().invoke(app, ["evaluate", "-w", str(tmp_path / "ws"), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["chat_replies"] == got
    out = CliRunner().invoke(app, ["evaluate", "-w", str(tmp_path / "ws")])
    assert out.exit_code == 0, out.output
    assert "against 4 replies the platform recorded" in out.output
    assert "right for 67% of them (2)" in " ".join(out.output.split())


def test_a_chat_that_records_no_reply_has_nothing_to_score(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    ws.raw.execute("UPDATE items SET kind = 'post', parent_id = NULL, thread_id = item_id")
    assert evaluation.reply_quality(ws)["replies"] == 0
    ws.close()
