"""Moving spaces between communities (``covalue communities``): the rows follow their space, actions
follow their item, a community left with nothing goes, and the move holds for later ingests."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import covalue
from covalue import communities
from covalue.cli import app

HDV = "slack/houstondatavis-slack-export.zip"
MOVED = ("datajam", "#get_feedback")


def _per_community(ws: covalue.Workspace, table: str) -> dict[str, int]:
    return dict(ws.raw.execute(f"SELECT community_id, count(*) FROM {table} GROUP BY 1").fetchall())


@pytest.fixture
def hdv(shared_data: Path, tmp_path: Path) -> covalue.Workspace:
    ws = covalue.init(tmp_path / "ws")
    assert ws.ingest([shared_data / HDV])[0].status in ("ok", "partial")
    yield ws
    ws.close()


def test_moved_spaces_take_their_items_and_actions_and_keep_them_after_an_ingest(
    hdv: covalue.Workspace, shared_data: Path
) -> None:
    ws, q = hdv, hdv.raw.execute
    spaces = {r["name"]: r for r in communities.spaces(ws)}
    ids = sorted(spaces[n.lstrip("#")]["space_id"] for n in MOVED)
    in_moved = q("SELECT count(*) FROM items WHERE space_id IN (?, ?)", ids).fetchone()[0]
    acts = q(
        "SELECT count(*) FROM actions a WHERE a.space_id IN (?, ?) OR (a.space_id IS NULL AND a.item_id IN "
        "(SELECT item_id FROM items WHERE space_id IN (?, ?)))",
        [*ids, *ids],
    ).fetchone()[0]
    items_before, actions_before = _per_community(ws, "items"), _per_community(ws, "actions")
    assert in_moved > 200 and acts > 0 and list(items_before) == ["houstondatavis"]

    moved = communities.move(ws, list(MOVED), "Data Jam")
    assert moved.community_id == "data-jam" and moved.name == "Data Jam" and moved.spaces == ids
    assert moved.items == in_moved and moved.actions == acts
    assert _per_community(ws, "items") == {
        "houstondatavis": items_before["houstondatavis"] - in_moved,
        "data-jam": in_moved,
    }
    assert sum(_per_community(ws, "actions").values()) == sum(actions_before.values())
    # no action on a moved item stays behind
    assert not q(
        "SELECT count(*) FROM actions a JOIN items i USING (item_id) WHERE a.community_id <> i.community_id"
    ).fetchone()[0]
    assert q("SELECT name FROM communities WHERE community_id = 'data-jam'").fetchone() == ("Data Jam",)

    # the same export again adds nothing and moves nothing back; lost rows come back where they were moved
    q("DELETE FROM items WHERE space_id = ? AND item_id NOT IN (SELECT item_id FROM actions WHERE item_id "
      "IS NOT NULL) AND item_id NOT IN (SELECT parent_id FROM items WHERE parent_id IS NOT NULL)", [ids[0]])  # fmt: skip
    gone = in_moved - q("SELECT count(*) FROM items WHERE space_id IN (?, ?)", ids).fetchone()[0]
    assert gone > 0
    again = ws.ingest([shared_data / HDV])[0]
    assert again.added["items"] == gone
    assert _per_community(ws, "items")["data-jam"] == in_moved

    # both communities are analysed apart
    ws.analyze()
    mix = {c for (c,) in q("SELECT DISTINCT community_id FROM stage_mix").fetchall()}
    assert mix == {"houstondatavis", "data-jam"}


def test_a_community_left_with_nothing_is_removed_and_names_are_checked(hdv: covalue.Workspace) -> None:
    every = [r["space_id"] for r in communities.spaces(hdv)]
    moved = communities.move(hdv, every, "hdv-all", name="Houston Data Vis")
    assert moved.emptied == ["houstondatavis"]
    # what no space held (integrations added to the workspace) went with the spaces
    assert set(_per_community(hdv, "actions")) == {"hdv-all"}
    assert hdv.raw.execute("SELECT community_id, name FROM communities").fetchall() == [
        ("hdv-all", "Houston Data Vis")
    ]
    with pytest.raises(communities.CommunityError, match="no space is called 'nowhere'"):
        communities.move(hdv, ["nowhere"], "x")


def test_the_command_lists_moves_and_refuses_an_unknown_space(hdv: covalue.Workspace) -> None:
    path = str(hdv.path)
    hdv.close()
    runner = CliRunner()
    r = runner.invoke(app, ["communities", "move", "datajam", "--to", "jam", "-w", path])
    assert r.exit_code == 0, r.output
    assert "1 spaces are now in jam (jam)" in r.output
    r = runner.invoke(app, ["communities", "spaces", "-w", path, "-c", "jam", "--json"])
    assert r.exit_code == 0 and '"name": "datajam"' in r.output
    r = runner.invoke(app, ["communities", "move", "nowhere", "--to", "jam", "-w", path])
    assert r.exit_code == 2 and "no space is called 'nowhere'" in r.output
