"""Replies a bridge writes into the text, ``thanks (re @bob: try -rescan)``, answer the message they quote:
on a planted Discord export the quoted message is found by its own words, the quote leaves the text,
a chain of such replies stays in one thread, a question answered an hour later counts as answered, the
next message of the channel may answer a reply, and nothing is guessed where no message matches. (The
real Komodo archive is counted in test_relays.)"""

from __future__ import annotations

from pathlib import Path

import covalue
from test_relays import _export, _row


def _planted(tmp_path: Path) -> Path:
    b = ("7", "Bridge#0007")
    rows = [
        _row(*b, "01-Nov-19 10:00 AM", "[telegram] <alice> does anyone know how to sync the wallet?"),
        _row("3", "spam#0003", "01-Nov-19 10:01 AM", "buy coins now, best rates"),
        # 40 minutes later: beyond the chat reply gap, so only the quote says what it answers
        _row(
            *b,
            "01-Nov-19 10:40 AM",
            "[telegram] <bob> restart it with -rescan (re @alice: does anyone know how to sync the wallet?)",
        ),
        _row(
            *b,
            "01-Nov-19 10:41 AM",
            "[telegram] <carol> worked for me too (re @bob: restart it with -rescan)",
        ),
        _row("1", "dave#0001", "01-Nov-19 10:45 AM", "an old joke (re @zed: nobody wrote this here)"),
        _row(*b, "01-Nov-19 11:50 AM", "[matrix] <erin> +1 (re @ghost: a message this export does not hold)"),
        _row(*b, "01-Nov-19 11:55 AM", "[matrix] <carol> hello from matrix"),
    ]
    return _export(tmp_path / "guild.tar.gz", rows)


def _items(ws: covalue.Workspace) -> dict[str, tuple]:
    """Per text: (item id, kind, parent id, thread id, words)."""
    rows = ws.raw.execute("SELECT text, item_id, kind, parent_id, thread_id, n_words FROM items").fetchall()
    return {r[0]: r[1:] for r in rows}


def test_a_quoted_reply_answers_the_message_it_quotes(tmp_path: Path) -> None:
    path = _planted(tmp_path)
    ws = covalue.init(tmp_path / "ws")
    res = ws.ingest([path])[0]
    assert any("2 messages that quote the message they answer" in m for m in res.messages), res.messages
    it = _items(ws)
    ask = it["does anyone know how to sync the wallet?"]
    bob = it["restart it with -rescan"]
    carol = it["worked for me too"]
    # the quote left the text and its words the count; the reply is in the question's thread
    assert bob[1:] == ("reply", ask[0], ask[0], 4)
    # a reply to a reply: same thread
    assert carol[1:] == ("reply", bob[0], ask[0], 4)
    # nobody wrote the quoted words in this channel: a member's own text stays as written ...
    assert it["an old joke (re @zed: nobody wrote this here)"][1:3] == ("post", None)
    # ... while a relayed writer's quote is the bridge's, so it leaves the text even unmatched
    assert it["+1"][1:3] == ("post", None)
    # read again: nothing more to link, nothing changed
    again = ws.ingest([path])[0]
    assert not any("quote the message" in m for m in again.messages)
    assert _items(ws) == it

    ws.analyze()
    facts = {
        r[0]: r[1:]
        for r in ws.raw.execute(
            "SELECT item_id, is_question, answered_ts IS NOT NULL, parent_id, parent_inferred FROM item_facts"
        ).fetchall()
    }
    # answered 40 minutes later: only the quote links the answer
    assert facts[ask[0]][:2] == (True, True)
    # a reply stays in the channel's flow: dave's message 4 minutes after carol's follows it
    dave = it["an old joke (re @zed: nobody wrote this here)"][0]
    assert facts[dave][2:] == (carol[0], True)
    ws.close()


def test_on_a_threaded_chat_a_quote_does_not_make_a_thread(tmp_path: Path) -> None:
    """Where the platform's replies leave the channel for threads of their own (Slack, Mattermost ...), a
    reply would say the channel uses threads and turn off reading its flow: there the quote only leaves
    a relayed writer's text. With Discord counted among those platforms, the planted export shows it."""
    (tmp_path / "ws").mkdir()
    ws = covalue.init(tmp_path / "ws")
    ws.close()
    toml = tmp_path / "ws" / "covalue.toml"
    toml.write_text(toml.read_text() + "\n[model.roles.conversation]\ninline_reply_platforms = []\n")
    ws = covalue.open(tmp_path / "ws")
    res = ws.ingest([_planted(tmp_path)])[0]
    assert not any("quote the message" in m for m in res.messages)
    it = _items(ws)
    assert it["restart it with -rescan"][1:3] == ("post", None)
    assert all(v[1] == "post" for v in it.values())
    ws.close()
