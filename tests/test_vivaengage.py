"""Viva Engage / Yammer reader, on an export built from the documented CSV columns
(Users.csv, Groups.csv, Messages.csv of the network data export)."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import datetime
from pathlib import Path

from covalue.sources.vivaengage import VivaEngageReader, parse_ts
from covalue.testing import collect

USER_COLS = [
    "id",
    "name",
    "email",
    "job_title",
    "location",
    "department",
    "api_url",
    "deleted_by_id",
    "deleted_by_type",
    "joined_at",
    "deleted_at",
    "suspended_by_id",
    "suspended_by_type",
    "suspended_at",
    "guid",
    "state",
]
GROUP_COLS = [
    "id",
    "name",
    "description",
    "private",
    "deleted",
    "creator_type",
    "creator_id",
    "created_at",
    "updated_at",
    "api_url",
]
MSG_COLS = [
    "id",
    "replied_to_id",
    "thread_id",
    "conversation_id",
    "group_id",
    "group_name",
    "participants",
    "in_private_group",
    "in_private_conversation",
    "sender_id",
    "sender_type",
    "sender_name",
    "sender_email",
    "body",
    "api_url",
    "attachments",
    "deleted_by_id",
    "deleted_by_type",
    "created_at",
    "deleted_at",
]


def _csv(cols: list[str], rows: list[dict]) -> bytes:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: r.get(c, "") for c in cols})
    return out.getvalue().encode("utf-8")


USERS = [
    {
        "id": "1001",
        "name": "Ann Lee",
        "email": "ann@contoso.com",
        "job_title": "Engineer",
        "location": "Lyon",
        "department": "R&D",
        "joined_at": "2019-01-02 09:00:00 UTC",
        "state": "active",
    },
    {
        "id": "1002",
        "name": "Ben Roy",
        "email": "ben@contoso.com",
        "department": "Sales",
        "joined_at": "2019-02-01 09:00:00 UTC",
        "deleted_at": "2020-06-30 17:00:00 UTC",
        "state": "soft_delete",
    },
    {"id": "", "name": "ghost"},
]
GROUPS = [
    {"id": "501", "name": "Data Community", "private": "false", "created_at": "2019-01-01 00:00:00 UTC"}
]
MESSAGES = [
    {
        "id": "9001",
        "thread_id": "9001",
        "conversation_id": "7001",
        "group_id": "501",
        "group_name": "Data Community",
        "in_private_group": "false",
        "in_private_conversation": "false",
        "sender_id": "1001",
        "sender_type": "User",
        "sender_name": "Ann Lee",
        "sender_email": "ann@contoso.com",
        "body": "Who has a good intro to SQL window functions?\nThinking of https://example.org/sql",
        "attachments": 'uploadedfile:4401,opengraphobject:[123 : https://example.org/sql : title="SQL"]',
        "created_at": "2020-03-01 10:00:00 UTC",
    },
    {
        "id": "9002",
        "replied_to_id": "9001",
        "thread_id": "9001",
        "conversation_id": "7001",
        "group_id": "501",
        "group_name": "Data Community",
        "sender_id": "1002",
        "sender_type": "User",
        "sender_name": "Ben Roy",
        "body": "Mode's tutorial, it helped me [[user:1003]] [[user:1003]]",
        "created_at": "2020-03-01 10:30:00 UTC",
    },
    {
        "id": "9003",
        "replied_to_id": "9002",
        "thread_id": "9001",
        "conversation_id": "7001",
        "group_id": "501",
        "sender_id": "1003",
        "sender_type": "user",
        "sender_name": "Cid Diaz",
        "sender_email": "cid@contoso.com",
        "body": "+1",
        "created_at": "2020-03-01T11:00:00Z",
    },
    {
        "id": "9004",
        "thread_id": "9004",
        "conversation_id": "7002",
        "group_id": "",
        "sender_id": "1001",
        "sender_type": "user",
        "body": "Welcome everyone to the network!",
        "created_at": "2020-03-02 08:00:00 UTC",
    },
    {
        "id": "9005",
        "thread_id": "9005",
        "conversation_id": "7003",
        "group_id": "",
        "in_private_conversation": "true",
        "participants": "user:1001,user:1002",
        "sender_id": "1002",
        "sender_type": "user",
        "body": "quick question in private",
        "created_at": "2020-03-03 08:00:00 +0000",
    },
    {
        "id": "9006",
        "thread_id": "9006",
        "group_id": "501",
        "sender_id": "1001",
        "body": "when?",
        "created_at": "sometime",
    },
    {
        "id": "",
        "thread_id": "9007",
        "sender_id": "1001",
        "body": "no id",
        "created_at": "2020-03-03 08:00:00 UTC",
    },
]


def _read(path: Path) -> dict[str, list[dict]]:
    return collect(VivaEngageReader(), path).tables


def _export_zip(path: Path, messages: bytes | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        # messages first in the archive: the reader must still read users and groups before them
        zf.writestr("Messages.csv", messages if messages is not None else _csv(MSG_COLS, MESSAGES))
        zf.writestr("Users.csv", _csv(USER_COLS, USERS))
        zf.writestr("Groups.csv", _csv(GROUP_COLS, GROUPS))
        zf.writestr("Topics.csv", b"id,name\n1,sql\n")
        zf.writestr("log.txt", b"Messages: 7\n")
    return path


def test_documented_export(tmp_path):
    path = _export_zip(tmp_path / "export-2020.zip")
    assert VivaEngageReader.detect(path) >= 0.9
    rows = _read(path)
    items = {i["item_id"].rsplit(":", 1)[1]: i for i in rows["items"]}
    assert set(items) == {"9001", "9002", "9003", "9004", "9005"}
    root = items["9001"]
    assert root["kind"] == "post" and root["thread_id"] == root["item_id"] and root["parent_id"] is None
    assert root["n_attachments"] == 1 and root["n_links"] == 1
    assert root["created_at"] == datetime(2020, 3, 1, 10, 0)
    assert items["9002"]["kind"] == "reply" and items["9002"]["parent_id"] == root["item_id"]
    assert items["9003"]["parent_id"] == items["9002"]["item_id"]
    assert items["9003"]["thread_id"] == root["item_id"]
    [mention] = rows["actions"]
    assert mention["verb"] == "mention" and mention["item_id"] == items["9002"]["item_id"]
    assert mention["actor_id"] == items["9002"]["author_id"]
    assert mention["target_id"] == items["9003"]["author_id"]
    spaces = {s["space_id"]: (s["name"], s["kind"]) for s in rows["spaces"]}
    assert spaces[root["space_id"]] == ("Data Community", "group")
    assert spaces[items["9004"]["space_id"]] == ("All Company", "group")
    assert spaces[items["9005"]["space_id"]] == ("private conversation", "direct")
    ids = {i["native_id"]: i for i in rows["identities"]}
    assert set(ids) == {"1001", "1002", "1003"}
    assert ids["1003"]["display_name"] == "Cid Diaz" and ids["1003"]["email_hash"].startswith("e_")
    assert root["author_id"] == ids["1001"]["identity_id"]
    members = {m["member_id"]: m for m in rows["members"]}
    ben = members[ids["1002"]["identity_id"]]
    assert ben["left_at"] == datetime(2020, 6, 30, 17, 0) and ben["org_unit"] == "Sales"
    ann = members[ids["1001"]["identity_id"]]
    assert ann["joined_at"] == datetime(2019, 1, 2, 9, 0) and ann["location"] == "Lyon"
    rejects = {r["location"]: r["reason"] for r in rows["rejects"]}
    assert rejects["Users.csv:4"] == "user without id"
    assert "created_at not understood" in rejects["Messages.csv:8"]  # the first body spans 2 lines
    assert "without id" in rejects["Messages.csv:9"]
    assert len(rejects) == 3


def test_folder_bad_rows_encoding_and_idempotence(tmp_path, ws):
    d = tmp_path / "yammer"
    d.mkdir()
    body = _csv(MSG_COLS, MESSAGES[:2])
    body += b'9010,,9010,,501,,,,,1001,user,,,"multi\nline body",,,,,2020-04-01 00:00:00 UTC,\n'
    body += b"9011,,9011,too,few\n"
    body += b'9012,,9012,,501,,,,,1001,user,,,"caf\xe9",,,,,2020-04-02 00:00:00 UTC,\n'
    (d / "Messages.csv").write_bytes(body)
    (d / "Users.csv").write_bytes(_csv(USER_COLS, USERS[:2]))
    res = ws.ingest([d])[0]
    assert res.reader == "vivaengage" and res.status == "partial"
    texts = sorted(t for (t,) in ws.raw.execute("SELECT text FROM items").fetchall())
    assert texts == [
        "Mode's tutorial, it helped me [[user:1003]] [[user:1003]]",
        "Who has a good intro to SQL window functions?\nThinking of https://example.org/sql",
        "caf\ufffd",
        "multi\nline body",
    ]
    rejects = dict(ws.raw.execute("SELECT location, reason FROM rejects").fetchall())
    assert "expected 20 fields" in rejects["Messages.csv:7"]
    assert "invalid UTF-8" in rejects["Messages.csv:8"]
    assert ws.ingest([d])[0].added["items"] == 0


def test_zip_traversal_and_missing_messages(tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("Messages.csv", _csv(MSG_COLS, MESSAGES[:1]))
        zf.writestr("../Users.csv", _csv(USER_COLS, USERS))
    rows = _read(z)
    assert len(rows["items"]) == 1
    assert any("traversal" in r["reason"] for r in rows["rejects"])
    only_users = tmp_path / "users-only.zip"
    with zipfile.ZipFile(only_users, "w") as zf:
        zf.writestr("Users.csv", _csv(USER_COLS, USERS))
    assert VivaEngageReader.detect(only_users) == 0


def test_parse_ts_formats():
    assert parse_ts("2020-03-01 10:00:00 UTC") == datetime(2020, 3, 1, 10, 0)
    assert parse_ts("2020-03-01T10:00:00Z") == datetime(2020, 3, 1, 10, 0)
    assert parse_ts("2020-03-01 12:00:00 +0200") == datetime(2020, 3, 1, 10, 0)
    assert parse_ts("") is None and parse_ts("null") is None and parse_ts("soon") is None


def test_detect_leaves_other_exports(shared_data, tmp_path):
    assert VivaEngageReader.detect(shared_data / "slack" / "houstondatavis-slack-export.zip") == 0
    assert VivaEngageReader.detect(shared_data / "perceval" / "mattermost") == 0
    f = tmp_path / "Messages.csv"
    f.write_text("id,text\n1,hi\n")
    assert VivaEngageReader.detect(f) == 0
