"""Relayed messages: a bridge account posting for people on another network is not one member. On a
planted Discord export and on the real Komodo archive (counted from its raw CSV files), each relayed
message goes to its writer, the relay becomes a bot, a person who quotes a chat log is not a relay, and
people who asked to be forgotten stay forgotten when the export is read again."""

from __future__ import annotations

import csv
import io
import re
import tarfile
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import covalue
from covalue import evaluation, relays
from covalue.rights.forget import forget
from covalue.rights.people import resolve
from covalue.update_check import differences as _differences
from covalue.update_check import updating_workspace as _updating

HEADER = "AuthorID;Author;Date;Content;Attachments;Reactions;\n"
#: written apart from the product's pattern: a network without a colon, then a nick of at most 128
#: characters in angle brackets (one spam name of 253 characters in the Komodo archive stays the bridge's)
RELAYED = re.compile(r"^\[([^\]:]{1,30})\] <([^<>\n]{1,128})>(?:\s|$)")
#: where a bridge's quote of the message replied to starts, also written apart from the product's
QUOTE_MARK = re.compile(r"\(re @[^:()\n]{1,64}: ")


def _row(aid: str, name: str, date: str, content: str, react: str = "") -> str:
    q = [f'"{v.replace(chr(34), chr(34) * 2)}"' for v in (aid, name, date, content, "", react)]
    return ";".join(q) + ";\n"


def _export(path: Path, rows: list[str]) -> Path:
    data = (HEADER + "".join(rows)).encode()
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo("csv/Community/general/1.csv")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return path


def _planted(tmp_path: Path, more: list[str] | None = None) -> Path:
    rows = [
        _row(
            "7",
            "Bridge#0007",
            "01-Nov-19 10:00 AM",
            "[telegram] <alice> does anyone know how to sync the wallet?",
        ),
        _row(
            "7",
            "Bridge#0007",
            "01-Nov-19 10:02 AM",
            "[telegram] <bob> restart it with -rescan, that fixed it for me",
        ),
        _row(
            "7", "Bridge#0007", "01-Nov-19 10:03 AM", "[telegram] <alice> thanks bob, that worked", "👍 (1)"
        ),
        _row("7", "Bridge#0007", "01-Nov-19 11:00 AM", "[matrix] <carol> hello from matrix"),
        _row("7", "Bridge#0007", "01-Nov-19 11:05 AM", "[telegram] <alice>"),
        _row("7", "Bridge#0007", "01-Nov-19 11:06 AM", "bridge restarted"),
        _row("1", "dave#0001", "01-Nov-19 11:10 AM", "[irc] <erin> pasted from the other channel"),
        _row("1", "dave#0001", "01-Nov-19 11:11 AM", "see above, it is the same bug"),
        _row("1", "dave#0001", "01-Nov-19 11:12 AM", "I will file it today"),
        _row("2", "frank#0002", "01-Nov-19 11:20 AM", "[12:01] <gina> a pasted log line is not relayed"),
    ]
    return _export(tmp_path / "guild.tar.gz", rows + (more or []))


def _authors(ws: covalue.Workspace) -> dict[str, tuple[str, bool, int]]:
    """Per display name: (native id, bot, messages)."""
    rows = ws.raw.execute(
        "SELECT d.display_name, d.native_id, d.is_bot, count(i.item_id) FROM identities d "
        "LEFT JOIN items i ON i.author_id = d.identity_id GROUP BY ALL"
    ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def test_planted_relay(tmp_path: Path) -> None:
    path = _planted(tmp_path)
    ws = covalue.init(tmp_path / "ws")
    res = ws.ingest([path])[0]
    assert any("5 messages posted by 1 relay account" in m for m in res.messages), res.messages
    who = _authors(ws)
    bridge = who["Bridge"] if "Bridge" in who else next(v for k, v in who.items() if k.startswith("Bridge"))
    # the relay keeps its own line, as a bot
    assert bridge[1] is True and bridge[2] == 1
    assert who["alice"][2] == 3 and who["bob"][2] == 1 and who["carol"][2] == 1
    assert all(not who[n][1] for n in ("alice", "bob", "carol"))
    # each writer is a member of their own, as every account is
    assert (
        res.added["identities"] == res.read["identities"] + 3
        and res.added["members"] == res.read["members"] + 3
    )
    # a person who quotes another network once is no relay, nor is a pasted log line
    dave = next(v for k, v in who.items() if k.startswith("dave"))
    assert dave[1] is False and dave[2] == 3 and "erin" not in who and "gina" not in who
    q = ws.raw.execute
    # the nick leaves the text; the words are counted again
    texts = dict(
        q(
            "SELECT d.display_name || ':' || i.created_at, i.text FROM items i JOIN identities d ON d.identity_id = i.author_id"
        ).fetchall()
    )
    assert "does anyone know how to sync the wallet?" in texts.values()
    assert not any(t and t.startswith("[telegram]") for t in texts.values())
    words = q("SELECT n_words FROM items WHERE text = 'thanks bob, that worked'").fetchone()[0]
    assert words == 4
    # the reaction to alice's thanks is aimed at alice, not at the bridge
    target = q(
        "SELECT d.display_name FROM actions a JOIN identities d ON d.identity_id = a.target_id WHERE a.verb = 'react'"
    ).fetchone()[0]
    assert target == "alice"
    # bob answered alice: a reply from another member (the bridge's two messages were one author before)
    ws.analyze()
    ans = q(
        "SELECT count(*) FROM item_facts f JOIN identities d ON d.member_id = f.author_member "
        "WHERE d.display_name = 'alice' AND f.first_response_ts IS NOT NULL"
    ).fetchone()[0]
    assert ans >= 1
    # read again: nothing new, the same writers
    again = ws.ingest([path])[0]
    assert not any("relay account" in m for m in again.messages)
    assert _authors(ws) == who
    ws.close()


def test_a_forgotten_writer_stays_forgotten(tmp_path: Path) -> None:
    path = _planted(tmp_path)
    ws = covalue.init(tmp_path / "ws")
    ws.ingest([path])
    person = resolve(ws, "relay:7:telegram:alice")  # the relay account, the network, the nick
    forget(ws, person, asked_by="test", reanalyse=False)
    assert "alice" not in _authors(ws)
    res = ws.ingest([path])[0]
    who = _authors(ws)
    assert "alice" not in who and who["bob"][2] == 1
    assert any("forgotten" in m and "3 items" in m for m in res.messages), res.messages
    ws.close()


def _raw_komodo(path: Path) -> tuple[Counter, Counter, set[tuple[str, str, str]], int]:
    """From the archive's CSV files: messages per author, relayed messages per author, the (author,
    network, nick) of each relayed message, and how many messages quote an earlier message of their
    channel as a bridge writes a reply (``own words (re @nick: quoted words)``, the quoted message at
    most 7 days older, compared by its own words)."""
    per_author: Counter = Counter()
    relayed: Counter = Counter()
    nicks: set[tuple[str, str, str]] = set()
    rows: list[tuple[str, datetime, str, str]] = []
    with tarfile.open(path) as tf:
        for m in tf:
            if not m.isfile() or not m.name.endswith(".csv"):
                continue
            channel = m.name.rsplit("/", 1)[0]
            text = tf.extractfile(m).read().decode("utf-8-sig")
            minute, place = None, 0
            for row in csv.DictReader(io.StringIO(text), delimiter=";"):
                aid, content = row["AuthorID"], row["Content"] or ""
                per_author[aid] += 1
                # times stop at the minute: the page's order says who spoke first within one
                place = place + 1 if row["Date"] == minute else 0
                minute = row["Date"]
                at = datetime.strptime(minute, "%d-%b-%y %I:%M %p") + timedelta(microseconds=place)
                rows.append((channel, at, aid, content))
                hit = RELAYED.match(content)
                if hit:
                    relayed[aid] += 1
                    nicks.add((aid, hit.group(1), hit.group(2).strip()))
    return per_author, relayed, nicks, _quoted_replies(rows, relayed.most_common(1)[0][0])


def _quoted_replies(rows: list[tuple[str, datetime, str, str]], relay: str) -> int:
    def unprefixed(text: str) -> str:
        for _ in range(3):  # a bridge behind a bridge
            hit = RELAYED.match(text)
            if not hit:
                break
            text = text[hit.end() :].strip()
        return text

    def own_and_quoted(text: str) -> tuple[str, str | None]:
        mark = QUOTE_MARK.search(text)
        if mark is None or not text.rstrip().endswith(")"):
            return text.strip(), None
        return text[: mark.start()].strip(), unprefixed(text[mark.end() :].rstrip()[:-1].strip()).strip()

    said: dict[tuple[str, str], list[tuple[datetime, int]]] = {}
    quotes = []
    for n, (channel, ts, author, text) in enumerate(rows):
        own, quoted = own_and_quoted(unprefixed(text) if author == relay else text)
        said.setdefault((channel, own), []).append((ts, n))
        if quoted:
            quotes.append((n, channel, ts, quoted))
    return sum(
        any(k != n and ts - timedelta(days=7) <= t <= ts for t, k in said.get((channel, quoted), []))
        for n, channel, ts, quoted in quotes
    )


def test_the_komodo_bridge(tmp_path: Path, shared_data: Path) -> None:
    path = shared_data / "discord" / "komodo-discord-csv.tar.gz"
    per_author, relayed, nicks, quoted_replies = _raw_komodo(path)
    relay, n_relayed = relayed.most_common(1)[0]
    assert n_relayed >= 0.5 * per_author[relay]
    ws = covalue.init(tmp_path / "ws")
    ws.ingest([path])
    q = ws.raw.execute
    native = q(
        f"SELECT native_id FROM identities WHERE identity_id IN (SELECT identity_id FROM {relays.TABLE})"
    ).fetchall()
    assert relay in {r[0] for r in native}
    # every relayed message of the bridge went to its writer; what the bridge said itself stays its own
    moved = q(
        "SELECT count(*) FROM items i JOIN identities d ON d.identity_id = i.author_id WHERE d.native_id LIKE 'relay:%'"
    ).fetchone()[0]
    assert moved == n_relayed
    left = q(
        "SELECT count(*) FROM items i JOIN identities d ON d.identity_id = i.author_id WHERE d.native_id = ?",
        [relay],
    ).fetchone()[0]
    assert left == per_author[relay] - n_relayed
    # one writer per network and nick of the bridge
    first = {(n, k) for a, n, k in nicks if a == relay}
    writers = q("SELECT count(*) FROM identities WHERE native_id LIKE ?", [f"relay:{relay}:%"]).fetchone()[0]
    assert writers == len(first) > 5000
    # no other account is a relay: people who quote another network now and then
    others = {a for a in relayed if a != relay}
    assert others and not others & {r[0] for r in native}
    # replies the bridge wrote as "own words (re @nick: quoted words)" answer the message they quote
    linked = q("SELECT count(*) FROM items WHERE kind = 'reply' AND parent_id IS NOT NULL").fetchone()[0]
    assert linked == quoted_replies > 12000
    ws.analyze()
    # the bridge was the "most active" member, with 47% of the threads started in 2019-11's window
    top = q(
        "SELECT value FROM stage_checks WHERE period = '2019-11' AND measure LIKE 'top author%'"
    ).fetchone()[0]
    assert top < 0.2
    # the flow rules against the 12,106 replies the bridge recorded between two people (covalue
    # evaluate): hidden and read again, 81 % get a parent, and that parent's writer is the person the
    # reply answered for 58 % of them (the very message for 45 %)
    between = q(
        "SELECT count(*) FROM items r JOIN identities a ON a.identity_id = r.author_id "
        "JOIN items p ON p.item_id = r.parent_id JOIN identities b ON b.identity_id = p.author_id "
        "WHERE r.kind = 'reply' AND a.member_id <> b.member_id AND NOT a.is_bot"
    ).fetchone()[0]
    got = evaluation.reply_quality(ws)
    assert got["replies"] == between > 12_000
    assert 0.75 < got["linked"] / got["replies"] < 0.9
    assert 0.5 < got["right_person"] / got["linked"] < 0.7
    assert got["right_message"] < got["right_person"]
    ws.close()


def test_a_second_upload_through_the_bridge_updates_like_a_full_run(tmp_path: Path) -> None:
    """The bridge is found with the first upload; a later month of the same chat brings new writers and
    new messages of known ones. The update gives them to their writers and equals a full run."""
    # a month of ordinary talk besides, so that the later upload is a small part of the workspace
    talk = [
        _row(
            str(20 + k % 5),
            f"member{k % 5}#00{k % 5}",
            f"{1 + k // 10:02d}-Nov-19 0{k % 10}:30 PM",
            f"note {k}",
        )
        for k in range(60)
    ]
    first = _planted(tmp_path, talk)
    (tmp_path / "later").mkdir()
    later = _export(
        tmp_path / "later" / "guild.tar.gz",  # the same server's export, a month on
        [
            _row(
                "7",
                "Bridge#0007",
                "02-Dec-19 09:00 AM",
                "[telegram] <alice> the wallet is stuck again, any idea?",
            ),
            _row(
                "7",
                "Bridge#0007",
                "02-Dec-19 09:04 AM",
                "[telegram] <hana> update to the latest release, it fixes that",
            ),
            _row("1", "dave#0001", "02-Dec-19 09:10 AM", "thanks hana, same here"),
            # a late reply, written as a bridge writes one, to a question of the first upload
            _row(
                "7",
                "Bridge#0007",
                "01-Nov-19 10:50 AM",
                "[telegram] <hana> or try -rescan (re @alice: does anyone know how to sync the wallet?)",
            ),
            _row("7", "Bridge#0007", "02-Dec-19 09:12 AM", "[matrix] <carol> confirmed, works now", "👍 (2)"),
        ],
    )
    inc = _updating(tmp_path / "inc")
    inc.ingest([first])
    inc.analyze()
    inc.ingest([later])
    run = inc.analyze()
    assert run.mode.startswith("incremental"), run.mode
    full = covalue.init(tmp_path / "full")
    full.close()
    # the same key, so that both workspaces give every account the same pseudonym
    (tmp_path / "full" / "secret.key").write_bytes((tmp_path / "inc" / "secret.key").read_bytes())
    full = covalue.open(tmp_path / "full")
    full.ingest([first, later])
    full.analyze()
    assert _differences(inc, full) == {}
    assert _authors(inc)["hana"][2] == 2 and _authors(inc)["alice"][2] == 4
    late = inc.raw.execute("SELECT parent_id FROM items WHERE text = 'or try -rescan'").fetchone()[0]
    asked = "SELECT item_id FROM items WHERE text = 'does anyone know how to sync the wallet?'"
    assert late == inc.raw.execute(asked).fetchone()[0]
    inc.close()
    full.close()


def test_a_webhook_bridge_posting_under_each_persons_name(tmp_path: Path) -> None:
    """Discord bridges often post through a webhook named after each relayed person (the export marks
    a webhook as a bot with discriminator 0000). Such a webhook under three or more names speaks for
    people; one that posts under a single name (a build announcer) and a real bot stay bots."""
    import orjson

    def msg(i: int, author: dict, text: str, minute: int) -> dict:
        return {
            "id": str(i),
            "type": "Default",
            "timestamp": f"2021-03-01T10:{minute:02d}:00Z",
            "content": text,
            "author": author,
        }

    hook = {"id": "900", "discriminator": "0000", "isBot": True}
    doc = {
        "guild": {"id": "1", "name": "Makers"},
        "channel": {"id": "2", "name": "general"},
        "messages": [
            msg(1, {**hook, "name": "alice@gitter"}, "how do I flash the board?", 0),
            msg(2, {**hook, "name": "bob@matrix"}, "hold reset while you plug it in", 2),
            msg(3, {**hook, "name": "alice@gitter"}, "that worked, thanks", 3),
            msg(4, {**hook, "name": "carol@irc"}, "same here last week", 5),
            msg(
                5, {"id": "901", "name": "GitHub", "discriminator": "0000", "isBot": True}, "build passed", 6
            ),
            msg(
                6, {"id": "902", "name": "GitHub", "discriminator": "0000", "isBot": True}, "build failed", 7
            ),
            msg(7, {"id": "903", "name": "helper", "discriminator": "4321", "isBot": True}, "beep", 8),
            msg(8, {"id": "10", "name": "dave", "discriminator": "0001", "isBot": False}, "welcome all", 9),
        ],
    }
    path = tmp_path / "export"
    path.mkdir()
    (path / "Makers - general [2].json").write_bytes(orjson.dumps(doc))
    ws = covalue.init(tmp_path / "ws")
    res = ws.ingest([path])[0]
    assert any("3 names a webhook posted under" in m for m in res.messages), res.messages
    who = _authors(ws)
    assert {n: who[n][1:] for n in ("alice@gitter", "bob@matrix", "carol@irc")} == {
        "alice@gitter": (False, 2),
        "bob@matrix": (False, 1),
        "carol@irc": (False, 1),
    }
    assert who["GitHub"][1] is True and who["helper#4321"][1] is True and who["dave#0001"][1] is False
    ws.analyze()
    # a name first seen in a later upload through the same webhook is a person too
    later = tmp_path / "later"
    later.mkdir()
    doc["messages"] = [msg(9, {**hook, "name": "erin@gitter"}, "hi all, new here", 30)]
    (later / "Makers - general [2].json").write_bytes(orjson.dumps(doc))
    ws.ingest([later])
    assert _authors(ws)["erin@gitter"][1:] == (False, 1)
    # alice's question was answered by bob, a member, not by a bot
    answered = ws.raw.execute(
        "SELECT count(*) FROM item_facts f JOIN identities d ON d.member_id = f.author_member "
        "WHERE d.display_name = 'alice@gitter' AND f.first_response_ts IS NOT NULL"
    ).fetchone()[0]
    assert answered >= 1
    ws.close()


def test_a_slack_bot_posting_under_each_persons_name(tmp_path: Path) -> None:
    """The same on Slack: a bot message carries the name it was posted under; a bot posting for three
    people is them, a deploy bot with one name stays a bot."""
    from test_slack import _day, _export_zip

    def bot(bot_id: str, name: str, text: str, ts: str) -> dict:
        return {"subtype": "bot_message", "bot_id": bot_id, "username": name, "text": text, "ts": ts}

    msgs = [
        bot("B1", "alice (telegram)", "anyone tried the new dataset?", "1577872800.1"),
        bot("B1", "bob (irc)", "yes, the county file is cleaner", "1577872860.1"),
        bot("B1", "carol (matrix)", "agreed", "1577872920.1"),
        bot("B1", "alice (telegram)", "thanks both", "1577872980.1"),
        bot("B2", "deploy", "deployed", "1577873040.1"),
        {"user": "U1", "text": "welcome to the bridged folks", "ts": "1577873100.1"},
    ]
    path = _export_zip(tmp_path / "slack.zip", _day("general", "2020-01-01", msgs))
    ws = covalue.init(tmp_path / "ws")
    res = ws.ingest([path])[0]
    assert res.status == "ok", res.messages
    who = _authors(ws)
    assert who["alice (telegram)"][1:] == (False, 2)
    assert who["bob (irc)"][1:] == (False, 1) and who["carol (matrix)"][1:] == (False, 1)
    assert who["deploy"][1] is True
    ws.close()
