"""Mattermost bulk export reader, on a fixture written from the documented JSON Lines format
(mattermost-server imports/import_types.go: version, team, channel, user, post with replies and
reactions, direct_channel, direct_post, emoji)."""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from covalue.sources.mattermost import MattermostReader
from covalue.testing import collect

T0 = 1_600_000_000_000  # 2020-09-13T12:26:40Z in milliseconds

LINES = [
    {"type": "version", "version": 1, "info": {"generator": "mmctl", "version": "7.8.0"}},
    {"type": "emoji", "emoji": {"name": "party-parrot", "image": "data/emoji/parrot.gif"}},
    {"type": "team", "team": {"name": "eng", "display_name": "Engineering", "type": "O"}},
    {
        "type": "channel",
        "channel": {"team": "eng", "name": "town-square", "display_name": "Town Square", "type": "O"},
    },
    {"type": "channel", "channel": {"team": "eng", "name": "ops", "display_name": "Ops", "type": "P"}},
    {
        "type": "user",
        "user": {
            "username": "ann",
            "email": "Ann@Example.com",
            "first_name": "Ann",
            "last_name": "Lee",
            "roles": "system_admin system_user",
            "teams": [
                {
                    "name": "eng",
                    "roles": "team_user",
                    "channels": [{"name": "town-square", "roles": "channel_user"}],
                }
            ],
        },
    },
    {
        "type": "user",
        "user": {
            "username": "ben",
            "email": "ben@example.com",
            "nickname": "Benny",
            "roles": "system_user",
            "delete_at": T0 + 86_400_000,
        },
    },
    {"type": "user", "user": {"username": "cid", "email": "cid@example.com", "roles": "system_user"}},
    {"type": "bot", "bot": {"username": "deploybot", "display_name": "Deploy", "owner": "ann"}},
    {
        "type": "post",
        "post": {
            "team": "eng",
            "channel": "town-square",
            "user": "ann",
            "message": "How do we roll back a release? https://wiki/x",
            "create_at": T0,
            "attachments": [{"path": "data/a.png"}],
            "reactions": [
                {"user": "ben", "emoji_name": "+1", "create_at": T0 + 1000},
                {"user": "cid", "emoji_name": "+1", "create_at": T0 + 2000},
            ],
            "replies": [
                {
                    "user": "ben",
                    "message": "Use the rollback job",
                    "create_at": T0 + 60_000,
                    "reactions": [{"user": "ann", "emoji_name": "tada", "create_at": T0 + 70_000}],
                },
                {"user": "cid", "message": "and tell #ops", "create_at": T0 + 120_000},
            ],
        },
    },
    {
        "type": "post",
        "post": {
            "team": "eng",
            "channel": "ops",
            "user": "deploybot",
            "message": "deployed v2",
            "create_at": T0 + 200_000,
        },
    },
    {
        "type": "post",
        "post": {
            "team": "eng",
            "channel": "ops",
            "user": "ann",
            "type": "system_join_channel",
            "message": "ann joined the channel",
            "create_at": T0 + 300_000,
        },
    },
    {"type": "direct_channel", "direct_channel": {"members": ["ann", "ben"]}},
    {
        "type": "direct_post",
        "direct_post": {
            "channel_members": ["ann", "ben"],
            "user": "ben",
            "message": "got a minute?",
            "create_at": T0 + 400_000,
        },
    },
]


def _jsonl(lines: list) -> bytes:
    return b"\n".join(x if isinstance(x, bytes) else orjson.dumps(x) for x in lines) + b"\n"


def _read(path: Path) -> dict[str, list[dict]]:
    return collect(MattermostReader(), path).tables


def test_documented_export(tmp_path):
    path = tmp_path / "export.jsonl"
    path.write_bytes(_jsonl(LINES))
    assert MattermostReader.detect(path) >= 0.9
    rows = _read(path)
    items = rows["items"]
    by_text = {i["text"]: i for i in items}
    assert sorted(i["kind"] for i in items) == ["post", "post", "post", "reply", "reply"]
    root = by_text["How do we roll back a release? https://wiki/x"]
    assert root["created_at"] == datetime(2020, 9, 13, 12, 26, 40)
    assert root["n_attachments"] == 1 and root["n_links"] == 1
    for t in ("Use the rollback job", "and tell #ops"):
        assert by_text[t]["parent_id"] == root["item_id"] and by_text[t]["thread_id"] == root["item_id"]
    assert {s["name"]: s["kind"] for s in rows["spaces"]} == {
        "Engineering": "team",
        "Engineering/Town Square": "channel",
        "Engineering/Ops": "channel",
        "direct messages (2 people)": "direct",
    }
    assert by_text["got a minute?"]["space_id"].split(":", 2)[2].startswith("dm:")
    reacts = [a for a in rows["actions"] if a["verb"] == "react"]
    assert len(reacts) == 3
    assert all(a["actor_id"] is not None and a["value"] == 1.0 for a in reacts)
    assert sum(a["target_id"] == root["author_id"] for a in reacts) == 2
    system = [a for a in rows["actions"] if a["verb"] == "system"]
    assert [a["detail"] for a in system] == ["system_join_channel"]
    ids = {i["native_id"]: i for i in rows["identities"]}
    assert set(ids) == {"ann", "ben", "cid", "deploybot"}
    assert ids["deploybot"]["is_bot"] and not ids["ann"]["is_bot"]
    assert ids["ann"]["display_name"] == "Ann Lee" and ids["ben"]["display_name"] == "Benny"
    assert ids["ann"]["email_hash"].startswith("e_") and "example" not in str(ids["ann"])
    members = {m["member_id"]: m for m in rows["members"]}
    assert members[ids["ben"]["identity_id"]]["left_at"] == datetime(2020, 9, 14, 12, 26, 40)
    assert members[ids["ann"]["identity_id"]]["role"] == "admin"
    assert "rejects" not in rows
    # the same file read again gives the same ids
    assert sorted(i["item_id"] for i in _read(path)["items"]) == sorted(i["item_id"] for i in items)


def test_zip_and_bad_lines(tmp_path, ws):
    bad = [
        *LINES[:6],
        b'{"type": "post", "post": {"team": "eng"',
        b"",
        {"type": "post", "post": {"team": "eng", "channel": "ops", "user": "ann", "message": "no time"}},
        {"type": "mystery", "mystery": {}},
        b'{"type": "post", "post": {"team": "eng", "channel": "ops", "user": "ann", "message": "caf\xe9",'
        b' "create_at": 1600000000000}}',
        [1, 2],
    ]
    z = tmp_path / "mm-export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("import.jsonl", _jsonl(bad))
        zf.writestr("data/readme.txt", "attachments live here")
        zf.writestr("../../escape.jsonl", _jsonl(LINES))
    assert MattermostReader.detect(z) >= 0.9
    res = ws.ingest([z])[0]
    assert res.reader == "mattermost" and res.status == "partial"
    rejects = dict(ws.raw.execute("SELECT location, reason FROM rejects").fetchall())
    assert "not valid JSON" in rejects["import.jsonl:7"]
    assert "not epoch milliseconds" in rejects["import.jsonl:9"]
    assert "not a bulk export line" in rejects["import.jsonl:10"]
    assert "invalid UTF-8" in rejects["import.jsonl:11"]
    assert "not a bulk export line" in rejects["import.jsonl:12"]
    assert any("traversal" in r for loc, r in rejects.items() if "escape" in loc)
    assert ws.raw.execute("SELECT text FROM items").fetchall() == [("caf\ufffd",)]
    again = ws.ingest([z])[0]
    assert again.added["items"] == 0 and again.added["members"] == 0


def test_detect_leaves_other_formats(shared_data, tmp_path):
    assert MattermostReader.detect(shared_data / "perceval" / "mattermost") == 0
    for f in (shared_data / "perceval" / "mattermost").iterdir():
        assert MattermostReader.detect(f) == 0, f
    assert MattermostReader.detect(shared_data / "slack" / "houstondatavis-slack-export.zip") == 0
    other = tmp_path / "x.jsonl"
    other.write_text('{"a": 1}\n')
    assert MattermostReader.detect(other) == 0


def test_bad_reply_is_rejected_alone(tmp_path):
    post = {
        "type": "post",
        "post": {
            "team": "eng",
            "channel": "ops",
            "user": "ann",
            "message": "q?",
            "create_at": T0,
            "replies": [
                {"user": "ben", "message": "a", "create_at": T0 + 1},
                {"user": "ben", "message": "no time"},
                {"user": "cid", "message": "b", "create_at": T0 + 2},
            ],
        },
    }
    path = tmp_path / "e.jsonl"
    path.write_bytes(_jsonl([*LINES[:8], post]))
    rows = _read(path)
    assert sorted(i["text"] for i in rows["items"]) == ["a", "b", "q?"]
    [rej] = rows["rejects"]
    assert rej["location"] == "e.jsonl:9 replies[1]" and "not epoch milliseconds" in rej["reason"]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**62), max_value=2**62) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "post",
                    "user",
                    "team",
                    "channel",
                    "message",
                    "create_at",
                    "replies",
                    "reactions",
                    "name",
                    "username",
                    "emoji_name",
                    "members",
                    "channel_members",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_JSON | st.binary(max_size=30), max_size=6))
def test_any_line_is_read_or_rejected(tmp_path, lines):
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(b"\n".join(x if isinstance(x, bytes) else orjson.dumps(x) for x in lines))
    rows = _read(path)  # never raises
    for r in rows.get("rejects", []):
        assert r["location"].startswith("fuzz.jsonl:") and r["reason"]
