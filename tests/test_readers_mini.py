"""Every reader over tests/data/mini, the small dataset written for the tests (see make_mini.py there):
the counts planted in each export are found, and nothing else. Needs nothing outside the repository."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from covalue import sources
from covalue.testing import collect, ingest_into

MINI = Path(__file__).parent / "data" / "mini"
EXPECTED = json.loads((MINI / "expected.json").read_text(encoding="utf-8"))

#: platform -> (the reader that must read it, the path handed to the ingest)
INPUTS = {
    "slack": ("slack", "slack/makers-guild"),
    "mattermost": ("mattermost", "mattermost/guild-export.jsonl"),
    "discord": ("discord", "discord"),
    "zulip": ("zulip", "zulip/makers-guild"),
    "teams": ("teams", "teams/makers-guild"),
    "vivaengage": ("vivaengage", "vivaengage/makers-network.zip"),
    "discourse": ("discourse", "discourse/forum.makersguild.example"),
    "stackexchange": ("stackexchange", "stackexchange/crafts.stackexchange.com"),
    "mbox": ("mbox", "mbox/makers-list.mbox"),
    "tabular": ("tabular", "tabular/guild-forum"),
    "perceval": ("perceval", "perceval/slack-makers.json"),
}


def found(tables: dict[str, list[dict]]) -> dict[str, int]:
    """The counts a platform's expected entry names, read off the rows a reader wrote."""
    return {
        "members": len(tables["members"]),
        "items": len(tables["items"]),
        "replies": sum(1 for i in tables["items"] if i["kind"] in ("reply", "answer", "comment")),
        "reactions": sum(1 for a in tables["actions"] if a["verb"] == "react"),
        "votes": sum(1 for a in tables["actions"] if a["verb"] == "vote"),
        "rejects": len(tables["rejects"]),
    }


def test_every_platform_has_its_export() -> None:
    assert set(INPUTS) == set(EXPECTED)


@pytest.mark.parametrize("platform", sorted(INPUTS))
def test_the_reader_finds_the_planted_counts(platform: str) -> None:
    name, rel = INPUTS[platform]
    got = collect(sources.get_reader(name)(), MINI / rel)
    assert found(got.tables) == EXPECTED[platform], [r["reason"] for r in got.rows("rejects")]


@pytest.mark.parametrize("platform", sorted(INPUTS))
def test_the_ingest_detects_the_platform_and_keeps_every_row(platform: str, tmp_path: Path) -> None:
    name, rel = INPUTS[platform]
    r = ingest_into(MINI / rel, tmp_path / "ws")
    want = EXPECTED[platform]
    assert r.reader == name
    assert (r.read["items"], r.read["members"], r.rejects) == (
        want["items"],
        want["members"],
        want["rejects"],
    )
    assert r.stored["items"] == want["items"]
    assert r.status == "partial"  # the planted bad records are rejects


def test_a_slack_export_reads_the_same_zipped(tmp_path: Path) -> None:
    """Slack hands out the export as a zip: zipped, the folder gives the same rows."""
    folder = MINI / "slack" / "makers-guild"
    archive = tmp_path / "makers-guild.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in sorted(folder.rglob("*.json")):
            z.write(f, f.relative_to(folder).as_posix())
    unzipped = collect(sources.get_reader("slack")(), folder)
    zipped = collect(sources.get_reader("slack")(), archive)
    assert found(zipped.tables) == EXPECTED["slack"]
    key = ("item_id", "kind", "author_id", "created_at", "text")
    assert sorted(tuple(i[k] for k in key) for i in zipped.rows("items")) == sorted(
        tuple(i[k] for k in key) for i in unzipped.rows("items")
    )
