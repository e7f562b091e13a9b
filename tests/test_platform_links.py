"""Links to the platform only where the export shows its address: the houstondatavis Slack export's file
permalinks name its workspace, the NCAR Zulip archive's messages link to their own realm's streams; the
links built reproduce the ones the members wrote, and an export showing no address gets none."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import duckdb
import pytest

import covalue
from covalue.item_links import item_link, platform_hosts, source_of, workspace_hosts
from covalue.report import coaching
from covalue.report import facts as report_facts

SLACK = "slack/houstondatavis-slack-export.zip"
ZULIP = "zulip/ncar-zulip-archive.tar.gz"
REALM = "https://zulip2.cloud.ucar.edu"
NARROW = re.compile(re.escape(REALM) + r"/#narrow/stream/(\d+)-([^/\s]+)/topic/([^/\s]+)/near/(\d+)")


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> dict[str, Any]:
    ws = covalue.init(tmp_path_factory.mktemp("chat") / "ws")
    ws.ingest([shared_data / SLACK, shared_data / ZULIP])
    ws.analyze()
    try:
        f = report_facts.gather(ws)
        hosts = workspace_hosts(ws)
        zulip_links = [
            r[0]
            for r in ws.raw.execute(
                "SELECT text FROM items WHERE source LIKE 'zulip:%' AND text LIKE '%#narrow/stream/%/near/%'"
            ).fetchall()
        ]
        targets = {
            r[0]: r[1:]
            for r in ws.raw.execute(
                "SELECT i.item_id, i.kind, i.space_id, s.name, coalesce(t.title, i.title) FROM items i "
                "JOIN spaces s ON s.space_id = i.space_id LEFT JOIN items t ON t.item_id = i.thread_id "
                "WHERE i.source LIKE 'zulip:%'"
            ).fetchall()
        }
        slack_items = [
            r[0] for r in ws.raw.execute("SELECT item_id FROM items WHERE source LIKE 'slack:%'").fetchall()
        ]
    finally:
        ws.close()
    return {
        "facts": {c["name"]: c for c in f["communities"]},
        "hosts": hosts,
        "zulip_texts": zulip_links,
        "zulip_items": targets,
        "slack_items": slack_items,
    }


def test_the_exports_show_their_own_addresses(chat: dict[str, Any]) -> None:
    assert chat["hosts"] == {
        "slack:houstondatavis": "houstondatavis.slack.com",
        "zulip:ncar-zulip-archive": REALM,
    }


def test_zulip_links_are_the_ones_members_wrote(chat: dict[str, Any]) -> None:
    exact = seen = 0
    for text in chat["zulip_texts"]:
        for m in NARROW.finditer(text):
            row = chat["zulip_items"].get(f"zulip:ncar-zulip-archive:{m.group(4)}")
            if row is None:
                continue  # a message the archive does not hold
            kind, space_id, space_name, topic = row
            mine = item_link(
                f"zulip:ncar-zulip-archive:{m.group(4)}",
                None,
                kind,
                host=REALM,
                space_id=space_id,
                space_name=space_name,
                topic=topic,
            )
            got = NARROW.fullmatch(mine or "")
            assert got is not None, mine
            # the stream by id, the topic and the message are the ones linked (a stream renamed since
            # keeps its id, and Zulip finds it by the id)
            assert (got.group(1), got.group(3), got.group(4)) == (m.group(1), m.group(3), m.group(4))
            seen += 1
            exact += mine == m.group(0)
    assert seen >= 8 and exact >= 7


def test_slack_links_use_the_channel_ids_and_timestamps_of_the_export(
    chat: dict[str, Any], shared_data: Path
) -> None:
    with zipfile.ZipFile(shared_data / SLACK) as z:
        channels = {c["name"]: c["id"] for c in json.loads(z.read("channels.json"))}
        day = json.loads(z.read("general/2015-10-17.json"))
    ts = next(m["ts"] for m in day if m.get("type") == "message" and not m.get("subtype"))
    iid = next(i for i in chat["slack_items"] if i.endswith(f":{channels['general']}:{ts}"))
    host = chat["hosts"][source_of(iid)]
    assert item_link(iid, "houstondatavis", "post", host=host) == (
        f"https://houstondatavis.slack.com/archives/{channels['general']}/p{ts.replace('.', '')}"
    )
    assert item_link(iid, "houstondatavis", "post") is None  # no address, no link


def test_waiting_questions_link_to_slack_and_zulip(chat: dict[str, Any]) -> None:
    for name, prefix in (
        ("houstondatavis", "https://houstondatavis.slack.com/archives/"),
        ("ncar-zulip-archive", REALM + "/#narrow/stream/"),
    ):
        card = next(p for p in coaching.next_steps(chat["facts"][name]) if p["waiting"])
        assert card["waiting"] and all((q["link"] or "").startswith(prefix) for q in card["waiting"]), name
        for q in card["waiting"]:
            assert q["link"].endswith(q["item_id"].rsplit(":", 1)[1].replace(".", ""))


def test_an_export_showing_no_address_gets_no_link() -> None:
    raw = duckdb.connect()
    raw.execute("CREATE TABLE spaces (space_id TEXT, source TEXT)")
    raw.execute("CREATE TABLE items (item_id TEXT, source TEXT, text TEXT)")
    raw.execute("INSERT INTO spaces VALUES ('zulip:a:7', 'zulip:a')")
    raw.execute(
        "INSERT INTO items VALUES "
        "('slack:w:C1:1.2', 'slack:w', 'see https://files.slack.com/x and https://example.org/y'), "
        "('slack:v:C1:1.2', 'slack:v', 'join us at https://join.slack.com/t/other/shared_invite/z'), "
        # a link to another realm's stream 99, which this archive does not hold
        "('zulip:a:5', 'zulip:a', 'asked at https://other.zulipchat.com/#narrow/stream/99-help/topic/x/near/5'), "
        "('zulip:b:6', 'zulip:b', 'nothing here')"
    )
    assert platform_hosts(raw) == {}
    raw.execute(
        "INSERT INTO items VALUES ('zulip:a:8', 'zulip:a', "
        "'see https://chat.example.org/#narrow/stream/7-help/topic/y/near/3')"
    )
    assert platform_hosts(raw) == {"zulip:a": "https://chat.example.org"}
