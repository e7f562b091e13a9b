"""Communities are named from the export's own metadata (a Stack Exchange site's links to itself, a
Discourse forum's internal links or its one category, a Slack workspace's permalinks, a list's
List-Id), the file or folder name only as a last resort, and ``--community`` still wins."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import py7zr
import pytest

from covalue.sources.discourse import DiscourseReader
from covalue.sources.naming import se_site_from_posts
from covalue.sources.slack import SlackReader
from covalue.sources.stackexchange import StackExchangeReader
from covalue.testing import collect

BEER = "stackexchange/beer.stackexchange.com.7z"
#: the address the Beer, Wine & Spirits site has had since its rename, as its own posts link to it
BEER_HOST = "alcohol.stackexchange.com"


def names(reader: Any, path: Path, community: str | None = None) -> tuple[list[str], list[str]]:
    """(community names, source names) a reader gives ``path``."""
    got = collect(reader, path, community=community)
    return [r["name"] for r in got.rows("communities")], sorted(got.sink.sources)


@pytest.fixture(scope="module")
def beer_data(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """The Beer dump unpacked into a folder called ``data``, as many tutorials have it."""
    dest = tmp_path_factory.mktemp("unpacked") / "data"
    with py7zr.SevenZipFile(shared_data / BEER, mode="r") as arc:
        arc.extractall(dest)
    return dest


def test_beer_from_its_7z_is_named_after_the_site(shared_data: Path) -> None:
    assert names(StackExchangeReader(), shared_data / BEER) == (
        ["beer.stackexchange.com"],
        ["stackexchange:beer-stackexchange-com"],
    )


def test_beer_from_a_folder_called_data_is_named_after_the_site(beer_data: Path) -> None:
    # 51 of the dump's links to alcohol.stackexchange.com/questions/<id>/<slug> match a question of
    # the dump by id and title; its links to other sites match none
    assert se_site_from_posts(beer_data / "Posts.xml") == BEER_HOST
    assert names(StackExchangeReader(), beer_data) == (
        [BEER_HOST],
        ["stackexchange:alcohol-stackexchange-com"],
    )
    # a single Posts.xml is not named "data" either
    assert names(StackExchangeReader(), beer_data / "Posts.xml")[0] == [BEER_HOST]
    # --community still wins
    assert names(StackExchangeReader(), beer_data, community="Beer club")[0] == ["Beer club"]


def test_generic_folder_inside_a_site_folder_and_a_7z_of_another_name(
    beer_data: Path, tmp_path: Path, shared_data: Path
) -> None:
    inside = tmp_path / "beer.stackexchange.com" / "data"
    inside.parent.mkdir()
    inside.symlink_to(beer_data, target_is_directory=True)
    assert names(StackExchangeReader(), inside)[0] == ["beer.stackexchange.com"]
    renamed = tmp_path / "dump.7z"
    renamed.symlink_to(shared_data / BEER)
    assert names(StackExchangeReader(), renamed)[0] == [BEER_HOST]


def test_discourse_folder_called_json_is_named_after_the_forum(tmp_path: Path, shared_data: Path) -> None:
    folder = tmp_path / "json"
    folder.mkdir()
    for n in (1148, 1149):
        shutil.copy(shared_data / "perceval" / "discourse" / f"discourse_topic_{n}.json", folder)
    # the uBlock Origin thread links to other topics of its forum, which Discourse marks internal
    assert names(DiscourseReader(), folder) == (
        ["discourse.mozilla-community.org"],
        ["discourse:discourse-mozilla-community-org"],
    )


def test_discourse_without_its_host_is_named_after_its_category(tmp_path: Path) -> None:
    folder = tmp_path / "forum-crawl" / "json"
    folder.mkdir(parents=True)
    (folder / "categories.json").write_text(
        json.dumps(
            {
                "category_list": {"categories": [{"id": 7, "name": "Data Help"}, {"id": 8, "name": "Meta"}]},
                "post_action_types": [],
            }
        )
    )
    post = {"id": 1, "post_number": 1, "username": "ann", "user_id": 1, "created_at": "2024-01-01T10:00:00Z"}
    for tid in (1, 2):
        topic = {
            "id": tid,
            "title": f"topic {tid}",
            "category_id": 7,
            "post_stream": {"posts": [dict(post, id=tid)]},
        }
        (folder / f"{tid}.json").write_text(json.dumps(topic))
    assert names(DiscourseReader(), folder)[0] == ["Data Help"]
    # topics of two categories: the category names neither, the folder above "json" does
    (folder / "3.json").write_text(
        json.dumps({"id": 3, "title": "t3", "category_id": 8, "post_stream": {"posts": [dict(post, id=3)]}})
    )
    assert names(DiscourseReader(), folder) == (["forum-crawl"], ["discourse:forum-crawl"])


def test_slack_export_of_any_file_name_is_named_after_its_workspace(
    tmp_path: Path, shared_data: Path
) -> None:
    renamed = tmp_path / "export.zip"
    renamed.symlink_to(shared_data / "slack" / "houstondatavis-slack-export.zip")
    # its file shares link to houstondatavis.slack.com
    assert names(SlackReader(), renamed)[0] == ["houstondatavis"]


def test_zulip_archive_folder_called_zulip_json_is_named_after_the_archive(tmp_path: Path) -> None:
    from covalue.sources.zulip import ZulipReader

    folder = tmp_path / "ncar-zulip" / "zulip_json"
    stream = folder / "5-general"
    stream.mkdir(parents=True)
    msg = {
        "content": "<p>How do I start?</p>",
        "id": 1,
        "sender_full_name": "Ann Lee",
        "timestamp": 1700000000,
    }
    (stream / "hello.json").write_text(json.dumps([msg]))
    assert names(ZulipReader(), folder) == (["ncar-zulip"], ["zulip:ncar-zulip"])
