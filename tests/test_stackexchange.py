"""The Stack Exchange dump reader: exact counts on the real Beer dump, and every kind of bad input."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import py7zr
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import covalue
from covalue.cli import app
from covalue.sources import ReaderError
from covalue.sources.htmltext import html_to_text
from covalue.sources.stackexchange import StackExchangeReader
from covalue.sources.stackexchange_dump import root_name
from covalue.sources.stackexchange_rows import IdMap
from covalue.testing import collect

BEER = "stackexchange/beer.stackexchange.com.7z"
SITE = "beer.stackexchange.com"
SOURCE = "stackexchange:beer-stackexchange-com"

# README counts of the Beer dump (2020-06)
QUESTIONS, ANSWERS, COMMENTS, ACCEPTED, MEMBERS, VOTES = 1_029, 2_277, 3_509, 619, 6_863, 18_564
PAGES = 81 + 81 + 3  # tag wiki excerpts and wikis, and the three type-7 posts


FINGERPRINT = {
    "identities": "identity_id, native_id, display_name, is_bot",
    "members": "member_id, joined_at, location",
    "items": "item_id, kind, coalesce(author_id, '-'), thread_id, coalesce(parent_id, '-'), accepted, "
    "created_at, n_words, n_links, coalesce(score, 0), coalesce(views, 0)",
    "actions": "action_id, verb, coalesce(actor_id, '-'), coalesce(target_id, '-'), item_id, "
    "coalesce(value, 9), coalesce(detail, '-'), ts",
}


# -- helpers ----------------------------------------------------------------------------------------
def q(ws: covalue.Workspace, sql: str) -> Any:
    return ws.raw.execute(sql).fetchall()


def beer_counts(ws: covalue.Workspace) -> dict[str, Any]:
    """Everything the tests compare between the ways of reading the same dump."""
    src = ws.status()["sources"][SOURCE]
    return {
        "members": src["members"],
        "bots": src["bots"],
        "items": src["items"],
        "actions": src["actions"],
        "accepted": q(ws, "SELECT count(*) FROM items WHERE accepted")[0][0],
        "targets": q(ws, "SELECT count(target_id), count(actor_id) FROM actions")[0],
        "authors": q(ws, "SELECT count(author_id) FROM items")[0][0],
        "rejects": q(ws, "SELECT count(*) FROM rejects")[0][0],
        # every id and link, order-independent (equal only with the same workspace secret)
        "fingerprint": [
            q(ws, f"SELECT bit_xor(hash(concat_ws('|', {cols}))) FROM {table}")[0][0]
            for table, cols in FINGERPRINT.items()
        ],
    }


def row(**attrs: Any) -> str:
    esc = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#xA;"}
    parts = []
    for k, v in attrs.items():
        s = "".join(esc.get(c, c) for c in str(v))
        parts.append(f'{k}="{s}"')
    return f"  <row {' '.join(parts)} />"


def xml(root: str, rows: list[str]) -> bytes:
    body = "\n".join(rows)
    return f'\ufeff<?xml version="1.0" encoding="utf-8"?>\n<{root}>\n{body}\n</{root}>\n'.encode()


D = "2020-01-02T03:04:05.678"


def small_dump(folder: Path, *, posts: list[str] | None = None) -> Path:
    """A tiny site with planted structure: the answer comes before its question, user 9 is not in Users."""
    folder.mkdir(parents=True, exist_ok=True)
    users = [row(Id=-1, CreationDate=D, DisplayName="Community"), row(Id=1, CreationDate=D, DisplayName="Ann"),
             row(Id=2, CreationDate=D, DisplayName="Bo", Location="Oslo")]  # fmt: skip
    if posts is None:
        posts = [
            row(Id=11, PostTypeId=2, ParentId=10, CreationDate=D, Score=3, OwnerUserId=2,
                Body='<p>See <a href="https://x.org">x</a></p><p>and https://y.org</p>'),
            row(Id=10, PostTypeId=1, AcceptedAnswerId=11, CreationDate=D, Score=5, ViewCount=40,
                OwnerUserId=1, Title="Why foam?", Body="<p>Why does beer foam?</p>"),
            row(Id=12, PostTypeId=2, ParentId=10, CreationDate=D, Score=0, OwnerUserId=9, Body="<p>no</p>"),
            row(Id=13, PostTypeId=5, CreationDate=D, Score=0, OwnerUserId=-1, Body="<p>wiki</p>"),
            row(Id=14, PostTypeId=99, CreationDate=D, Score=0, OwnerDisplayName="gone", Body="odd"),
        ]  # fmt: skip
    comments = [row(Id=1, PostId=11, CreationDate=D, UserId=1, Text="thanks! http://z.org"),
                row(Id=2, PostId=10, CreationDate=D, Text="anonymous")]  # fmt: skip
    votes = [
        row(Id=1, PostId=11, VoteTypeId=2, CreationDate=D),
        row(Id=2, PostId=11, VoteTypeId=3, CreationDate=D),
        row(Id=3, PostId=11, VoteTypeId=1, CreationDate=D),
        row(Id=4, PostId=10, VoteTypeId=5, UserId=2, CreationDate=D),
        row(Id=5, PostId=10, VoteTypeId=8, UserId=1, BountyAmount=50, CreationDate=D),
        row(Id=6, PostId=10, VoteTypeId=99, CreationDate=D),
        row(Id=7, PostId=777, VoteTypeId=2, CreationDate=D),  # a deleted post
    ]
    (folder / "Users.xml").write_bytes(xml("users", users))
    (folder / "Posts.xml").write_bytes(xml("posts", posts))
    (folder / "Comments.xml").write_bytes(xml("comments", comments))
    (folder / "Votes.xml").write_bytes(xml("votes", votes))
    (folder / "Badges.xml").write_bytes(xml("badges", [row(Id=1, UserId=1, Name="x", Date=D)]))
    return folder


# -- the real Beer dump -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def beer_dir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """The Beer dump unpacked into a folder named after the site, as a user would have it."""
    dest = tmp_path_factory.mktemp("beer") / SITE
    with py7zr.SevenZipFile(shared_data / BEER, mode="r") as arc:
        arc.extractall(dest)
    return dest


@pytest.fixture(scope="module")
def beer_ws(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Any:
    """One workspace holding the Beer dump read from its 7z, and what that ingest said."""
    ws = covalue.init(tmp_path_factory.mktemp("beer-ws") / "ws")
    [r] = ws.ingest([shared_data / BEER])
    yield ws, r
    ws.close()


def same_secret(tmp_path: Path, like: covalue.Workspace) -> covalue.Workspace:
    """A fresh workspace with the same pseudonym key as ``like``, so their ids can be compared."""
    ws = covalue.init(tmp_path)
    (tmp_path / "secret.key").write_bytes((like.path / "secret.key").read_bytes())
    return ws


def test_beer_7z_exact_counts_and_reingest(beer_ws: Any, shared_data: Path) -> None:
    ws, r = beer_ws
    assert r.status == "ok" and r.reader == "stackexchange" and r.rejects == 0
    c = beer_counts(ws)
    assert c["items"] == {"question": QUESTIONS, "answer": ANSWERS, "comment": COMMENTS, "page": PAGES}
    assert c["members"] == MEMBERS and c["bots"] == 1
    # votes, plus one system action per (question, tag): every question carries 1 to 5 tags
    assert sum(n for verb, n in c["actions"].items() if verb != "system") == VOTES
    tagged = q(ws, "SELECT count(DISTINCT a.item_id), min(i.kind), max(i.kind) FROM actions a "
                   "JOIN items i ON a.item_id = i.item_id WHERE a.detail = 'tag'")[0]  # fmt: skip
    assert tagged == (QUESTIONS, "question", "question")
    assert c["accepted"] == ACCEPTED
    assert q(ws, "SELECT count(*) FROM spaces WHERE kind = 'site'")[0][0] == 1
    # every accepted item is an answer, and each question accepted at most one
    assert (
        q(ws, "SELECT count(DISTINCT thread_id) FROM items WHERE accepted AND kind = 'answer'")[0][0]
        == ACCEPTED
    )
    # every answer and comment hangs off an item that exists; every comment thread is a question
    assert q(ws, "SELECT count(*) FROM items a LEFT JOIN items p ON a.parent_id = p.item_id "
                 "WHERE a.kind IN ('answer', 'comment') AND p.item_id IS NULL")[0][0] == 0  # fmt: skip
    assert q(ws, "SELECT DISTINCT t.kind FROM items c JOIN items t ON c.thread_id = t.item_id "
                 "WHERE c.kind = 'comment' ORDER BY 1") == [("question",)]  # fmt: skip
    # authors are members or nobody: 27 posts and 50 comments have no owner in the dump
    assert q(ws, "SELECT count(*) FROM items WHERE author_id IS NULL")[0][0] == 27 + 50
    assert q(ws, "SELECT count(*) FROM items i LEFT JOIN members m ON i.author_id = m.member_id "
                 "WHERE i.author_id IS NOT NULL AND m.member_id IS NULL")[0][0] == 0  # fmt: skip
    # a vote is received by the author of the voted post, even when the voter is anonymous
    assert q(ws, "SELECT count(*) FROM actions a JOIN items i ON a.item_id = i.item_id "
                 "WHERE a.target_id IS DISTINCT FROM i.author_id")[0][0] == 0  # fmt: skip
    ups = q(ws, "SELECT count(*), count(actor_id), count(target_id), sum(value) FROM actions "
                "WHERE detail = 'up'")[0]  # fmt: skip
    assert ups[0] == ups[3] and ups[1] == 0 and ups[2] > 0.9 * ups[0]
    assert "PostHistory.xml (9,071 rows" in r.messages[0] and "Badges.xml (9,367 rows" in r.messages[0]
    assert "Tags.xml (153 rows" in r.messages[0] and "PostLinks.xml (148 rows" in r.messages[0]
    html_left = q(ws, "SELECT count(*) FROM items WHERE kind <> 'comment' AND text LIKE '%<p>%'")[0][0]
    assert html_left == 0
    assert q(ws, "SELECT sum(n_links) FROM items WHERE kind = 'answer'")[0][0] > 1000

    before = ws.status()["tables"]
    [again] = ws.ingest([shared_data / BEER])
    assert again.status == "ok" and sum(again.added.values()) == 0
    after = ws.status()["tables"]
    assert {k: v for k, v in after.items() if k != "ingests"} == {
        k: v for k, v in before.items() if k != "ingests"
    }


def test_folder_and_single_files_give_the_same_numbers(beer_ws: Any, tmp_path: Path, beer_dir: Path) -> None:
    expected = beer_counts(beer_ws[0])
    folder = same_secret(tmp_path / "b", beer_ws[0])
    [r] = folder.ingest([beer_dir])
    assert r.status == "ok" and r.reader == "stackexchange"
    assert beer_counts(folder) == expected  # the same ids, authors, threads, targets too
    folder.close()

    files = same_secret(tmp_path / "c", beer_ws[0])
    names = ["Users.xml", "Posts.xml", "Comments.xml", "Votes.xml", "Badges.xml"]
    results = files.ingest([beer_dir / n for n in names])
    assert [(r.status, r.reader) for r in results] == [("ok", "stackexchange")] * len(names)
    assert beer_counts(files) == expected
    assert "Badges.xml (9,367 rows" in results[-1].messages[0]
    files.close()


def test_cli_ingest(tmp_path: Path, shared_data: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["ingest", str(shared_data / BEER), "-w", str(tmp_path / "w"), "--json"])
    assert res.exit_code == 0, res.output
    ws = covalue.open(tmp_path / "w")
    assert ws.status()["sources"][SOURCE]["items"]["question"] == QUESTIONS
    ws.close()


# -- structure on a synthetic site --------------------------------------------------------------------
def test_planted_structure(ws: covalue.Workspace, tmp_path: Path) -> None:
    [r] = ws.ingest([small_dump(tmp_path / "tiny.stackexchange.com")])
    assert r.status == "ok"
    src = "stackexchange:tiny-stackexchange-com"
    items = {i: (k, a, t, p, acc, links, text) for i, k, a, t, p, acc, links, text in q(
        ws, "SELECT item_id, kind, author_id, thread_id, parent_id, accepted, n_links, text FROM items")}  # fmt: skip
    people = dict(q(ws, "SELECT native_id, identity_id FROM identities"))
    assert set(people) == {"-1", "1", "2"}  # user 9 owns a post but is not in Users.xml: not invented
    assert q(ws, "SELECT native_id FROM identities WHERE is_bot") == [("-1",)]
    ans = items[f"{src}:11"]
    assert ans[:5] == ("answer", people["2"], f"{src}:10", f"{src}:10", True)  # answer before question
    assert ans[5] == 2 and ans[6] == "See x\n\nand https://y.org"
    assert items[f"{src}:12"][1] is None and items[f"{src}:12"][4] is False
    assert items[f"{src}:13"][0] == "page" and items[f"{src}:14"][:2] == ("page", None)
    assert items[f"{src}:c1"][:4] == ("comment", people["1"], f"{src}:10", f"{src}:11")
    assert items[f"{src}:c2"][1] is None
    assert q(ws, f"SELECT views, score, title FROM items WHERE item_id = '{src}:10'") == [
        (40, 5, "Why foam?")
    ]
    acts = q(ws, "SELECT verb, detail, value, actor_id, target_id, item_id FROM actions ORDER BY ts, detail")
    by = {(v, d): (val, a, t, i) for v, d, val, a, t, i in acts if not i.endswith(":777")}
    assert by[("vote", "up")] == (1.0, None, people["2"], f"{src}:11")
    assert by[("vote", "down")][:3] == (-1.0, None, people["2"])
    assert by[("accept", "accepted_by_originator")][1:3] == (people["1"], people["2"])  # the asker accepts
    assert by[("follow", "favorite")][1:3] == (people["2"], people["1"])
    assert by[("vote", "bounty_start")][:3] == (0.0, people["1"], people["1"])
    assert by[("vote", "type_99")][:2] == (0.0, None)
    assert len(acts) == 7
    assert [a[4] for a in acts if a[5].endswith(":777")] == [None]  # a deleted post's vote: no receiver
    assert any("Badges.xml (1 row: awards" in m for m in r.messages)


def seven_zip(target: Path, files: list[Path]) -> Path:
    with py7zr.SevenZipFile(target, mode="w") as arc:
        for f in files:
            arc.write(f, f.name)
    return target


def test_folder_of_site_archives(ws: covalue.Workspace, tmp_path: Path) -> None:
    """Several sites in one folder, one of them split per table as Stack Overflow is, one damaged: the
    good ones are read, the damaged one is a reject, and the ingest is partial, not failed."""
    tiny = small_dump(tmp_path / "src")
    drop = tmp_path / "drop"
    drop.mkdir()
    seven_zip(drop / "a.stackexchange.com.7z", sorted(tiny.glob("*.xml")))
    seven_zip(drop / "big.stackoverflow.com-Users.7z", [tiny / "Users.xml"])
    seven_zip(drop / "big.stackoverflow.com-Posts.7z", [tiny / "Posts.xml"])
    (drop / "c.stackexchange.com.7z").write_bytes(b"7z\xbc\xaf\x27\x1c" + bytes(range(256)) * 4)
    assert StackExchangeReader.detect(drop) > 0.5
    [r] = ws.ingest([drop])
    assert r.status == "partial"
    src = ws.status()["sources"]
    assert sorted(src) == ["stackexchange:a-stackexchange-com", "stackexchange:big-stackoverflow-com"]
    assert src["stackexchange:a-stackexchange-com"]["items"] == {
        "answer": 2,
        "comment": 2,
        "page": 2,
        "question": 1,
    }
    assert src["stackexchange:big-stackoverflow-com"]["members"] == 3
    assert src["stackexchange:big-stackoverflow-com"]["items"] == {"answer": 2, "page": 2, "question": 1}
    [(loc, reason)] = q(ws, "SELECT location, reason FROM rejects WHERE source LIKE '%c-stackexchange%'")
    assert loc == "c.stackexchange.com" and "c.stackexchange.com.7z" in reason and "7z" in reason


def test_detect(tmp_path: Path, shared_data: Path, beer_dir: Path) -> None:
    assert StackExchangeReader.detect(shared_data / BEER) > 0.9
    assert StackExchangeReader.detect(beer_dir) > 0.5
    assert StackExchangeReader.detect(beer_dir / "Posts.xml") > 0.5
    assert StackExchangeReader.detect(beer_dir / "Tags.xml") > 0.5
    other = tmp_path / "feed.xml"
    other.write_bytes(b'<?xml version="1.0"?><rss><channel/></rss>')
    assert StackExchangeReader.detect(other) == 0
    assert StackExchangeReader.detect(shared_data / "perceval" / "stackexchange") == 0  # API JSON, not a dump
    assert StackExchangeReader.detect(shared_data / "slack" / "houstondatavis-slack-export.zip") == 0
    assert covalue.sources.detect(shared_data / BEER) is StackExchangeReader


def test_html_to_text_and_root_name() -> None:
    text, links = html_to_text('<p>a <a href="u">b</a></p><ul><li>c</li><li>d &amp; e</li></ul><pre>x</pre>')
    assert (text, links) == ("a b\n\nc\nd & e\n\nx", 1)
    assert html_to_text("") == ("", 0) and html_to_text(None) == ("", 0)
    assert root_name(b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- <no> -->\n<Posts>') == "posts"
    assert root_name(b"garbage") is None


def test_idmap_dense_and_sparse() -> None:
    m = IdMap()
    for i in range(0, 5000, 3):
        m[i] = i * 2
    m[-1] = 7
    m[10**12] = 5  # a stray huge id must not allocate a huge array
    assert m.get(3000) == 6000 and m.get(3001) != 6002 and 3001 not in m
    assert m.get(-1) == 7 and m.get(10**12) == 5 and 10**11 not in m and m.get(None) not in (0, 5)
    assert len(m._a) < 2 * 1024 * 1024
    flags = IdMap(np.int8)  # one byte per id, for yes/no lookups
    for i in (0, 5, 3000, 10**10):
        flags[i] = 1
    assert [i in flags for i in (0, 1, 5, 3000, 3001, 10**10, -1)] == [
        True,
        False,
        True,
        True,
        False,
        True,
        False,
    ]
    assert flags._a.dtype == np.int8


# -- bad input ----------------------------------------------------------------------------------------
def test_truncated_7z(ws: covalue.Workspace, tmp_path: Path, shared_data: Path) -> None:
    data = (shared_data / BEER).read_bytes()
    bad = tmp_path / "beer.stackexchange.com.7z"
    bad.write_bytes(data[: len(data) // 2])
    [r] = ws.ingest([bad])
    assert r.status == "failed" and r.nothing_read
    assert "7z" in r.messages[0] and "beer.stackexchange.com.7z" in r.messages[0]
    assert q(ws, "SELECT count(*) FROM rejects WHERE reason LIKE '%7z archive%'")[0][0] == 1
    res = CliRunner().invoke(app, ["ingest", str(bad), "-w", str(tmp_path / "cli")])
    assert res.exit_code == 1


def test_corrupt_7z(ws: covalue.Workspace, tmp_path: Path) -> None:
    bad = tmp_path / "x.stackexchange.com.7z"
    bad.write_bytes(b"7z\xbc\xaf\x27\x1c" + os.urandom(4000))
    [r] = ws.ingest([bad])
    assert r.status == "failed" and "7z" in r.messages[0]
    assert q(ws, "SELECT count(*) FROM rejects")[0][0] == 1


LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE posts [\n <!ENTITY a "aaaaaaaaaa">\n'
    + b"".join(b' <!ENTITY %c "%s">\n' % (98 + i, (b"&%c;" % (97 + i)) * 10) for i in range(8))
    + b']>\n<posts>\n  <row Id="1" PostTypeId="1" CreationDate="2020-01-01T00:00:00" Body="&i;" />\n</posts>\n'
)


def test_billion_laughs_refused(ws: covalue.Workspace, tmp_path: Path) -> None:
    site = small_dump(tmp_path / "evil.stackexchange.com")
    (site / "Posts.xml").write_bytes(LAUGHS)
    [r] = ws.ingest([site])
    assert r.status == "partial"
    assert r.read["members"] == 3  # the good files are still read
    assert q(ws, "SELECT count(*) FROM items WHERE kind <> 'comment'")[0][0] == 0
    assert q(ws, "SELECT max(length(text)) FROM items")[0][0] < 100  # nothing was expanded
    [(loc, reason)] = q(ws, "SELECT location, reason FROM rejects WHERE reason LIKE '%DOCTYPE%'")
    assert loc == "Posts.xml:line 1" and "entities" in reason
    assert any("Posts.xml:line 1" in m and "DOCTYPE" in m for m in r.messages)


def test_billion_laughs_alone_fails(ws: covalue.Workspace, tmp_path: Path) -> None:
    lone = tmp_path / "evil.stackexchange.com" / "Posts.xml"
    lone.parent.mkdir()
    lone.write_bytes(LAUGHS)
    [r] = ws.ingest([lone], source="stackexchange")
    assert r.status == "failed" and q(ws, "SELECT count(*) FROM items")[0][0] == 0
    assert q(ws, "SELECT count(*) FROM rejects WHERE reason LIKE '%DOCTYPE%'")[0][0] == 1


def test_posts_cut_in_the_middle(ws: covalue.Workspace, tmp_path: Path) -> None:
    posts = [row(Id=i, PostTypeId=1, CreationDate=D, Score=0, OwnerUserId=1, Title=f"q{i}", Body="<p>b</p>")
             for i in range(1, 41)]  # fmt: skip
    site = small_dump(tmp_path / "cut.stackexchange.com", posts=posts)
    data = (site / "Posts.xml").read_bytes()
    cut = data.index(b'Id="31"') + 3
    (site / "Posts.xml").write_bytes(data[:cut])
    [r] = ws.ingest([site])
    assert r.status == "partial"
    assert q(ws, "SELECT count(*) FROM items WHERE kind = 'question'")[0][0] == 30
    [(loc, reason)] = q(ws, "SELECT location, reason FROM rejects")
    assert loc == "Posts.xml:line 33" and "30 rows before it were kept" in reason
    res = CliRunner().invoke(app, ["ingest", str(site), "-w", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output  # something was read: a partial ingest is not a failure
    assert "partial" in res.output


def test_bad_rows_rejected_alone(ws: covalue.Workspace, tmp_path: Path) -> None:
    posts = [
        row(Id=1, PostTypeId=1, CreationDate=D, Score=1, OwnerUserId=1, Title="ok", Body="x"),
        row(Id=2, PostTypeId=1, CreationDate="yesterday", Score=1, OwnerUserId=1, Title="bad date", Body="x"),
        row(Id="two", PostTypeId=1, CreationDate=D, Score=1, OwnerUserId=1, Title="bad id", Body="x"),
        row(Id=4, PostTypeId=1, CreationDate=D, Score="lots", OwnerUserId=1, Title="bad score", Body="x"),
        row(Id=5, PostTypeId=1, CreationDate=D, Score=1, OwnerUserId=1, Title="ok", Body="x"),
    ]
    site = small_dump(tmp_path / "rows.stackexchange.com", posts=posts)
    [r] = ws.ingest([site])
    assert r.status == "partial"
    got = q(ws, "SELECT item_id, score FROM items WHERE kind = 'question' ORDER BY 1")
    assert [i.rsplit(":", 1)[1] for i, _ in got] == ["1", "4", "5"] and dict(got)[got[1][0]] is None
    rej = dict(q(ws, "SELECT location, reason FROM rejects ORDER BY 1"))
    assert rej == {
        "Posts.xml:line 4": "CreationDate 'yesterday' is not a date; row not read",
        "Posts.xml:line 5": "Id 'two' is missing or not a number; row not read",
        "Posts.xml:line 6": "Score 'lots' is not a number; the row is kept without it",
    }


def test_latin1_declared_utf8(ws: covalue.Workspace, tmp_path: Path) -> None:
    site = small_dump(tmp_path / "enc.stackexchange.com")
    data = (site / "Comments.xml").read_bytes().replace(b"thanks!", "café, naïve".encode("latin-1"))
    (site / "Comments.xml").write_bytes(data)
    [r] = ws.ingest([site])
    assert r.status == "partial" and r.read["items"] == 7
    [(text,)] = q(ws, "SELECT text FROM items WHERE text LIKE 'caf%'")
    assert text == "caf\ufffd, na\ufffdve http://z.org"
    [(loc, reason, excerpt)] = q(ws, "SELECT location, reason, excerpt FROM rejects")
    assert loc == "Comments.xml:line 3" and "U+FFFD" in reason and "\\xe9" in excerpt
    assert any("2 invalid byte sequences" in m for m in r.messages)


def test_long_utf8_across_chunks_and_stray_elements(ws: covalue.Workspace, tmp_path: Path) -> None:
    """Multi-byte characters cut by the 1 MB read chunks survive; an element that is not a row is
    rejected, not lost silently."""
    text = "Bière brassée à l'ancienne, 日本酒 🍺 " * 20
    comments = [row(Id=i, PostId=10, CreationDate=D, UserId=1, Text=f"{i} {text}") for i in range(1, 3001)]
    site = small_dump(tmp_path / "long.stackexchange.com")
    body = "\n".join([*comments[:1500], '  <note Id="x" />', *comments[1500:]])
    (site / "Comments.xml").write_bytes(
        f'<?xml version="1.0" encoding="utf-8"?>\n<comments>\n{body}\n</comments>'.encode()
    )
    assert (site / "Comments.xml").stat().st_size > 2 * 1024 * 1024
    [r] = ws.ingest([site])
    assert r.read["items"] == 5 + 3000
    texts = [t for (t,) in q(ws, "SELECT text FROM items WHERE kind = 'comment'")]
    assert sorted(texts) == sorted(f"{i} {text}" for i in range(1, 3001))
    assert q(ws, "SELECT location, reason FROM rejects") == [
        ("Comments.xml:line 1503", "element <note> is not a <row>; skipped")
    ]


def test_empty_and_foreign_inputs(ws: covalue.Workspace, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ReaderError, match="no Stack Exchange dump"):
        collect(StackExchangeReader(), empty)
    wrong = tmp_path / "w.stackexchange.com" / "Posts.xml"
    wrong.parent.mkdir()
    wrong.write_bytes(xml("users", [row(Id=1, CreationDate=D)]))
    [r] = ws.ingest([wrong], source="stackexchange")
    assert r.read["members"] == 1  # a Users table under another name is read for what it is


# -- fuzzing ------------------------------------------------------------------------------------------
VALID = xml("posts", [row(Id=i, PostTypeId=1 + i % 2, ParentId=1, CreationDate=D, Score=i, Body="<p>b</p>")
                      for i in range(1, 6)])  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.tuples(st.integers(0, len(VALID)), st.binary(max_size=40), st.integers(0, len(VALID))).map(
            lambda t: VALID[: t[0]] + t[1] + VALID[t[2] :]
        ),
    )
)
def test_arbitrary_posts_never_crash(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    """Whatever Posts.xml holds, the reader either reads it or says why through ReaderError (which the
    workspace turns into a failed ingest); either way something is recorded: rows or rejects."""
    folder = tmp_path_factory.mktemp("fuzz") / "fuzz.stackexchange.com"
    folder.mkdir()
    (folder / "Posts.xml").write_bytes(data)
    c = collect(StackExchangeReader(), folder / "Posts.xml", batch_rows=1000, keep_error=True)
    if c.error:
        assert c.rows("rejects")
    else:
        assert c.rows("items") or c.rows("rejects") or b"<row" not in data
