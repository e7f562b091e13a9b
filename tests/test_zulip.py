"""Zulip reader: NCAR's public zulip-archive (from the .tar.gz and unpacked), a realm export written here
from Zulip's documented format, and damaged archives."""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from covalue import testing
from covalue.sources.zulip import ZulipReader, decode_name


def collect(path: Path) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    got = testing.collect(ZulipReader(), path)
    return got.tables, got.messages


@pytest.fixture(scope="module")
def ncar(shared_data: Path) -> Path:
    return shared_data / "zulip" / "ncar-zulip-archive.tar.gz"


@pytest.fixture(scope="module")
def ncar_counts(ncar: Path) -> dict[str, Any]:
    """Messages and senders counted straight from the archive, for all topic files and for those whose
    name does not start with a dot."""
    out: dict[str, Any] = {"all": [0, set(), 0], "visible": [0, set(), 0]}
    with tarfile.open(ncar) as tf:
        for m in tf.getmembers():
            name = PurePosixPath(m.name)
            if not m.isfile() or name.name == "stream_index.json":
                continue
            messages = json.load(tf.extractfile(m))
            keys = ["all"] if name.name.startswith(".") else ["all", "visible"]
            for k in keys:
                out[k][0] += len(messages)
                out[k][1].update(x["sender_full_name"] for x in messages)
                out[k][2] += 1
    return out


def test_ncar_archive(ncar: Path, ncar_counts: dict[str, Any]) -> None:
    t0 = time.perf_counter()
    rows, messages = collect(ncar)
    seconds = time.perf_counter() - t0
    n_messages, senders, n_topics = ncar_counts["all"]
    # The data README's 6,555 messages / 168 senders / 809 topics leave out the 22 topic files whose
    # names start with a dot (topics such as ".zarray ownership" or "/glade/scratch ..."): a shell glob
    # hides those. They hold 152 real messages and 3 more senders, and the reader reads them.
    assert ncar_counts["visible"][0] == 6555 and len(ncar_counts["visible"][1]) == 168
    assert ncar_counts["visible"][2] == 809
    assert (n_messages, len(senders), n_topics) == (6707, 171, 831)
    assert len(rows["items"]) == n_messages
    assert len(rows["identities"]) == len(senders) == 171
    assert {i["display_name"] for i in rows["identities"]} == senders
    assert {i["display_name"] for i in rows["identities"] if i["is_bot"]} == {
        "Notification Bot",
        "Welcome Bot",
    }
    assert sum(i["kind"] == "post" for i in rows["items"]) == n_topics
    assert rows["rejects"] == []
    spaces = {s["name"] for s in rows["spaces"]}
    assert len(spaces) == 32 and "0.1° JRA BGC Run" in spaces and "dask" in spaces
    titles = {i["title"] for i in rows["items"] if i["title"]}
    assert ".zarray ownership" in titles and "kill persist()?" in titles
    replies = [i for i in rows["items"] if i["kind"] == "reply"]
    assert all(r["parent_id"] == r["thread_id"] for r in replies)
    mentions = [a for a in rows["actions"] if a["verb"] == "mention"]
    people = {i["identity_id"] for i in rows["identities"]}
    assert len(mentions) > 2000 and all(a["target_id"] in people for a in mentions)
    assert any("mentions name people who wrote nothing" in m for m in messages)
    print(f"NCAR zulip archive: {n_messages / seconds:,.0f} messages/s ({seconds:.2f} s)")


def test_ncar_unpacked_folder_matches(ncar: Path, tmp_path: Path) -> None:
    with tarfile.open(ncar) as tf:
        tf.extractall(tmp_path, filter="data")
    assert ZulipReader.detect(tmp_path) > 0.5
    rows, _ = collect(tmp_path)
    assert len(rows["items"]) == 6707 and len(rows["identities"]) == 171


def _tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_bad_entries_are_rejected_and_the_rest_kept(tmp_path: Path) -> None:
    good = json.dumps(
        [
            {"id": 1, "content": "<p>hi</p>", "sender_full_name": "Ann", "timestamp": 1600000000},
            {"id": 2, "content": "<p>yo</p>", "sender_full_name": "Bo", "timestamp": 1600000100},
            {"id": 3, "content": "<p>no time</p>", "sender_full_name": "Bo"},
        ]
    ).encode()
    arc = _tar(
        tmp_path / "bad-zulip.tar.gz",
        {
            "zulip_json/1-general/hello.json": good,
            "zulip_json/1-general/broken.json": b'[{"id": 4, "content": ',
            "zulip_json/1-general/latin.json": '[{"id": 5, "sender_full_name": "Zoë"}]'.encode("latin-1"),
            "../../evil.json": good,
            "zulip_json/stream_index.json": json.dumps({"streams": {"general talk": {"id": 1}}}).encode(),
        },
    )
    rows, _ = collect(arc)
    assert sorted(i["item_id"].rsplit(":", 1)[1] for i in rows["items"]) == ["1", "2"]
    reasons = {r["location"]: r["reason"] for r in rows["rejects"]}
    assert "malformed JSON" in reasons["zulip_json/1-general/broken.json"]
    assert "malformed JSON" in reasons["zulip_json/1-general/latin.json"]  # not UTF-8
    assert "path traversal" in reasons["bad-zulip.tar.gz:../../evil.json"]
    assert "timestamp" in reasons["zulip_json/1-general/hello.json[2]"]
    assert [s["name"] for s in rows["spaces"]] == ["general talk"]


def test_workspace_ingest_detects_and_is_idempotent(ncar: Path, ws: Any) -> None:
    [first] = ws.ingest([ncar])
    assert first.reader == "zulip" and first.added["items"] == 6707 and first.rejects == 0
    [again] = ws.ingest([ncar])
    assert again.added["items"] == 0 and again.added["actions"] == 0


def test_truncated_archive_keeps_what_was_read(ncar: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut-zulip.tar.gz"
    cut.write_bytes(ncar.read_bytes()[: ncar.stat().st_size // 2])
    rows, _ = collect(cut)
    assert 1000 < len(rows["items"]) < 6707
    assert any("truncated" in r["reason"] for r in rows["rejects"])


def test_decode_name() -> None:
    assert decode_name("0.2E1.C2.B0.20JRA") == "0.1° JRA"
    assert decode_name("kill.20persist.28.29.3F") == "kill persist()?"


def _realm(tmp_path: Path) -> Path:
    d = tmp_path / "zulip-export-abc"
    d.mkdir()
    realm = {
        "zerver_realm": [{"id": 1, "string_id": "acme", "name": "Acme Research"}],
        "zerver_userprofile": [
            {
                "id": 10,
                "full_name": "Ann Lee",
                "email": "user10@acme.zulipchat.com",
                "delivery_email": "ann@acme.org",
                "is_bot": False,
                "role": 200,
                "date_joined": 1600000000.0,
            },
            {
                "id": 11,
                "full_name": "Bo Ng",
                "email": "user11@acme.zulipchat.com",
                "delivery_email": "bo@acme.org",
                "is_bot": False,
                "role": 400,
                "date_joined": 1600000500.0,
            },
            {"id": 12, "full_name": "Notify Bot", "email": "bot@acme.org", "is_bot": True, "role": 400},
        ],
        "zerver_userprofile_crossrealm": [{"id": 1, "email": "welcome-bot@zulip.com"}],
        "zerver_stream": [
            {"id": 5, "name": "help", "recipient": 50},
            {"id": 6, "name": "random", "recipient": 60},
        ],
        "zerver_recipient": [
            {"id": 50, "type": 2, "type_id": 5},
            {"id": 60, "type": 2, "type_id": 6},
            {"id": 70, "type": 1, "type_id": 10},
        ],
        "zerver_reaction": [
            {
                "id": 1,
                "user_profile": 11,
                "message": 100,
                "emoji_name": "+1",
                "reaction_type": "unicode_emoji",
            },
            {
                "id": 2,
                "user_profile": 10,
                "message": 102,
                "emoji_name": "tada",
                "reaction_type": "unicode_emoji",
            },
        ],
        "zerver_submessage": [
            {
                "id": 1,
                "message_id": 101,
                "sender_id": 10,
                "msg_type": "widget",
                "content": json.dumps({"widget_type": "poll", "extra_data": {"question": "When?"}}),
            },
            {
                "id": 2,
                "message_id": 101,
                "sender_id": 11,
                "msg_type": "widget",
                "content": json.dumps({"type": "vote", "key": "canned,0", "vote": 1}),
            },
        ],
    }
    msgs1 = {
        "zerver_message": [
            {
                "id": 100,
                "sender": 10,
                "recipient": 50,
                "subject": "install fails",
                "content": "How do I install?",
                "rendered_content": "<p>How do I <strong>install</strong>?</p>",
                "date_sent": 1600001000.0,
            },
            {
                "id": 101,
                "sender": 11,
                "recipient": 60,
                "subject": "lunch",
                "content": "/poll When?",
                "rendered_content": "<p>/poll When?</p>",
                "date_sent": 1600001100.0,
            },
            {
                "id": 103,
                "sender": 10,
                "recipient": 70,
                "subject": "",
                "content": "private",
                "date_sent": 1600001200.0,
            },
        ],
        "zerver_usermessage": [],
    }
    msgs2 = {
        "zerver_message": [
            {
                "id": 102,
                "sender": 11,
                "recipient": 50,
                "subject": "install fails",
                "content": "Use pip.",
                "rendered_content": '<p><span class="user-mention" data-user-id="10">@Ann Lee</span> Use pip, '
                'see <a href="https://pip.pypa.io">docs</a>.</p>',
                "date_sent": 1600002000.0,
                "has_attachment": True,
            },
            {"id": 104, "sender": 10, "recipient": 50, "subject": "install fails", "content": "bad"},
        ]
    }
    (d / "realm.json").write_text(json.dumps(realm))
    (d / "messages-000001.json").write_text(json.dumps(msgs1))
    (d / "messages-000002.json").write_text(json.dumps(msgs2))
    (d / "attachment.json").write_text(json.dumps({"zerver_attachment": []}))
    return d


def test_realm_export(tmp_path: Path) -> None:
    d = _realm(tmp_path)
    assert ZulipReader.detect(d) > 0.5
    rows, messages = collect(d)
    items = {i["item_id"]: i for i in rows["items"]}
    assert set(items) == {"zulip:acme:100", "zulip:acme:101", "zulip:acme:102"}  # 103 is private
    assert items["zulip:acme:102"]["kind"] == "reply"
    assert items["zulip:acme:102"]["thread_id"] == "zulip:acme:100"  # same topic, another messages file
    assert items["zulip:acme:102"]["n_links"] == 1 and items["zulip:acme:102"]["n_attachments"] == 1
    assert items["zulip:acme:100"]["text"] == "How do I install?"
    people = {i["native_id"]: i for i in rows["identities"]}
    assert people["10"]["display_name"] == "Ann Lee" and people["10"]["email_hash"] is not None
    assert people["12"]["is_bot"] and people["1"]["is_bot"]
    roles = {m["member_id"]: m["role"] for m in rows["members"]}
    assert roles[people["10"]["identity_id"]] == "admin"
    reacts = [a for a in rows["actions"] if a["verb"] == "react"]
    assert len(reacts) == 2 and {a["detail"] for a in reacts} == {"+1", "tada"}
    [vote] = [a for a in rows["actions"] if a["verb"] == "vote"]
    assert vote["actor_id"] == people["11"]["identity_id"] and vote["item_id"] == "zulip:acme:101"
    [mention] = [a for a in rows["actions"] if a["verb"] == "mention"]
    assert mention["actor_id"] == people["11"]["identity_id"]
    assert mention["target_id"] == people["10"]["identity_id"]
    assert any("date_sent" in r["reason"] for r in rows["rejects"])
    assert any("private" in m for m in messages)
    assert {s["name"] for s in rows["spaces"]} == {"help", "random"}


def test_realm_export_in_a_tar_with_messages_first(tmp_path: Path) -> None:
    d = _realm(tmp_path)
    files = {
        f"zulip-export-abc/{n}": (d / n).read_bytes()
        for n in ("attachment.json", "messages-000002.json", "messages-000001.json", "realm.json")
    }
    arc = _tar(tmp_path / "zulip-export-abc.tar.gz", files)
    assert ZulipReader.detect(arc) > 0.5
    rows, _ = collect(arc)
    kinds = {i["item_id"]: i["kind"] for i in rows["items"]}
    assert kinds == {"zulip:acme:100": "post", "zulip:acme:101": "post", "zulip:acme:102": "reply"}
    assert sum(a["verb"] == "react" for a in rows["actions"]) == 2
