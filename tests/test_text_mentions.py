"""Mentions written as plain text (Discord's CSV pages): ``@name`` in a message names the person of that
name in the export, the longest name first and only where the name ends; shared names, one's own name and
``@everyone`` name nobody; a person's own account wins over a bridge's writer of the same nick, except in a
message the bridge relayed, which names the people of its side. A message
naming one person then answers them by name (metrics/chat_replies.py); one naming several answers none."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import covalue
from covalue import text_mentions
from test_relays import _export, _row


def _named(ws: covalue.Workspace) -> dict[str, set[str]]:
    """Per message text, the display names of the people it mentions."""
    rows = ws.raw.execute(
        "SELECT i.text, d.display_name FROM actions a JOIN items i USING (item_id) "
        "JOIN identities d ON d.identity_id = a.target_id WHERE a.verb = 'mention'"
    ).fetchall()
    out: dict[str, set[str]] = {}
    for text, name in rows:
        out.setdefault(text, set()).add(name)
    return out


ROWS = [
    _row("1", "Sri - Lead#0001", "01-Nov-19 10:00 AM", "welcome all, ask here"),
    _row("2", "Sri#0002", "01-Nov-19 10:01 AM", "hello"),
    _row("3", "ann#0003", "01-Nov-19 10:02 AM", "how do I sync the wallet?"),
    _row("4", "annabel#0004", "01-Nov-19 10:03 AM", "same question here"),
    _row("5", "sam#0005", "01-Nov-19 10:04 AM", "hi"),
    _row("6", "sam#0006", "01-Nov-19 10:05 AM", "hi too"),
    _row("7", "Bridge#0007", "01-Nov-19 10:06 AM", "[telegram] <ann> I am ann on telegram"),
    # the longest name, where it ends
    _row("8", "bob#0008", "01-Nov-19 01:00 PM", "@Sri - Lead is the wallet guide pinned?"),
    _row("9", "bob#0008", "01-Nov-19 01:01 PM", "@annabel did it work for you?"),
    _row("10", "bob#0008", "01-Nov-19 01:02 PM", "@ANN: try -rescan, then restart"),
    # nobody: a shared name, a name going on into a longer word, a channel word, one's own name, an e-mail
    _row("11", "bob#0008", "01-Nov-19 01:03 PM", "@sam which one of you asked?"),
    _row("12", "bob#0008", "01-Nov-19 01:04 PM", "@annie are you there? @everyone look"),
    _row("13", "bob#0008", "01-Nov-19 01:05 PM", "note to self @bob: mail bob@example.org"),
    # the bridge relays three people from telegram; written on that side, "@ann" is the ann it relays
    _row("7", "Bridge#0007", "01-Nov-19 10:07 AM", "[telegram] <cy> hello from telegram"),
    _row("7", "Bridge#0007", "01-Nov-19 10:08 AM", "[telegram] <dee> hi all"),
    _row("7", "Bridge#0007", "01-Nov-19 01:06 PM", "[telegram] <cy> @ann which wallet did you use?"),
]


def test_names_after_an_at_are_read_as_mentions(tmp_path: Path) -> None:
    ws = covalue.init(tmp_path / "ws")
    (res,) = ws.ingest([_export(tmp_path / "guild.tar.gz", ROWS)])
    assert res.status == "ok", res.messages
    named = _named(ws)
    assert named == {
        "@Sri - Lead is the wallet guide pinned?": {"Sri - Lead#0001"},
        "@annabel did it work for you?": {"annabel#0004"},
        # ann's own account, not the bridge's writer "ann"
        "@ANN: try -rescan, then restart": {"ann#0003"},
        # but a message the bridge relayed names the ann of its own side
        "@ann which wallet did you use?": {"ann"},
    }
    assert any("4 mentions written as plain text" in m for m in res.messages)
    assert res.added["actions"] == 4  # the ingest counts the mentions it added
    # read again: nothing twice
    (again,) = ws.ingest([_export(tmp_path / "guild.tar.gz", ROWS)])
    assert ws.raw.execute("SELECT count(*) FROM actions WHERE verb = 'mention'").fetchone()[0] == 4
    assert not any("mentions written as plain text" in m for m in again.messages)
    # ann's question of 10:02 gets bob's answer of 13:02 by name, three hours on
    ws.analyze()
    parent = ws.raw.execute(
        "SELECT p.text FROM item_roles r JOIN items i USING (item_id) JOIN items p ON p.item_id = r.parent_id "
        "WHERE i.text LIKE '@ANN%'"
    ).fetchone()
    assert parent == ("how do I sync the wallet?",)
    ws.close()


def test_a_message_naming_several_people_answers_none_of_them_by_name(tmp_path: Path) -> None:
    rows = [
        _row("1", "ann#0001", "01-Nov-19 10:00 AM", "my node is stuck"),
        _row("2", "cy#0002", "01-Nov-19 10:05 AM", "mine too"),
        _row("3", "bob#0003", "01-Nov-19 03:00 PM", "@ann could you add @cy to the testers role"),
        _row("4", "dee#0004", "01-Nov-19 03:01 PM", "@cy restart it with -reindex"),
    ]
    ws = covalue.init(tmp_path / "ws")
    ws.ingest([_export(tmp_path / "guild.tar.gz", rows)])
    assert len(_named(ws)["@ann could you add @cy to the testers role"]) == 2
    ws.analyze()
    parents = dict(
        ws.raw.execute(
            "SELECT i.text, p.text FROM item_roles r JOIN items i USING (item_id) "
            "LEFT JOIN items p ON p.item_id = r.parent_id"
        ).fetchall()
    )
    assert parents["@ann could you add @cy to the testers role"] is None  # hours after anything
    assert parents["@cy restart it with -reindex"] == "mine too"
    ws.close()


def test_find_takes_the_longest_name_that_ends_there() -> None:
    known = text_mentions.index(
        {"sri - lead": "lead", "sri": "sri", "annabel": "annabel", "ann": "ann", "cy": None}
    )
    assert text_mentions.find("@Sri - Lead, @sri and @ann", known) == ["lead", "sri", "ann"]
    assert text_mentions.find("@sri-lead @annie @annabel2 (@ann) ann@annabel.org @cy", known) == ["ann"]
    assert text_mentions.find("no names here @", known) == []


@given(st.text(alphabet="@ab -._#\n", max_size=60))
def test_find_never_crashes_and_names_only_known_people(text: str) -> None:
    known = text_mentions.index({"ab b": "x", "ab": "y", "a.b": "z"})
    found = text_mentions.find(text, known)
    assert set(found) <= {"x", "y", "z"} and len(found) == len(set(found))
    assert not found or "@" in text
