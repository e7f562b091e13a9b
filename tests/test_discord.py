"""Discord reader: the real Komodo archive (counts from ../shared/data/README.md), planted CSV and JSON
exports, bad input, and property tests of the date and reaction parsers."""

from __future__ import annotations

import io
import tarfile
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from covalue.sources.base import Sink
from covalue.sources.discord import DiscordReader, parse_date, parse_reactions
from covalue.testing import collect

HEADER = "AuthorID;Author;Date;Content;Attachments;Reactions;\n"


def _row(aid: str, name: str, date: str, content: str, att: str = "", react: str = "") -> str:
    q = [f'"{v.replace(chr(34), chr(34) * 2)}"' for v in (aid, name, date, content, att, react)]
    return ";".join(q) + ";\n"


def _tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _read(path: Path) -> tuple[dict[str, list[dict]], Sink]:
    got = collect(DiscordReader(), path)
    return got.tables, got.sink


def _page1() -> bytes:
    return (
        "\ufeff"
        + HEADER
        + _row("1", "alice#0001", "28-Nov-19 04:56 PM", "hello\nsecond line; with semi")
        + _row(
            "2",
            "bob#0002",
            "28-Nov-19 04:57 PM",
            'he said "hi"',
            "https://a/x.png,https://a/y.png",
            "👍 (2),KMD (1),KMD (3)",
        )
        + _row("9", "Price BOT#0009", "28-Nov-19 05:01 PM", "KMD $1")
        + _row("1", "alice#0001", "29-Nov-19 10:00 AM", "same")
    ).encode()


def _page2() -> bytes:
    # the first minute of page 2 repeats the last minute of page 1 with an identical message
    return (
        HEADER
        + _row("1", "alice#0001", "29-Nov-19 10:00 AM", "same")
        + _row("2", "bob#0002", "30-Nov-19 12:30 AM", "late")
    ).encode()


def test_real_komodo_archive(ws, shared_data):
    path = shared_data / "discord" / "komodo-discord-csv.tar.gz"
    assert DiscordReader.detect(path) >= 0.9
    res = ws.ingest([path])[0]
    assert res.reader == "discord" and res.status == "ok", res.messages
    assert res.added["items"] == 704_597
    # 4,058 accounts in the export; the people one bridge account relayed are members of their own
    # (tests/test_relays.py)
    assert res.read["members"] == 4_058
    writers = ws.raw.execute("SELECT count(*) FROM identities WHERE native_id LIKE 'relay:%'").fetchone()[0]
    assert writers > 5_000 and res.added["members"] == 4_058 + writers
    assert res.added["spaces"] == 114
    assert res.rejects == 0
    q = ws.raw.execute
    assert (
        q("SELECT count(*) FROM spaces WHERE name = 'komodo-apps-products/atomicdex-beta'").fetchone()[0] == 1
    )
    # the CSV export keeps no reply-to: every message is a post, but for the replies its bridge wrote
    # into the text ("... (re @nick: ...)", tests/test_relays.py counts them from the raw files)
    kinds = dict(q("SELECT kind, count(*) FROM items GROUP BY 1").fetchall())
    assert set(kinds) == {"post", "reply"} and kinds["reply"] == 12_275
    # every reaction action is an aggregate with a count, aimed at the author, without an actor
    bad = q(
        "SELECT count(*) FROM actions WHERE verb='react' AND (actor_id IS NOT NULL OR value < 1)"
    ).fetchone()
    assert bad[0] == 0
    # the actions read, and the mentions the text alone names ("@name ...", tests/test_text_mentions.py)
    mentions = q("SELECT count(*) FROM actions WHERE verb = 'mention'").fetchone()[0]
    assert q("SELECT count(*) FROM actions").fetchone()[0] == res.read["actions"] + mentions
    assert any(f"{mentions:,} mentions written as plain text" in m for m in res.messages)
    # every mention's name follows an "@" in its message, as typed (any case), and nobody names themself
    unseen = q(
        "SELECT count(*) FROM actions a JOIN items i USING (item_id) JOIN identities d ON d.identity_id = a.target_id "
        "WHERE a.verb = 'mention' AND (NOT contains(lower(i.text), '@' || lower(regexp_replace(d.display_name, "
        "'#[0-9]{4}$', ''))) OR a.target_id = i.author_id)"
    ).fetchone()[0]
    assert mentions > 100_000 and unseen == 0
    # read by hand: one name with spaces among several, and a reply naming the person it answers
    named = {
        text: sorted(n for _, n in rows)
        for text, rows in _group(
            q(
                "SELECT i.text, regexp_replace(d.display_name, '#[0-9]{4}$', '') FROM actions a "
                "JOIN items i USING (item_id) JOIN identities d ON d.identity_id = a.target_id "
                "WHERE a.verb = 'mention' AND (i.text LIKE '@SHossain could you add @Oszy%' "
                "OR i.text = '@dimxy i know very little about nspv')"
            ).fetchall()
        ).items()
    }
    assert named["@dimxy i know very little about nspv"] == ["dimxy"]
    (add,) = [v for k, v in named.items() if k.startswith("@SHossain")]
    assert add == sorted(["SHossain", "Oszy", "Old Man Phil", "mrlynch", "bishop"])


def _group(rows: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for text, name in rows:
        out.setdefault(text, []).append((text, name))
    return out


def test_planted_csv_pages(tmp_path):
    path = _tar(
        tmp_path / "guild.tar.gz",
        {
            "csv/Support/help/2.csv": _page2(),
            "csv/Support/help/1.csv": _page1(),
            "csv/General/chat/1.csv": HEADER.encode()
            + _row("3", "carol#0003", "01-Dec-19 09:15 AM", "hey").encode(),
        },
    )
    rows, _ = _read(path)
    items = rows["items"]
    assert len(items) == 7  # the identical 10:00 message on both pages is two messages
    assert {s["name"] for s in rows["spaces"]} == {"Support/help", "General/chat"}
    first = next(i for i in items if i["text"].startswith("hello"))
    assert first["text"] == "hello\nsecond line; with semi"
    assert first["created_at"] == datetime(2019, 11, 28, 16, 56)
    bob = next(i for i in items if i["text"] == 'he said "hi"')
    assert bob["n_attachments"] == 2 and bob["kind"] == "post" and bob["parent_id"] is None
    reacts = rows["actions"]
    assert sorted((a["detail"], a["value"]) for a in reacts) == [("KMD", 1.0), ("KMD", 3.0), ("👍", 2.0)]
    assert all(a["actor_id"] is None and a["target_id"] == bob["author_id"] for a in reacts)
    assert len({a["action_id"] for a in reacts}) == 3
    bots = {i["display_name"] for i in rows["identities"] if i["is_bot"]}
    assert bots == {"Price BOT#0009"}
    assert "rejects" not in rows
    # the same export read again gives the same ids (idempotent ingest)
    again, _ = _read(path)
    assert sorted(i["item_id"] for i in again["items"]) == sorted(i["item_id"] for i in items)


def test_bad_rows_and_encodings_become_rejects(tmp_path):
    page = (HEADER + _row("1", "alice", "28-Nov-19 04:56 PM", "fine")).encode()
    page += b'"2";"bob";"28-Nov-19 04:57 PM";"only four";\n'  # too few fields
    page += _row("3", "carol", "yesterday-ish", "bad date").encode()
    page += _row("4", "dan", "28-Nov-19 04:58 PM", "caf\u00e9").encode().replace("é".encode(), b"\xe9")
    page += _row("5", "eve", "28-Nov-19 04:59 PM", "x", "", "weird reactions").encode()
    path = _tar(tmp_path / "bad.tar.gz", {"csv/a/b/1.csv": page, "../evil/1.csv": page, "/abs/1.csv": page})
    rows, _ = _read(path)
    texts = sorted(i["text"] for i in rows["items"])
    assert texts == ["caf\ufffd", "fine", "x"]
    reasons = {r["location"]: r["reason"] for r in rows["rejects"]}
    assert "expected 7 fields" in reasons["csv/a/b/1.csv:3"]
    assert "date not understood" in reasons["csv/a/b/1.csv:4"]
    assert "invalid UTF-8" in reasons["csv/a/b/1.csv:5"]
    assert "reactions not understood" in reasons["csv/a/b/1.csv:6"]
    assert "traversal" in reasons["bad.tar.gz:../evil/1.csv"]
    assert "absolute path" in reasons["bad.tar.gz:/abs/1.csv"]


def test_truncated_archive_keeps_what_came_before(tmp_path):
    big = HEADER + "".join(
        _row(str(i % 7), f"u{i % 7}", "28-Nov-19 04:56 PM", f"message {i} " + "x" * (i % 50))
        for i in range(3000)
    )
    files = {f"csv/c/ch/{n}.csv": big.replace("message", f"m{n}").encode() for n in range(6)}
    whole = _tar(tmp_path / "whole.tar.gz", files)
    data = whole.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    rows, _ = _read(cut)
    n = len(rows["items"])
    assert 0 < n < 18_000
    assert any("truncated" in r["reason"] or "read to the end" in r["reason"] for r in rows["rejects"])


def test_json_export_replies_reactions_mentions(tmp_path):
    doc = {
        "guild": {"id": "10", "name": "Makers"},
        "channel": {"id": "20", "category": "Projects", "name": "robots"},
        "messages": [
            {
                "id": "100",
                "type": "Default",
                "timestamp": "2021-03-01T10:00:00+01:00",
                "content": "how do I?",
                "author": {"id": "1", "name": "ann", "discriminator": "0001", "isBot": False},
                "attachments": [{"id": "a", "url": "u"}],
                "reactions": [
                    {
                        "emoji": {"id": "", "name": "👍"},
                        "count": 2,
                        "users": [{"id": "2", "name": "ben"}, {"id": "3", "name": "cid"}],
                    }
                ],
                "mentions": [{"id": "2", "name": "ben"}],
            },
            {
                "id": "101",
                "type": "Reply",
                "timestamp": "2021-03-01T10:05:00+00:00",
                "content": "like this",
                "author": {"id": "2", "name": "ben"},
                "reference": {"messageId": "100"},
            },
            {
                "id": "102",
                "type": "Reply",
                "timestamp": "2021-03-01T10:06:00+00:00",
                "content": "thanks",
                "author": {"id": "1", "name": "ann"},
                "reference": {"messageId": "101"},
                "reactions": [{"emoji": {"name": "❤"}, "count": 4}],
            },
            {
                "id": "103",
                "type": "GuildMemberJoin",
                "timestamp": "2021-03-02T00:00:00Z",
                "content": "",
                "author": {"id": "4", "name": "dee"},
            },
            {
                "id": "104",
                "type": "Default",
                "timestamp": "2021-03-02T00:01:00Z",
                "content": "beep",
                "author": {"id": "5", "name": "helper", "isBot": True},
            },
            {
                "id": "105",
                "type": "Default",
                "timestamp": "not a date",
                "content": "?",
                "author": {"id": "1"},
            },
            {"id": "106", "type": "Default", "content": "no author"},
        ],
    }
    path = tmp_path / "export"
    path.mkdir()
    (path / "Makers - Projects - robots [20].json").write_bytes(orjson.dumps(doc))
    assert DiscordReader.detect(path) >= 0.9
    rows, sink = _read(path)
    assert list(sink.sources) == ["discord:makers"]
    items = {i["item_id"].rsplit(":", 1)[1]: i for i in rows["items"]}
    assert set(items) == {"100", "101", "102", "104"}
    assert items["100"]["created_at"] == datetime(2021, 3, 1, 9, 0)
    assert items["100"]["n_attachments"] == 1
    assert items["101"]["kind"] == "reply" and items["101"]["parent_id"] == items["100"]["item_id"]
    assert items["102"]["thread_id"] == items["100"]["item_id"]
    assert rows["spaces"][0]["name"] == "Projects/robots"
    verbs = sorted((a["verb"], a["value"]) for a in rows["actions"])
    assert verbs == [("join", None), ("mention", None), ("react", 1.0), ("react", 1.0), ("react", 4.0)]
    assert {i["display_name"] for i in rows["identities"] if i["is_bot"]} == {"helper"}
    assert sorted(r["location"].rsplit(":", 1)[1] for r in rows["rejects"]) == ["messages[5]", "messages[6]"]


def test_json_bad_files(tmp_path):
    z = tmp_path / "dce.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("broken.json", b'{"guild": {"id": "1"}, "channel": {}, "messages": [')
        zf.writestr("other.json", b'{"guild": {"id": "1"}, "channel": {}, "messages": "no"}')
        zf.writestr(
            "ok.json",
            orjson.dumps(
                {"guild": {"id": "1", "name": "G"}, "channel": {"id": "2", "name": "c"}, "messages": []}
            ),
        )
    rows, _ = _read(z)
    reasons = sorted(r["reason"].split(" (")[0] for r in rows["rejects"])
    assert reasons == ["not a DiscordChatExporter JSON file", "not valid JSON"]
    assert [s["name"] for s in rows["spaces"]] == ["c"]


def test_detect_only_own_formats(shared_data, tmp_path):
    assert DiscordReader.detect(shared_data / "zulip" / "ncar-zulip-archive.tar.gz") == 0
    assert DiscordReader.detect(shared_data / "perceval" / "mattermost") == 0
    assert DiscordReader.detect(shared_data / "slack" / "houstondatavis-slack-export.zip") == 0
    other = tmp_path / "people.csv"
    other.write_text("name,email\nann,a@x\n")
    assert DiscordReader.detect(other) == 0


_BASE = datetime(2015, 1, 1)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=60 * 24 * 365 * 20))
def test_parse_date_roundtrip(minutes):
    dt = _BASE + timedelta(minutes=minutes)
    assert parse_date(dt.strftime("%d-%b-%y %I:%M %p")) == dt
    assert (
        parse_date(
            f"{dt.month}/{dt.day}/{dt.year} {(dt.hour % 12) or 12}:{dt.minute:02d} "
            f"{'PM' if dt.hour >= 12 else 'AM'}"
        )
        == dt
    )


@given(st.text(max_size=30))
def test_parse_date_never_crashes(s):
    r = parse_date(s)
    assert r is None or isinstance(r, datetime)


_NAME = st.text(
    alphabet=st.characters(blacklist_characters=",()", blacklist_categories=("Cs", "Zs", "Cc")),
    min_size=1,
    max_size=12,
)


@given(st.lists(st.tuples(_NAME, st.integers(min_value=1, max_value=10_000)), max_size=8))
def test_parse_reactions_roundtrip(pairs):
    text = ",".join(f"{n} ({c})" for n, c in pairs)
    assert parse_reactions(text) == pairs


@given(st.text(max_size=40))
def test_parse_reactions_never_crashes(s):
    r = parse_reactions(s)
    assert r is None or all(isinstance(n, str) and c >= 0 for n, c in r)


def test_utf16_page_from_windows_tools(tmp_path):
    page = tmp_path / "Guild - Text Channels - general [42].csv"
    page.write_bytes((HEADER + _row("7", "zoë#0007", "02-Jan-20 01:05 AM", "ça va ? 👋")).encode("utf-16"))
    assert DiscordReader.detect(page) >= 0.9
    rows, sink = _read(page)
    [item] = rows["items"]
    assert item["text"] == "ça va ? 👋" and item["created_at"] == datetime(2020, 1, 2, 1, 5)
    assert [s["name"] for s in rows["spaces"]] == ["Text Channels/general"]
    assert list(sink.sources) == ["discord:guild"] and "rejects" not in rows


def test_zip_bomb_entry_is_refused_and_the_rest_kept(tmp_path):
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("csv/a/ok/1.csv", HEADER + _row("1", "ann", "28-Nov-19 04:56 PM", "fine"))
        zf.writestr("csv/a/bomb/1.csv", HEADER.encode() + b" " * (8 * 1024 * 1024))
    rows, _ = _read(z)
    assert [i["text"] for i in rows["items"]] == ["fine"]
    [rej] = rows["rejects"]
    assert rej["location"] == "export.zip:csv/a/bomb/1.csv" and "zip bomb" in rej["reason"]
