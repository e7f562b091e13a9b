"""Discourse reader: the real Perceval captures (one uBlock Origin support thread, posts, topic lists) and
synthetic topics with planted structure (accepted answers, support categories, tags, bad files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from covalue import testing
from covalue.sources.discourse import DiscourseReader
from covalue.sources.htmltext import html_text


def collect(path: Path) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Read ``path`` with the Discourse reader into plain rows per table (no workspace)."""
    got = testing.collect(DiscourseReader(), path)
    return got.tables, got.messages


def expected(doc: dict[str, Any]) -> tuple[int, int]:
    """(items, like actions) in one Discourse API document, counted straight from the JSON."""
    if "post_stream" in doc:
        posts = {p["id"]: p for p in doc["post_stream"]["posts"]}.values()
    elif "topic_list" in doc:
        topics = doc["topic_list"]["topics"]
        return len(topics), sum(1 for t in topics if (t.get("like_count") or 0) > 0)
    else:
        posts = [doc]
    likes = sum(
        1 for p in posts if any(a["id"] == 2 and a["count"] > 0 for a in p.get("actions_summary", []))
    )
    return len(posts), likes


def test_every_perceval_file_alone(shared_data: Path) -> None:
    folder = shared_data / "perceval" / "discourse"
    files = sorted(folder.glob("*.json"))
    assert len(files) == 9
    for f in files:
        doc = json.loads(f.read_bytes())
        n_items, n_likes = expected(doc)
        rows, _ = collect(f)
        assert len(rows["items"]) == n_items, f.name
        assert sum(a["verb"] == "react" for a in rows["actions"]) == n_likes, f.name
        assert rows["rejects"] == [], f.name
        assert DiscourseReader.detect(f) > 0.5, f.name
    empty, _ = collect(folder / "discourse_topics_empty.json")
    assert empty["items"] == [] and empty["rejects"] == []
    null_last, _ = collect(folder / "discourse_topics_last_posted_at_null.json")
    assert [i["title"] for i in null_last["items"]] == [
        "PAGESHOTS",
        "Specify per-item service catalogue approval type",
    ]


def test_support_thread_structure(shared_data: Path) -> None:
    rows, messages = collect(shared_data / "perceval" / "discourse" / "discourse_topic_1148.json")
    items = {i["item_id"].rsplit(":", 1)[1]: i for i in rows["items"]}
    first = items["t1148"]
    assert first["kind"] == "post" and first["title"] == "[Support] uBlock Origin"
    assert first["views"] == 13372  # the topic's views, not the first post's reads
    replies = [i for i in items.values() if i["kind"] == "reply"]
    assert len(replies) == 19 and all(r["thread_id"] == first["item_id"] for r in replies)
    assert items["p19133"]["views"] == 99  # reads
    assert items["p19133"]["n_links"] >= 2  # anchors keep their address in the text
    likes = {a["item_id"].rsplit(":", 1)[1]: a for a in rows["actions"] if a["verb"] == "react"}
    assert likes["t1148"]["value"] == 6.0 and likes["t1148"]["actor_id"] is None
    assert likes["t1148"]["target_id"] == first["author_id"]
    assert any("first chunk" in m for m in messages)  # 20 of the 22 posts are in the file


def test_reply_to_post_number_sets_parent(shared_data: Path) -> None:
    rows, _ = collect(shared_data / "perceval" / "discourse" / "discourse_posts.json")
    items = {i["item_id"].rsplit(":", 1)[1]: i for i in rows["items"]}
    assert items["p4396"]["parent_id"].endswith(":p4387")  # reply_to_post_number 2
    assert items["p4393"]["parent_id"].endswith(":t1448")  # no target: the first post
    assert items["t1448"]["kind"] == "post"
    # '@kincl' wrote the first post; '@blomquisg' wrote nothing here, so no user id is known for them
    [mention] = [a for a in rows["actions"] if a["verb"] == "mention"]
    assert mention["item_id"] == items["p4393"]["item_id"]
    assert mention["target_id"] == items["t1448"]["author_id"]


def test_folder_ingest_is_idempotent(shared_data: Path, ws: Any) -> None:
    folder = shared_data / "perceval" / "discourse"
    [first] = ws.ingest([folder])
    assert first.reader == "discourse"
    # 20 + 2 + 2 posts in the topic files, minus post 19133 repeated in topics 1149 and 1150, plus the 4
    # posts of topic 1448 and the single post; the lists name only topics already read in full
    assert first.read["items"] == 27 and first.rejects == 0
    [again] = ws.ingest([folder])
    assert again.added["items"] == 0 and again.added["actions"] == 0


def _topic(tid: int, posts: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": tid,
        "title": f"topic {tid}",
        "views": 50,
        "category_id": 7,
        "post_stream": {"posts": posts},
        **extra,
    }


def _post(pid: int, n: int, user: int, *, reply_to: int | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": pid,
        "post_number": n,
        "user_id": user,
        "username": f"u{user}",
        "name": f"User {user}",
        "created_at": f"2024-01-0{n}T10:00:00Z",
        "cooked": f"<p>post {pid}</p>",
        "reads": n,
        "reply_to_post_number": reply_to,
        "actions_summary": [],
        **extra,
    }


def test_planted_structure_and_bad_files(tmp_path: Path) -> None:
    site = tmp_path / "forum.example.org"
    (site / "t").mkdir(parents=True)
    (site / "categories.json").write_text(
        json.dumps(
            {
                "category_list": {
                    "categories": [{"id": 7, "name": "Help & Support"}, {"id": 8, "name": "Lounge"}]
                }
            }
        )
    )
    solved = _topic(
        1,
        [
            _post(10, 1, 1),
            _post(11, 2, 2, reply_to=1, moderator=True),
            _post(12, 3, 3, reply_to=2, accepted_answer=True, actions_summary=[{"id": 2, "count": 4}]),
        ],
        tags=["python", {"name": "pandas"}],
        accepted_answer={"post_number": 3, "username": "u3"},
    )
    (site / "t" / "1.json").write_text(json.dumps(solved))
    closed = _post(23, 4, 2, post_type=3, action_code="closed.enabled", cooked="")
    lounge = _topic(
        2,
        [_post(20, 1, 2), _post(21, 2, 1), {"id": 22, "post_number": 3, "user_id": 1}, closed],
        category_id=8,
    )
    (site / "t" / "2.json").write_text(json.dumps(lounge))
    (site / "t" / "3.json").write_text('{"post_stream": {"posts": [')  # cut off mid-download
    (site / "t" / "4.json").write_bytes(
        '{"id": 4, "title": "caf\xe9", "post_stream": {"posts": []}}'.encode("latin-1")
    )
    (site / "about.json").write_text('{"about": {"title": "not a topic"}}')
    rows, _ = collect(site)
    items = {i["item_id"].rsplit(":", 1)[1]: i for i in rows["items"]}
    assert set(items) == {"t1", "p11", "p12", "t2", "p21"}
    assert items["t1"]["kind"] == "question"  # support category (and an accepted answer)
    assert items["t2"]["kind"] == "post"  # the lounge, no accepted answer
    assert items["p12"]["accepted"] and items["p12"]["parent_id"].endswith(":p11")
    assert items["t1"]["space_id"].endswith(":c7")
    accept = [a for a in rows["actions"] if a["verb"] == "accept"]
    assert len(accept) == 1 and accept[0]["actor_id"] == items["t1"]["author_id"]
    assert accept[0]["target_id"] == items["p12"]["author_id"]
    roles = {m["member_id"]: m["role"] for m in rows["members"]}
    assert roles[items["p11"]["author_id"]] == "moderator" and roles[items["t1"]["author_id"]] is None
    [event] = [a for a in rows["actions"] if a["detail"] == "closed.enabled"]
    assert event["verb"] == "system" and event["item_id"] == items["t2"]["item_id"]
    tags = {s["name"] for s in rows["spaces"] if s["kind"] == "tag"}
    assert tags == {"python", "pandas"}
    assert sum(a["detail"] == "tag" for a in rows["actions"]) == 2
    [like] = [a for a in rows["actions"] if a["verb"] == "react"]
    assert like["value"] == 4.0
    reasons = {r["location"]: r["reason"] for r in rows["rejects"]}
    assert "malformed JSON" in reasons["t/3.json"]
    assert "malformed JSON" in reasons["t/4.json"]  # Latin-1 bytes where JSON must be UTF-8
    assert "not a Discourse" in reasons["about.json"]
    assert any("has no usable created_at" in r for loc, r in reasons.items() if loc.startswith("t/2.json"))


def test_detect_refuses_other_json(shared_data: Path, tmp_path: Path) -> None:
    assert DiscourseReader.detect(shared_data / "perceval" / "groupsio" / "login") == 0.0
    f = tmp_path / "x.json"
    f.write_text('{"backend_name": "Discourse", "data": {"post_stream": {}}}')  # a Perceval dump
    assert DiscourseReader.detect(f) == 0.0
    assert DiscourseReader.detect(shared_data / "perceval" / "discourse") > 0.5


@pytest.mark.parametrize(
    ("html", "text", "links"),
    [
        ('<p>see <a href="https://x.org/a">the docs</a></p>', "see the docs (https://x.org/a)", 1),
        ('<p>raw <a href="https://x.org">https://x.org</a></p>', "raw https://x.org", 1),
        ('<p>hi <a class="mention" href="/u/bob">@bob</a></p><p>two</p>', "hi @bob\ntwo", 0),
        ("", "", 0),
    ],
)
def test_html_text(html: str, text: str, links: int) -> None:
    out, _ = html_text(html)
    assert out == text
    assert out.count("http") == links
