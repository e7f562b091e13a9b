"""Replies in chat without threads: a message right after another person's takes it up, and a message
naming someone ("@bob: ...") answers that person's latest message within hours, whatever was said in
between; a person's further lines continue their turn. Planted channels show each rule, its limits, and that an update reads a late message as a full
run does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import covalue
from covalue import diagnosis, journey
from covalue.update_check import differences as _differences
from covalue.update_check import updating_workspace as _updating

T0 = datetime(2016, 3, 1, 9)
SPACE = "slack:team:general"


def _msg(n: int, who: str, minutes: float, text: str) -> dict:
    return {
        "item_id": f"slack:team:{n}",
        "source": "slack:team",
        "space_id": SPACE,
        "community_id": "team",
        "author_id": who,
        "created_at": T0 + timedelta(minutes=minutes),
        "kind": "post",
        "parent_id": None,
        "thread_id": f"slack:team:{n}",
        "text": text,
    }


def _mention(n: int, who: str, whom: str, minutes: float) -> dict:
    return {
        "action_id": f"slack:team:{n}:mention:{whom}",
        "source": "slack:team",
        "space_id": SPACE,
        "community_id": "team",
        "ts": T0 + timedelta(minutes=minutes),
        "actor_id": who,
        "verb": "mention",
        "item_id": f"slack:team:{n}",
        "target_id": whom,
    }


def _channel(ws: covalue.Workspace, items: list[dict], mentions: list[dict]) -> None:
    people = {r["author_id"] for r in items} | {m["target_id"] for m in mentions}
    ws.append(
        "identities",
        [
            {
                "identity_id": p,
                "member_id": p,
                "source": "slack:team",
                "native_id": p,
                "is_bot": p == "deploybot",
            }
            for p in sorted(people)
        ],
    )
    ws.append(
        "members",
        [{"member_id": p, "source": "slack:team", "is_bot": p == "deploybot"} for p in sorted(people)],
    )
    ws.append(
        "spaces", [{"space_id": SPACE, "source": "slack:team", "name": "general", "community_id": "team"}]
    )
    ws.append("items", items)
    if mentions:
        ws.append("actions", mentions)


def _parents(ws: covalue.Workspace) -> dict[int, tuple[int | None, bool]]:
    rows = ws.raw.execute("SELECT item_id, parent_id, parent_inferred FROM item_roles").fetchall()
    num = lambda i: None if i is None else int(i.rsplit(":", 1)[1])  # noqa: E731
    return {num(i): (num(p), inferred) for i, p, inferred in rows}


#: other people's notes in every month from January to June, so that the months around an upload hold
#: rows of their own
FILLER = [
    _msg(100 + k, ("carol", "dave")[k % 2], (m * 31 + 9) * 24 * 60 + k * 3, f"note {k}")
    for m in range(-2, 4)
    for k in range(12)
]


def _uploaded_later(
    tmp_path: Path,
    early: list[dict],
    late: list[dict],
    mentions: list[dict] | None = None,
    before: Callable[[covalue.Workspace], bool] | None = None,
) -> covalue.Workspace:
    """A workspace holding ``early`` (and ``mentions``), analysed (``before`` holds then), then ``late``
    added and updated: the update is incremental and equals a full run over everything."""
    inc = _updating(tmp_path / "inc")
    _channel(inc, early, mentions or [])
    journey.analyze(inc)
    assert before is None or before(inc)
    inc.append("items", late)
    run = journey.analyze(inc)
    assert run.mode.startswith("incremental"), run.mode
    full = covalue.init(tmp_path / "full")
    _channel(full, early + late, mentions or [])
    journey.analyze(full)
    assert _differences(inc, full) == {}
    full.close()
    return inc


def _answered(ws: covalue.Workspace, n: int) -> datetime | None:
    q = "SELECT answered_ts FROM item_facts WHERE item_id = ?"
    return ws.raw.execute(q, [f"slack:team:{n}"]).fetchone()[0]


def test_a_message_naming_someone_answers_them(tmp_path: Path) -> None:
    items = [
        _msg(1, "bob", 0, "how do I rerun the quarterly report?"),
        _msg(2, "carol", 5, "lunch at noon, anyone?"),
        _msg(3, "dave", 8, "count me in"),
        # two hours later, and after carol and dave: it names bob, so it answers bob
        _msg(4, "alice", 130, "@bob: ask for the reporting role in the portal, then rerun it"),
        # right after alice, naming nobody: the message before it
        _msg(5, "bob", 133, "that worked, thanks"),
        # naming someone who wrote nothing in the last 12 hours: the message just before it, if close
        _msg(6, "erin", 140, "@frank: are you coming on Thursday?"),
        # naming only its own writer, or naming a bot: neither is an answer to them
        _msg(7, "alice", 1000, "note to self @alice: file the expenses"),
        _msg(8, "deploybot", 1040, "build 42 deployed"),
        _msg(9, "dave", 1046, "@deploybot: thanks!"),
        # more than 12 hours after bob's last message
        _msg(10, "carol", 133 + 13 * 60, "@bob: did the report go out?"),
    ]
    mentions = [
        _mention(4, "alice", "bob", 130),
        _mention(6, "erin", "frank", 140),
        _mention(7, "alice", "alice", 1000),
        _mention(9, "dave", "deploybot", 1046),
        _mention(10, "carol", "bob", 133 + 13 * 60),
    ]
    ws = covalue.init(tmp_path / "ws")
    _channel(ws, items, mentions)
    ws.analyze()
    p = _parents(ws)
    assert p[4] == (1, True)  # named: bob's question, two hours back
    assert p[5] == (4, True)  # right after
    assert p[6] == (5, True)  # frank wrote nothing: the message 7 minutes before
    assert p[7] == (None, False)  # hours after anything, naming only its writer
    assert p[9] == (None, False)  # the bot is no one to answer, and its message no one's turn
    assert p[10] == (None, False)  # bob's last word is 13 hours old
    assert _answered(ws, 1) == T0 + timedelta(minutes=130)
    # the waits that rest on these replies say how they were inferred
    resp = diagnosis.health(ws, period="2016-03")["team"]["responsiveness"]
    assert "or one naming its writer within 12 hours" in resp["inferred_note"]
    ws.close()


def test_a_quiet_channel_answers_hours_later(tmp_path: Path) -> None:
    """Nobody wrote for longer than the 30 minutes after a question: the next message by someone else,
    with nobody between and within three days, takes it up, unless it greets the room, names someone else,
    or follows a turn that asked nothing."""
    h = 60
    items = [
        _msg(1, "bob", 0, "anyone going to the meetup in May?"),
        _msg(2, "alice", 5 * h, "yes, I'll be there with two colleagues"),  # 5 hours on, nothing between
        _msg(3, "bob", 7 * h, "great, see you there"),  # after alice's turn, which asked nothing
        _msg(4, "carol", 30 * h, "does anyone have the slides from March?"),
        _msg(5, "dave", 32 * h, "hi all, I'm new here"),  # greets the room: a new conversation
        _msg(6, "erin", 40 * h, "the room is booked for Thursday"),  # after dave's turn, which asked nothing
        _msg(7, "frank", 60 * h, "where do I find the API keys?"),
        _msg(8, "gina", 62 * h, "@erin: thanks for booking"),  # names someone other than frank
        _msg(9, "hal", 90 * h, "what time does the build run?"),
        _msg(10, "ivy", 90 * h + 73 * h, "at six"),  # more than three days after: not taken up
    ]
    mentions = [_mention(8, "gina", "erin", 62 * h)]
    ws = covalue.init(tmp_path / "ws")
    _channel(ws, items, mentions)
    ws.analyze()
    p = _parents(ws)
    assert p[2] == (1, True) and p[3] == (None, False)
    assert p[5] == (None, False)
    assert p[6] == (None, False)
    assert p[8] == (None, False)
    assert p[10] == (None, False)
    assert _answered(ws, 1) == T0 + timedelta(minutes=5 * h)
    assert _answered(ws, 4) is None and _answered(ws, 7) is None and _answered(ws, 9) is None
    resp = diagnosis.health(ws, period="2016-03")["team"]["responsiveness"]
    assert (
        "the next message by someone else within 72 hours of a question nobody took up"
        in resp["inferred_note"]
    )
    ws.close()
    # the rule is the model's: with chat_quiet_reply_hours = 0 only the 30 minutes count
    off = covalue.init(tmp_path / "off")
    toml = off.path / "covalue.toml"
    toml.write_text(toml.read_text() + "\n[model.roles.conversation]\nchat_quiet_reply_hours = 0\n")
    off = covalue.open(off.path)
    _channel(off, items, mentions)
    off.analyze()
    assert _parents(off)[2] == (None, False)
    off.close()


@pytest.mark.parametrize("late_one", [2, 1], ids=["answer-later", "question-later"])
def test_an_update_reads_a_slow_answer_across_the_month(tmp_path: Path, late_one: int) -> None:
    """bob asks on the evening of 31 March; alice answers at nine the next morning. Whichever of the two
    comes in a later upload, the question is answered as in a full run: the answer's month alone is new,
    or the question's alone (an export of March sent late)."""
    evening = 30 * 24 * 60 + 11 * 60  # 31 March, 20:00
    pair = {
        1: _msg(1, "bob", evening, "is the quarterly report still broken?"),
        2: _msg(2, "alice", evening + 13 * 60, "fixed yesterday, rerun it"),
    }
    early = [pair[3 - late_one], _msg(50, "alice", 0, "good morning"), _msg(51, "bob", 1, "morning"), *FILLER]
    inc = _uploaded_later(tmp_path, early, [pair[late_one]])
    assert _parents(inc)[2] == (1, True)
    assert _answered(inc, 1) == T0 + timedelta(minutes=evening + 13 * 60)
    inc.close()


def test_an_answer_after_a_turn_of_several_lines_answers_its_question(tmp_path: Path) -> None:
    """People ask in several lines and are answered after the last: the answer takes up the turn's
    question, not its last line; the lines after a question continue it, so an answer coming long after
    the question still reaches it."""
    items = [
        _msg(1, "bob", 0, "how do I export the chart?"),
        _msg(2, "bob", 1, "it only saves a blank png"),
        _msg(3, "bob", 2, "using the web app"),
        _msg(4, "alice", 6, "use the download menu instead of the browser's save"),
        # a question more than 30 minutes older than the answer: the lines after it continue it
        _msg(5, "carol", 300, "anyone else at the meetup tonight?"),
        _msg(6, "carol", 320, "I'll bring the projector"),
        _msg(7, "carol", 340, "and the cables"),
        _msg(8, "dave", 345, "great, thanks"),
        # a turn without a question: its first line
        _msg(9, "erin", 600, "the new release is out"),
        _msg(10, "erin", 601, "with the map view"),
        _msg(11, "frank", 603, "nice, trying it now"),
    ]
    ws = covalue.init(tmp_path / "ws")
    _channel(ws, items, [])
    ws.analyze()
    p = _parents(ws)
    # each answer goes to the turn it follows: its question, or its first line
    assert p[4] == (1, True) and p[8] == (5, True) and p[11] == (9, True)
    # the further lines continue their writer's turn, and are no replies to anyone
    assert p[2] == (1, True) and p[3] == (1, True) and p[6] == (5, True) and p[10] == (9, True)
    assert _continues(ws) == {2, 3, 6, 7, 10}
    assert _answered(ws, 1) == T0 + timedelta(minutes=6)
    ws.close()


def _continues(ws: covalue.Workspace) -> set[int]:
    rows = ws.raw.execute("SELECT item_id FROM item_roles WHERE continues").fetchall()
    return {int(i.rsplit(":", 1)[1]) for (i,) in rows}


def test_a_turn_of_several_lines_is_one_conversation(tmp_path: Path) -> None:
    """A reader sees one conversation in a person's lines that follow each other, not one per line: the
    lines join the thread of the turn's first line, or of its latest line that asks or proposes. A
    pause longer than the reply gap, someone else's line, or a new day start a new one; so does a line
    that names someone (it answers them)."""
    items = [
        _msg(1, "bob", 0, "hi all"),
        _msg(2, "bob", 1, "how do I export the chart?"),
        _msg(3, "bob", 2, "it only saves a blank png"),
        _msg(4, "bob", 40, "still stuck on this"),  # 38 minutes later: a new conversation
        _msg(5, "alice", 45, "which browser?"),
        _msg(6, "alice", 46, "firefox has a known bug there"),
        _msg(7, "bob", 50, "@alice: firefox, yes"),
        _msg(8, "bob", 51, "I will try chrome"),
        # the last minute of a day and the first of the next: two days, two conversations
        _msg(9, "carol", 14 * 60 + 59, "the release notes are up"),
        _msg(10, "carol", 15 * 60 + 1, "with the map view described"),
        _msg(11, "carol", 15 * 60 + 2, "I suggest we add a changelog page to the site for every release"),
        _msg(12, "carol", 15 * 60 + 3, "with a link from the footer"),
    ]
    ws = covalue.init(tmp_path / "ws")
    _channel(ws, items, [_mention(7, "bob", "alice", 50)])
    ws.analyze()
    p = _parents(ws)
    assert p[2] == (None, False)  # a question opens a conversation of its own, within the turn
    assert p[3] == (2, True)  # ... which the next line continues
    assert p[4] == (None, False)
    assert p[5] == (4, True) and p[6] == (5, True)  # alice's answer, in two lines
    assert p[7] == (5, True)  # bob names alice: her turn
    assert p[8] == (7, True)  # and goes on with his own
    assert p[10] == (None, False)  # a new day
    assert p[11] == (None, False) and p[12] == (11, True)  # a proposal opens a conversation too
    assert _continues(ws) == {3, 6, 8, 12}
    roots = ws.raw.execute("SELECT count(*) FROM item_roles WHERE is_root").fetchone()[0]
    assert roots == 6  # 1, 2, 4, 9, 10, 11: not one per line
    # a further line of one's own turn is no answer to one's own question, whatever it says
    assert ws.raw.execute("SELECT is_answer FROM item_roles WHERE item_id = 'slack:team:3'").fetchone() == (
        False,
    )
    ws.close()


def test_threads_turn_the_rules_off(tmp_path: Path) -> None:
    """A channel-month with a threaded reply uses threads: a top-level message there is a new
    conversation, even when it names someone."""
    items = [
        _msg(1, "bob", 0, "how do I rerun the quarterly report?"),
        _msg(2, "alice", 60, "@bob: ask for the reporting role"),
        {**_msg(3, "carol", 70, "is this about Q1?"), "kind": "reply", "parent_id": "slack:team:1"},
    ]
    ws = covalue.init(tmp_path / "ws")
    _channel(ws, items, [_mention(2, "alice", "bob", 60)])
    ws.analyze()
    p = _parents(ws)
    assert p[2] == (None, False) and p[3] == (1, False)
    ws.close()


def test_a_late_message_is_read_into_the_next_month(tmp_path: Path) -> None:
    """bob's question of the evening of 31 March arrives with a later upload; alice's "@bob: ..." of the
    next morning answered his earlier "hello" until then, and must now answer the question, although
    no new row touches April. The update equals a full run."""
    evening = 30 * 24 * 60 + 9 * 60  # 31 March, 18:00
    early = [
        _msg(1, "bob", evening, "hello all"),
        _msg(3, "alice", evening + 12 * 60, "@bob: ask for the reporting role in the portal"),
        *FILLER,
    ]
    late = [_msg(2, "bob", evening + 120, "how do I rerun the quarterly report?")]
    mention = [_mention(3, "alice", "bob", evening + 12 * 60)]
    inc = _uploaded_later(tmp_path, early, late, mention, before=lambda ws: _parents(ws)[3] == (1, True))
    assert _parents(inc)[3] == (2, True)
    inc.close()


def test_a_late_answer_to_a_long_turn_reaches_its_first_line(tmp_path: Path) -> None:
    """bob writes one line every 25 minutes on the evening of 31 March, one turn; alice's answer of
    00:10 on 1 April arrives with a later upload and goes to the turn's first line, three hours back in
    a month no new row touches. The update equals a full run."""
    evening = 30 * 24 * 60 + 12 * 60  # 31 March, 21:00
    lines = ["hello all", "anyone around", "the export is broken", "tried it twice", "on two machines",
             "same blank file", "it was fine last week", "no idea what changed"]  # fmt: skip
    early = [_msg(1 + k, "bob", evening + 25 * k, text) for k, text in enumerate(lines)]
    early += [_msg(50, "alice", 0, "good morning"), *FILLER]
    late = [_msg(9, "alice", evening + 190, "the update broke it, roll back to 2.1")]
    one_turn = lambda ws: all(_parents(ws)[n] == (1, True) for n in range(2, 9))  # noqa: E731
    inc = _uploaded_later(tmp_path, early, late, before=one_turn)
    assert _parents(inc)[9] == (1, True)
    q = "SELECT first_response_ts FROM item_facts WHERE item_id = 'slack:team:1'"
    assert inc.raw.execute(q).fetchone()[0] == T0 + timedelta(minutes=evening + 190)
    inc.close()


def test_a_discord_csv_keeps_who_spoke_first_within_a_minute(tmp_path: Path) -> None:
    """DiscordChatExporter's CSV times stop at the minute. A question and its answer in the same minute
    keep the page's order, so the answer follows the question (and answers it) whatever their ids."""
    from test_relays import _export, _row

    rows = [
        _row("1", "ann#0001", "01-Nov-19 10:00 AM", "does the new wallet work on macOS?"),
        _row("2", "ben#0002", "01-Nov-19 10:00 AM", "yes, version 0.3 does"),
        _row("1", "ann#0001", "01-Nov-19 10:00 AM", "great, thanks"),
    ]
    ws = covalue.init(tmp_path / "ws")
    ws.ingest([_export(tmp_path / "guild.tar.gz", rows)])
    times = [r[0] for r in ws.raw.execute("SELECT created_at FROM items ORDER BY created_at").fetchall()]
    assert [t.microsecond for t in times] == [0, 1, 2] and len({t.replace(microsecond=0) for t in times}) == 1
    ws.analyze()
    facts = dict(
        ws.raw.execute(
            "SELECT i.text, f.answered_ts IS NOT NULL FROM item_facts f JOIN items i USING (item_id) "
            "WHERE f.is_question AND f.is_root"
        ).fetchall()
    )
    assert facts == {"does the new wallet work on macOS?": True}
    ws.close()
