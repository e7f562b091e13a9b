"""The Slack export reader, on the real houstondatavis export and on planted, broken exports."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import covalue
from covalue.cli import app
from covalue.sources import detect
from covalue.sources.slack import SlackReader, plain_text
from covalue.sources.slack_files import instance_name, parse_json
from covalue.testing import collect

HDV = "slack/houstondatavis-slack-export.zip"
SRC = "slack:houstondatavis"


def _raw_messages(zip_path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every message of the export, read with the standard library (independent of the reader)."""
    out = []
    with zipfile.ZipFile(zip_path) as zf:
        for name in sorted(zf.namelist()):
            if re.fullmatch(r"[^/]+/\d{4}-\d{2}-\d{2}\.json", name):
                out += [(name, m) for m in json.loads(zf.read(name))]
    return out


def _q(ws: covalue.Workspace, sql: str) -> list[tuple]:
    return ws.raw.execute(sql).fetchall()


@pytest.fixture(scope="module")
def hdv(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> covalue.Workspace:
    w = covalue.init(tmp_path_factory.mktemp("hdv") / "ws")
    (res,) = w.ingest([shared_data / HDV])
    assert res.status == "ok", res.messages
    w.first_result = res  # type: ignore[attr-defined]
    yield w
    w.close()


# -- the real export -------------------------------------------------------------------------------------
def test_houstondatavis_every_message_accounted_for(hdv: covalue.Workspace, shared_data: Path) -> None:
    raw = _raw_messages(shared_data / HDV)
    assert len(raw) == 1382
    assert _q(hdv, "SELECT count(*) FROM items") == [(1031,)]
    assert dict(_q(hdv, "SELECT kind, count(*) FROM items GROUP BY 1")) == {"post": 1025, "comment": 6}
    # 61 file shares, one file each; the 6 file comments all hang under the message that shared the file
    assert _q(hdv, "SELECT count(*), sum(n_attachments) FROM items WHERE n_attachments > 0") == [(61, 61)]
    assert _q(
        hdv,
        "SELECT count(*) FROM items i JOIN items p ON i.parent_id = p.item_id "
        "WHERE i.kind = 'comment' AND p.n_attachments = 1 AND i.thread_id = p.item_id",
    ) == [(6,)]
    verbs = dict(_q(hdv, "SELECT verb, count(*) FROM actions GROUP BY 1"))
    assert verbs["join"] == 320 and verbs["leave"] == 3
    system = dict(
        _q(
            hdv,
            "SELECT detail, count(*) FROM actions WHERE verb = 'system' AND space_id IS NOT NULL GROUP BY 1",
        )
    )
    assert system == {
        "channel_purpose": 13,
        "channel_archive": 9,
        "channel_topic": 2,
        "channel_name": 2,
        "bot_add": 1,
        "pinned_item": 1,
    }
    assert 1031 + 320 + 3 + sum(system.values()) == 1382
    # integration_logs.json: three apps added, kept as system actions outside any channel
    assert _q(
        hdv, "SELECT count(*) FROM actions WHERE detail = 'integration_added' AND space_id IS NULL"
    ) == [(3,)]
    assert _q(hdv, "SELECT count(*) FROM rejects") == [(0,)]
    assert _q(hdv, "SELECT count(*) FROM items WHERE author_id IS NULL OR created_at IS NULL") == [(0,)]


def test_houstondatavis_people_spaces_reactions_mentions(hdv: covalue.Workspace, shared_data: Path) -> None:
    raw = _raw_messages(shared_data / HDV)
    assert _q(hdv, "SELECT count(*), count(email_hash), count(display_name) FROM identities") == [
        (71, 71, 71)
    ]
    assert _q(hdv, "SELECT count(*) FROM members") == [(71,)]
    assert _q(hdv, "SELECT count(DISTINCT author_id) FROM items") == [(32,)]
    assert _q(hdv, "SELECT count(*), count(DISTINCT name) FROM spaces WHERE kind = 'channel'") == [(16, 16)]
    # reactions: one action per reacting user, counted from the raw JSON
    reacts = Counter(r["name"] for _f, m in raw for r in m.get("reactions", []) for _u in r["users"])
    assert sum(reacts.values()) == 199
    assert dict(_q(hdv, "SELECT detail, count(*) FROM actions WHERE verb = 'react' GROUP BY 1")) == reacts
    # a reaction to a system message (e.g. a join) has no item, but still a target: the one who joined
    on_events = sum(
        len(r["users"])
        for _f, m in raw
        if m.get("subtype") not in (None, "file_share", "file_comment")
        for r in m.get("reactions", [])
    )
    assert _q(
        hdv,
        "SELECT count(*) FILTER (item_id IS NULL), count(*) FILTER (target_id IS NULL) FROM actions "
        "WHERE verb = 'react'",
    ) == [(on_events, 0)]
    # mentions: distinct people named in items' own words, not counting the author naming themself
    item_subtypes = {None, "file_share", "file_comment"}
    n_mentions = 0
    for _f, m in raw:
        if m.get("subtype") not in item_subtypes:
            continue
        author = m["comment"]["user"] if m.get("subtype") == "file_comment" else m["user"]
        text = m["comment"]["comment"] if m.get("subtype") == "file_comment" else m["text"]
        n_mentions += len(set(re.findall(r"<@(U[A-Z0-9]+)", text)) - {author})
    assert n_mentions == 155
    assert _q(hdv, "SELECT count(*) FROM actions WHERE verb = 'mention'") == [(n_mentions,)]
    # Slack markup is gone from the text, the addresses are still counted as links
    assert _q(hdv, "SELECT count(*) FROM items WHERE text LIKE '%<@U%' OR text LIKE '%<http%'") == [(0,)]
    assert _q(hdv, "SELECT sum(n_links) FROM items") == [(325,)]


def test_houstondatavis_reingest_changes_nothing(hdv: covalue.Workspace, shared_data: Path) -> None:
    before = {
        t: _q(hdv, f"SELECT count(*) FROM {t}")[0][0] for t in ("members", "spaces", "items", "actions")
    }
    (res,) = hdv.ingest([shared_data / HDV])
    assert res.read == hdv.first_result.read  # type: ignore[attr-defined]
    assert all(v == 0 for v in res.added.values()), res.added
    assert {t: _q(hdv, f"SELECT count(*) FROM {t}")[0][0] for t in before} == before


def test_zip_and_unpacked_folder_agree(hdv: covalue.Workspace, shared_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "houstondatavis-slack-export"
    with zipfile.ZipFile(shared_data / HDV) as zf:
        zf.extractall(folder)
    assert detect(folder) is SlackReader
    assert detect(shared_data / HDV) is SlackReader
    w = covalue.init(tmp_path / "ws")
    (res,) = w.ingest([folder])
    assert res.read == hdv.first_result.read  # type: ignore[attr-defined]
    assert res.sources == [SRC]
    # item, action and space ids do not depend on the workspace secret: they must be the very same rows
    for table, key in (("items", "item_id"), ("actions", "action_id"), ("spaces", "space_id")):
        assert _q(w, f"SELECT {key} FROM {table} ORDER BY 1") == _q(
            hdv, f"SELECT {key} FROM {table} ORDER BY 1"
        )
    w.close()


def test_cli_ingest_and_exit_codes(shared_data: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    ws = str(tmp_path / "ws")
    r = runner.invoke(app, ["ingest", "-w", ws, "--json", str(shared_data / HDV)])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout[r.stdout.index("[") :])
    assert out[0]["reader"] == "slack" and out[0]["read"]["items"] == 1031
    junk = tmp_path / "acme-slack-export.zip"
    junk.write_bytes(b"not a zip at all")
    r = runner.invoke(app, ["ingest", "-w", ws, "--source", "slack", str(junk)])
    assert r.exit_code == 1
    assert "not a readable zip" in r.stdout.replace("\n", "")
    # something readable next to something broken is a partial ingest, not a failure
    part = _export_zip(tmp_path / "part.zip", {"general/2020-01-01.json": b"[{broken", **_basic_day()})
    r = runner.invoke(app, ["ingest", "-w", ws, str(part)])
    assert r.exit_code == 0 and "partial" in r.stdout


# -- planted exports ---------------------------------------------------------------------------------------
USERS = [
    {"id": "U1", "name": "ann", "profile": {"real_name": "Ann A", "email": "ann@example.org"}},
    {"id": "U2", "name": "bob", "profile": {"display_name": "bobby"}, "is_admin": True},
    {"id": "UB", "name": "helper", "is_bot": True, "profile": {}},
    {"id": "UD", "name": "oldapp", "deleted": True, "is_app_user": True, "profile": {}},
    {"id": "USLACKBOT", "name": "slackbot", "profile": {}},
]
CHANNELS = [{"id": "C1", "name": "general"}, {"id": "C2", "name": "random"}]


def _basic_day() -> dict[str, bytes]:
    msgs = [
        {"type": "message", "user": "U1", "text": "hello <@U2>", "ts": "1577872800.000100"},
        {"type": "message", "user": "U2", "text": "hi", "ts": "1577872900.000200"},
    ]
    return {"random/2020-01-01.json": json.dumps(msgs).encode()}


def _export_files(extra: dict[str, bytes], *, users: bool = True) -> dict[str, bytes]:
    files = {"channels.json": json.dumps(CHANNELS).encode()}
    if users:
        files["users.json"] = json.dumps(USERS).encode()
    files.update(extra)
    return files


def _export_zip(path: Path, extra: dict[str, bytes], *, users: bool = True) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in _export_files(extra, users=users).items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def _export_dir(path: Path, extra: dict[str, bytes], *, users: bool = True) -> Path:
    for name, data in _export_files(extra, users=users).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return path


def _day(folder: str, date: str, msgs: list[Any]) -> dict[str, bytes]:
    return {f"{folder}/{date}.json": json.dumps(msgs).encode()}


def test_threads_bots_files_and_people_not_in_users(ws: covalue.Workspace, tmp_path: Path) -> None:
    root = "1577872800.000100"
    general = [
        {
            "user": "U1",
            "text": "question?",
            "ts": root,
            "thread_ts": root,
            "reply_count": 2,
            "reactions": [{"name": "+1", "users": ["U2", "U9"], "count": 2}],
        },
        {"user": "U2", "text": "answer <@U1> see <#C2|random>", "ts": "1577872900.000200", "thread_ts": root},
        {
            "user": "U1",
            "subtype": "thread_broadcast",
            "text": "also here",
            "ts": "1577873000.000300",
            "thread_ts": root,
        },
        {"user": "U1", "subtype": "me_message", "text": "waves", "ts": "1577873100.000400"},
        {
            "subtype": "bot_message",
            "bot_id": "B7",
            "username": "deploy",
            "text": "deployed",
            "ts": "1577873200.1",
        },
        {
            "user": "U8",
            "subtype": "channel_join",
            "text": "<@U8> has joined",
            "ts": "1577873300.1",
            "inviter": "U1",
        },
        {"user": "U8", "subtype": "channel_topic", "text": "set topic", "ts": "1577873400.1"},
        {
            "user": "U2",
            "files": [{"id": "F1"}, {"id": "F2"}],
            "upload": True,
            "text": "two pics",
            "ts": "1577873500.1",
        },
    ]
    # a comment on F1 in another channel, on a date whose file is read before general's
    random = [
        {
            "subtype": "file_comment",
            "text": "<@U1> commented",
            "file": {"id": "F1", "user": "U2"},
            "comment": {"user": "U1", "comment": "nice, <@U2>"},
            "ts": "1577800000.1",
        }
    ]
    files = {**_day("general", "2020-01-01", general), **_day("random", "2019-12-31", random)}
    (res,) = ws.ingest([_export_dir(tmp_path / "acme", files)])
    assert res.status == "ok", res.messages
    items = {
        r[0].split(":")[-2] + ":" + r[0].split(":")[-1]: r[1:]
        for r in _q(ws, "SELECT item_id, kind, parent_id, thread_id, n_attachments, text FROM items")
    }
    rid = f"slack:acme:C1:{root}"
    assert items[f"C1:{root}"][:3] == ("post", None, rid)
    assert items["C1:1577872900.000200"][:3] == ("reply", rid, rid)
    assert items["C1:1577872900.000200"][4] == "answer @U1 see #random"
    assert items["C1:1577873000.000300"][:3] == ("reply", rid, rid)
    assert items["C1:1577873100.000400"][0] == "post"
    # Slack's ts is read exactly: the digits after the point order messages within a second
    assert _q(ws, f"SELECT created_at FROM items WHERE item_id = '{rid}'") == [
        (datetime(2020, 1, 1, 10, 0, 0, 100),)
    ]
    assert items["C1:1577873500.1"][3] == 2
    assert items["C2:1577800000.1"][:3] == (
        "comment",
        "slack:acme:C1:1577873500.1",
        "slack:acme:C1:1577873500.1",
    )
    assert items["C2:1577800000.1"][4] == "nice, @U2"
    assert len(items) == 7
    verbs = Counter(v for (v,) in _q(ws, "SELECT verb FROM actions"))
    assert verbs == {"react": 2, "mention": 2, "join": 1, "system": 1}
    assert _q(ws, "SELECT detail FROM actions WHERE verb = 'system'") == [("channel_topic",)]
    bots = dict(_q(ws, "SELECT native_id, is_bot FROM identities"))
    # users.json people plus U8 (joined), U9 (reacted), B7 (a bot, one account per name it posts under:
    # tests/test_relays.py) who are not in users.json
    assert bots == {
        "U1": False,
        "U2": False,
        "UB": True,
        "UD": True,
        "USLACKBOT": True,
        "U8": False,
        "U9": False,
        "webhook:B7:deploy": True,
    }
    assert _q(
        ws,
        "SELECT i.is_bot FROM items t JOIN identities i ON t.author_id = i.identity_id "
        "WHERE t.text = 'deployed'",
    ) == [(True,)]
    assert _q(
        ws, "SELECT role FROM members m JOIN identities i USING (member_id) WHERE native_id = 'U2'"
    ) == [("admin",)]
    assert _q(
        ws,
        "SELECT count(*) FROM actions a JOIN identities i ON a.target_id = i.identity_id "
        "WHERE a.verb = 'join' AND i.native_id = 'U1'",
    ) == [(1,)]


def test_private_groups_and_dms_become_spaces(ws: covalue.Workspace, tmp_path: Path) -> None:
    files = {
        "groups.json": json.dumps([{"id": "G1", "name": "core-team"}]).encode(),
        "dms.json": json.dumps([{"id": "D1", "members": ["U1", "U2"]}]).encode(),
        **_day(
            "core-team",
            "2020-01-01",
            [
                {"user": "U1", "text": "x", "ts": "1577872800.1"},
                {"user": "U2", "subtype": "group_join", "text": "j", "ts": "1577872801.1"},
            ],
        ),
        **_day("D1", "2020-01-01", [{"user": "U2", "text": "dm", "ts": "1577872800.1"}]),
    }
    (res,) = ws.ingest([_export_zip(tmp_path / "acme.zip", files)])
    assert res.status == "ok", res.messages
    assert sorted(_q(ws, "SELECT space_id, kind FROM spaces")) == [
        ("slack:acme:C1", "channel"),
        ("slack:acme:C2", "channel"),
        ("slack:acme:D1", "dm"),
        ("slack:acme:G1", "group"),
    ]
    assert sorted(_q(ws, "SELECT space_id FROM items")) == [("slack:acme:D1",), ("slack:acme:G1",)]
    assert _q(ws, "SELECT verb, space_id FROM actions") == [("join", "slack:acme:G1")]


def test_json_syntax_error_in_one_day_file_keeps_the_others(ws: covalue.Workspace, tmp_path: Path) -> None:
    bad = b'[\n  {"user": "U1", "text": "a", "ts": "1577872800.1"},\n  {"user": "U1" "text": "b"}\n]'
    (res,) = ws.ingest([_export_zip(tmp_path / "acme.zip", {"general/2020-01-02.json": bad, **_basic_day()})])
    assert res.status == "partial"
    assert _q(ws, "SELECT count(*) FROM items") == [(2,)]
    ((loc, reason),) = _q(ws, "SELECT location, reason FROM rejects")
    assert loc == "acme.zip:general/2020-01-02.json"
    assert reason.startswith("JSON syntax error at line 3, column 17")


def test_traversal_and_absolute_entries_are_refused(ws: covalue.Workspace, tmp_path: Path) -> None:
    evil = {"../../etc/evil.json": b"[]", "/abs/general/2020-01-01.json": b"[]", **_basic_day()}
    (res,) = ws.ingest([_export_zip(tmp_path / "acme.zip", evil)])
    assert res.status == "partial" and res.read["items"] == 2
    rej = dict(_q(ws, "SELECT location, reason FROM rejects"))
    assert set(rej) == {"acme.zip:../../etc/evil.json", "acme.zip:/abs/general/2020-01-01.json"}
    assert "path traversal" in rej["acme.zip:../../etc/evil.json"]
    assert "absolute path" in rej["acme.zip:/abs/general/2020-01-01.json"]
    assert not (tmp_path.parent / "etc" / "evil.json").exists()


def test_zip_bomb_entries_are_refused(ws: covalue.Workspace, tmp_path: Path) -> None:
    zeros = b" " * (3 * 1024 * 1024)  # compresses about a thousand times
    bomb = _export_zip(
        tmp_path / "acme.zip", {"general/2020-01-02.json": b"[" + zeros + b"]", **_basic_day()}
    )
    assert bomb.stat().st_size < 20_000
    ws.settings.ingest.max_ratio = 50.0
    (res,) = ws.ingest([bomb])
    assert res.read["items"] == 2
    ((loc, reason),) = _q(ws, "SELECT location, reason FROM rejects")
    assert loc == "acme.zip:general/2020-01-02.json" and "zip bomb" in reason
    # the same archive under a total size limit: the big entry goes over it
    ws.settings.ingest.max_ratio = 10_000.0
    ws.settings.ingest.max_unpacked_bytes = 1024 * 1024
    (res,) = ws.ingest([bomb])
    assert any("more than 1,048,576 unpacked bytes" in r for (r,) in _q(ws, "SELECT reason FROM rejects"))


def test_truncated_and_non_zip_fail_with_a_reason(ws: covalue.Workspace, tmp_path: Path) -> None:
    good = _export_zip(tmp_path / "good.zip", _basic_day())
    cut = tmp_path / "acme-slack-export.zip"
    cut.write_bytes(good.read_bytes()[:-30])
    text = tmp_path / "notes.zip"
    text.write_text("hello")
    for path in (cut, text):
        (res,) = ws.ingest([path], source="slack")
        assert res.status == "failed" and res.nothing_read
        assert "not a readable zip archive" in res.messages[0]
    assert detect(cut) is SlackReader  # a broken zip named like an export still goes to the Slack reader
    assert _q(ws, "SELECT count(*) FROM rejects") == [(2,)]


def test_damaged_entry_is_rejected_and_the_rest_kept(ws: covalue.Workspace, tmp_path: Path) -> None:
    marker = b"DAMAGE-ME-" * 20
    day = json.dumps([{"user": "U1", "text": marker.decode(), "ts": "1577872800.1"}]).encode()
    p = tmp_path / "acme.zip"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_STORED) as zf:
        for name, data in _export_files({"general/2020-01-02.json": day, **_basic_day()}).items():
            zf.writestr(name, data)
    data = p.read_bytes()
    p.write_bytes(data.replace(marker, marker.lower(), 1))  # same length, wrong CRC
    (res,) = ws.ingest([p])
    assert res.status == "partial" and res.read["items"] == 2
    ((loc, reason),) = _q(ws, "SELECT location, reason FROM rejects")
    assert loc == "acme.zip:general/2020-01-02.json"
    assert reason.startswith("could not be unpacked (BadZipFile") and "CRC" in reason


def test_missing_users_json_reads_people_from_ids(ws: covalue.Workspace, tmp_path: Path) -> None:
    (res,) = ws.ingest([_export_dir(tmp_path / "acme", _basic_day(), users=False)])
    assert res.status == "partial"
    assert any("users.json is missing" in m for m in res.messages)
    assert _q(ws, "SELECT reason FROM rejects") == [("users.json is missing from the export",)]
    assert sorted(_q(ws, "SELECT native_id, display_name FROM identities")) == [("U1", None), ("U2", None)]
    assert _q(ws, "SELECT count(*) FROM items") == [(2,)]
    assert _q(ws, "SELECT text FROM items ORDER BY created_at LIMIT 1") == [("hello @U2",)]


def test_bad_messages_become_rejects(ws: covalue.Workspace, tmp_path: Path) -> None:
    msgs = [
        {"user": "U1", "text": "fine", "ts": "1577872800.1"},
        {"user": "U1", "text": "no ts"},
        {"user": "U1", "text": "bad ts", "ts": "yesterday"},
        {"user": ["U1"], "text": "user is a list", "ts": "1577872801.1"},
        {"user": "U1", "text": 42, "ts": "1577872802.1"},
        {"user": "U1", "text": "bad thread", "ts": "1577872803.1", "thread_ts": {"x": 1}},
        "just a string",
        {"user": "U2", "text": "odd reactions", "ts": "1577872804.1", "reactions": [{"name": 3}, "x"]},
    ]
    (res,) = ws.ingest([_export_zip(tmp_path / "acme.zip", _day("general", "2020-01-01", msgs))])
    assert res.status == "partial"
    assert _q(ws, "SELECT text FROM items ORDER BY created_at") == [("fine",), ("odd reactions",)]
    rej = dict(_q(ws, "SELECT location, reason FROM rejects"))
    base = "acme.zip:general/2020-01-01.json"
    assert "timestamp" in rej[f"{base}#1"] and "timestamp" in rej[f"{base}#2"]
    assert rej[f"{base}#3"] == "field 'user' should be a string, found list"
    assert rej[f"{base}#4"] == "field 'text' should be a string, found int"
    assert "thread_ts" in rej[f"{base}#5"]
    assert "JSON object" in rej[f"{base}#6"]
    assert {f"{base}#7/reactions[0]", f"{base}#7/reactions[1]"} <= set(rej)
    assert len(rej) == 8


def test_latin1_day_file_is_kept_and_reported(ws: covalue.Workspace, tmp_path: Path) -> None:
    day = '[{"user": "U1", "text": "caf\u00e9 cr\u00e8me", "ts": "1577872800.1"}]'.encode("latin-1")
    (res,) = ws.ingest([_export_zip(tmp_path / "acme.zip", {"general/2020-01-01.json": day})])
    assert _q(ws, "SELECT text FROM items") == [("caf\u00e9 cr\u00e8me",)]
    assert res.status == "partial" and res.read["items"] == 1
    ((loc, reason),) = _q(ws, "SELECT location, reason FROM rejects")
    assert loc == "acme.zip:general/2020-01-01.json@byte28"
    assert "not valid UTF-8 (byte 0xe9" in reason and "Latin-1" in reason


def test_a_folder_missing_from_channels_json_is_still_read(ws: covalue.Workspace, tmp_path: Path) -> None:
    files = _day("secret-project", "2020-01-01", [{"user": "U1", "text": "x", "ts": "1577872800.1"}])
    (res,) = ws.ingest([_export_dir(tmp_path / "acme", files)])
    assert _q(ws, "SELECT s.name, s.kind FROM items i JOIN spaces s USING (space_id)") == [
        ("secret-project", "channel")
    ]
    assert any("secret-project" in m for m in res.messages)


def test_export_inside_a_top_folder_of_the_zip(ws: covalue.Workspace, tmp_path: Path) -> None:
    p = tmp_path / "Acme Slack export Jan 1 2020 - Jan 2 2020.zip"
    with zipfile.ZipFile(p, "w") as zf:
        for name, data in _export_files(_basic_day()).items():
            zf.writestr(f"export/{name}", data)
    assert detect(p) is SlackReader
    (res,) = ws.ingest([p])
    assert res.status == "ok" and res.sources == ["slack:acme"]
    assert res.read["items"] == 2 and res.read["spaces"] == 2


def test_not_an_export_is_a_reader_error(ws: covalue.Workspace, tmp_path: Path) -> None:
    p = tmp_path / "photos.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("a.jpg", b"x")
    assert SlackReader.detect(p) == 0.0
    (res,) = ws.ingest([p], source="slack")
    assert res.status == "failed" and "no Slack export inside" in res.messages[0]


# -- small functions ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("houstondatavis-slack-export.zip", "houstondatavis"),
        ("Acme Corp Slack export Jan 1 2020 - Dec 31 2020.zip", "Acme Corp"),
        ("team_slack_export_2021-03-04", "team"),
        ("slack-export.zip", "slack"),
        ("my-team", "my-team"),
    ],
)
def test_instance_name(name: str, expected: str) -> None:
    assert instance_name(Path(name)) == expected


def test_plain_text() -> None:
    channels = {"C1": "general"}
    cases = {
        "hi <@U1>": "hi @U1",
        "hi <@U2|bob>": "hi @bob",
        "see <#C1> and <#C2|dev>": "see #general and #dev",
        "<!here> <!channel> <!subteam^S1|@ops>": "@here @channel @ops",
        "<https://x.org|the site> <https://y.org>": "the site (https://x.org) https://y.org",
        "<mailto:a@b.org|a@b.org>": "a@b.org",
        "1 &lt; 2 &amp;&amp; 3 &gt; 2": "1 < 2 && 3 > 2",
        "<not markup>": "<not markup>",
    }
    for raw, want in cases.items():
        assert plain_text(raw, channels) == want


def test_parse_json_reports_place() -> None:
    value, problems = parse_json(b"\xef\xbb\xbf[1, 2]", "f")
    assert value == [1, 2] and problems == []
    value, problems = parse_json(b'[{"a": 1e400}]', "f")
    assert value is None and "line 1, column 8" in problems[0][1]
    value, problems = parse_json(b'["\\ud800"]', "f")
    assert value is None and "surrogate" in problems[0][1]
    value, problems = parse_json(b"[1,\n 2,,]", "f")
    assert value is None and problems[0][1].startswith("JSON syntax error at line 2")


# -- arbitrary input never escapes the reader ----------------------------------------------------------------
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=15,
)
_field = st.sampled_from(
    [
        "ts",
        "user",
        "text",
        "subtype",
        "thread_ts",
        "reactions",
        "file",
        "files",
        "comment",
        "bot_id",
        "inviter",
        "username",
        "bot_profile",
    ]
)
_value = st.one_of(
    _json,
    st.sampled_from(
        [
            "1577872800.1",
            "1577872800.000100",
            "U1",
            "U9",
            "F1",
            "file_share",
            "file_comment",
            "bot_message",
            "channel_join",
            "channel_leave",
            "thread_broadcast",
            "pinned_item",
            "<@U1> hi <https://a.b|c>",
        ]
    ),
    st.fixed_dictionaries({"id": st.sampled_from(["F1", "F2"]), "user": st.sampled_from(["U1", "U2"])}),
    st.lists(
        st.fixed_dictionaries(
            {"name": st.text(max_size=5), "users": st.lists(st.sampled_from(["U1", "U3"]))}
        ),
        max_size=2,
    ),
)
_message = st.dictionaries(_field, _value, max_size=8)
_day_content = st.one_of(
    st.lists(st.one_of(_message, _json), max_size=6).map(lambda v: json.dumps(v).encode()),
    _json.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=80),
)


def _collect(tmp: Path, content: bytes) -> dict[str, list[dict[str, Any]]]:
    export = _export_dir(tmp / "acme", {"general/2020-01-01.json": content})
    return collect(SlackReader(), export).tables


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_day_content)
def test_arbitrary_day_files_never_raise_and_lose_nothing(content: bytes) -> None:
    tmp = Path(tempfile.mkdtemp())
    try:
        rows = _collect(tmp, content)
    finally:
        shutil.rmtree(tmp)
    rejects = rows.get("rejects", [])
    if any(r["location"] == "acme:general/2020-01-01.json" for r in rejects):
        # the whole file was refused (not JSON, not a list): it is reported and nothing half-read remains
        assert not rows.get("items") and not rows.get("actions")
        return
    body = content.removeprefix(b"\xef\xbb\xbf")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("latin-1")
    value = json.loads(text)
    assert isinstance(value, list)
    # each message is exactly one item, one join/leave/system action or one reject
    n_items = len(rows.get("items", []))
    n_events = sum(a["verb"] in ("join", "leave", "system") for a in rows.get("actions", []))
    n_rejected = sum(bool(re.search(r"#\d+$", r["location"])) for r in rows.get("rejects", []))
    assert n_items + n_events + n_rejected == len(value)
