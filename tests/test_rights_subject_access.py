"""The subject-access export of one person of the real Beer, Wine & Spirits Stack Exchange dump lists
exactly their posts, comments and votes, counted here straight from the dump's XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import py7zr
import pytest
from typer.testing import CliRunner

import covalue
from covalue.cli import app
from covalue.rights.people import resolve
from covalue.rights.subject_access import LAYOUT, subject_access

BEER = "stackexchange/beer.stackexchange.com.7z"
SRC = "stackexchange:beer-stackexchange-com"
USER = "938"  # 28 questions, 21 answers, 88 comments, 17 favourites: a regular with every kind of row
KINDS = {"1": "question", "2": "answer"}


def _rows(folder: Path, name: str) -> list[dict[str, str]]:
    return [e.attrib for e in ET.parse(folder / name).getroot() if e.tag == "row"]


@pytest.fixture(scope="module")
def dump(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, str]]]:
    out = tmp_path_factory.mktemp("beer-xml")
    with py7zr.SevenZipFile(shared_data / BEER, mode="r") as arc:
        arc.extract(path=out, targets=["Posts.xml", "Comments.xml", "Votes.xml"])
    return {t: _rows(out, f"{t}.xml") for t in ("Posts", "Comments", "Votes")}


def _expected(dump: dict[str, list[dict[str, str]]]) -> dict[str, object]:
    """What the dump attributes to the person, from the XML alone."""
    posts = {p["Id"]: p for p in dump["Posts"]}
    theirs = [p for p in dump["Posts"] if p.get("OwnerUserId") == USER]
    kinds = Counter(KINDS.get(p["PostTypeId"], "page") for p in theirs)
    kinds["comment"] = sum(1 for c in dump["Comments"] if c.get("UserId") == USER)
    acts: Counter[str] = Counter()
    received = 0
    for v in dump["Votes"]:
        post = posts.get(v["PostId"])
        actor = v.get("UserId")
        if v["VoteTypeId"] == "1" and not actor and post is not None:
            # an accepted answer: the dump says who accepted only through the question's asker
            actor = (posts.get(post.get("ParentId", "")) or {}).get("OwnerUserId")
        if actor == USER:
            acts[
                {
                    "1": "accepted_by_originator",
                    "5": "favorite",
                    "8": "bounty_start",
                    "9": "bounty_close",
                }.get(v["VoteTypeId"], v["VoteTypeId"])
            ] += 1
        elif post is not None and post.get("OwnerUserId") == USER:
            received += 1
    # each tag of their questions ties the question to a tag space (the reader's system action)
    acts["tag"] = sum(p["Tags"].count("<") for p in theirs if p["PostTypeId"] == "1" and p.get("Tags"))
    return {
        "kinds": dict(kinds),
        "post_ids": sorted(f"{SRC}:{p['Id']}" for p in theirs),
        "acts": dict(acts),
        "received": received,
    }


def test_subject_access_lists_exactly_their_posts_comments_and_votes(
    dump: dict[str, list[dict[str, str]]], shared_data: Path, tmp_path: Path
) -> None:
    want = _expected(dump)
    assert want["kinds"] == {"question": 28, "answer": 21, "comment": 88}
    assert want["acts"]["favorite"] == 17
    ws = covalue.init(tmp_path / "ws")
    assert ws.ingest([shared_data / BEER])[0].status == "ok"
    held = subject_access(ws, resolve(ws, f"{SRC}:{USER}"))
    rows = held["workspace_rows"]
    assert held["layout"] == LAYOUT
    assert held["items_by_kind"] == want["kinds"]
    assert sorted(r["item_id"] for r in rows["items"] if r["kind"] != "comment") == want["post_ids"]
    assert Counter(r["detail"] for r in rows["actions"]) == want["acts"]
    assert len(rows["actions_about_them"]) == want["received"]
    assert [r["native_id"] for r in rows["identities"]] == [USER]
    assert all(r["author_id"] == rows["identities"][0]["identity_id"] for r in rows["items"])
    ws.close()

    # the command writes the same document
    out = tmp_path / "person.json"
    r = CliRunner().invoke(
        app, ["subject-access", f"{SRC}:{USER}", "-w", str(tmp_path / "ws"), "-o", str(out)]
    )
    assert r.exit_code == 0, r.output
    written = json.loads(out.read_text())
    assert written["counts"] == held["counts"] and written["items_by_kind"] == want["kinds"]
    r = CliRunner().invoke(app, ["subject-access", "nobody@example.org", "-w", str(tmp_path / "ws")])
    assert r.exit_code == 2 and "nobody" in r.output


def test_subject_access_includes_the_responses_they_gave_in_the_analysis(tmp_path: Path) -> None:
    """Derived tables name a person as the one who responded (``actor``) or was responded to
    (``target``): the planted club's frank reacted to and mentioned others in March and April, so his
    export holds each of those responses (not the reaction to the bot's post: a bot is no audience)
    and the months he responded in."""
    import maturity_fixtures as mf

    ws = covalue.init(tmp_path / "ws")
    mf.load(ws)
    ws.analyze()
    frank = mf.mid("frank")
    rows = subject_access(ws, resolve(ws, frank))["workspace_rows"]
    planted = mf.rows()
    by_bot = {i["item_id"] for i in planted["items"] if i["author_id"] == mf.mid("botty")}
    want = [
        a
        for a in planted["actions"]
        if a["actor_id"] == frank and a["verb"] in ("react", "mention") and a["item_id"] not in by_bot
    ]
    assert len(want) == 15
    assert len([r for r in rows["interactions"] if r["actor"] == frank]) == len(want)
    assert {r["month"] % 12 + 1 for r in rows["responder_months"] if r["actor"] == frank} == {3, 4}
    assert all(frank in (r["actor"], r["member_id"]) for r in rows["responder_months"])
    ws.close()
