"""Identity merge across sources: by email hash, by alias file, never by name, never bots, reversible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import covalue
from covalue import merge
from covalue.cli import app
from covalue.sources.base import Sink


def add_people(ws: covalue.Workspace, platform: str, instance: str, people: list[dict]) -> dict[str, str]:
    """Write accounts through the reader sink API, as a reader would; native id -> identity id."""
    sink = Sink(secret=ws.secret, ingest_id="test", emit=lambda t, batch: ws.append(t, batch))
    ss = sink.source(platform, instance)
    ids = {
        p["id"]: ss.person(
            p["id"], display_name=p.get("name"), email=p.get("email"), is_bot=p.get("bot", False)
        )
        for p in people
    }
    sink.flush()
    return ids


def member_of(ws: covalue.Workspace, identity_id: str) -> str:
    return ws.raw.execute("SELECT member_id FROM identities WHERE identity_id = ?", [identity_id]).fetchone()[
        0
    ]


def n_merges(ws: covalue.Workspace, active: bool | None = None) -> int:
    cond = "" if active is None else " WHERE undone_at IS NULL" if active else " WHERE undone_at IS NOT NULL"
    return ws.raw.execute("SELECT count(*) FROM merges" + cond).fetchone()[0]


@pytest.fixture
def two_sources(ws: covalue.Workspace) -> tuple[dict[str, str], dict[str, str]]:
    chat = add_people(
        ws,
        "slack",
        "acme",
        [
            {"id": "U1", "name": "Alice Ng", "email": "Alice@Example.com"},
            {"id": "U2", "name": "Alex Kim", "email": "alex.kim@acme.com"},
            {"id": "U3", "name": "deploy", "email": "ops@example.com", "bot": True},
            {"id": "U4", "name": "Bo Li"},
        ],
    )
    mail = add_people(
        ws,
        "mbox",
        "dev-list",
        [
            {"id": "alice@example.com", "name": "Alice N.", "email": "alice@example.com"},
            {"id": "akim@other.org", "name": "Alex Kim", "email": "akim@other.org"},
            {"id": "ops@example.com", "name": "Ops", "email": "ops@example.com"},
            {"id": "bo@li.net", "name": "Bo Li", "email": "bo@li.net"},
        ],
    )
    return chat, mail


def test_same_email_in_two_sources_becomes_one_member(ws, two_sources):
    chat, mail = two_sources
    result = merge.auto_merge(ws)
    assert member_of(ws, chat["U1"]) == member_of(ws, mail["alice@example.com"])
    assert (result.identities, result.members) == (1, 1)
    rows = ws.raw.execute("SELECT identity_id, reason, undone_at FROM merges ORDER BY 1").fetchall()
    assert sorted(r[0] for r in rows) == sorted([chat["U1"], mail["alice@example.com"]])
    assert {r[1] for r in rows} == {"same email hash"} and all(r[2] is None for r in rows)
    # the member id is one of the pseudonyms, never an email or a name
    assert member_of(ws, chat["U1"]) in (chat["U1"], mail["alice@example.com"])


def test_display_name_alone_never_merges_and_bots_never_merge(ws, two_sources):
    chat, mail = two_sources
    merge.auto_merge(ws)
    assert member_of(ws, chat["U2"]) != member_of(ws, mail["akim@other.org"])  # two people called Alex Kim
    assert member_of(ws, chat["U4"]) != member_of(ws, mail["bo@li.net"])  # same name, no shared email
    assert member_of(ws, chat["U3"]) == chat["U3"]  # a bot sharing a person's email stays apart
    assert member_of(ws, mail["ops@example.com"]) == mail["ops@example.com"]
    assert ws.raw.execute("SELECT count(DISTINCT member_id) FROM identities").fetchone()[0] == 7


def test_merging_is_idempotent(ws, two_sources):
    merge.auto_merge(ws)
    before = n_merges(ws)
    again = merge.auto_merge(ws)
    assert (again.identities, again.members) == (0, 0)
    assert n_merges(ws) == before == 2


def test_unmerge_restores_keeps_the_log_and_is_remembered(ws, two_sources):
    chat, mail = two_sources
    merge.auto_merge(ws)
    member = member_of(ws, chat["U1"])
    restored = merge.unmerge(ws, member)
    assert sorted(restored) == sorted([chat["U1"], mail["alice@example.com"]])
    assert member_of(ws, chat["U1"]) == chat["U1"]
    assert member_of(ws, mail["alice@example.com"]) == mail["alice@example.com"]
    assert n_merges(ws) == 2 and n_merges(ws, active=False) == 2  # marked undone, not deleted
    merge.auto_merge(ws)  # the next ingest must not undo the person's decision
    assert member_of(ws, chat["U1"]) == chat["U1"]
    with pytest.raises(merge.MergeError):
        merge.unmerge(ws, "m_nothing")


def test_unmerge_one_identity_of_three(ws):
    a = add_people(ws, "slack", "acme", [{"id": "U9", "email": "sam@x.org", "name": "Sam"}])
    b = add_people(ws, "mbox", "list", [{"id": "sam@x.org", "email": "sam@x.org"}])
    c = add_people(ws, "discourse", "forum", [{"id": "77", "email": "SAM@x.org"}])
    merge.auto_merge(ws)
    ids = [a["U9"], b["sam@x.org"], c["77"]]
    member = member_of(ws, ids[0])
    assert {member_of(ws, i) for i in ids} == {member}
    detach = next(i for i in ids if i != member)
    assert merge.unmerge(ws, detach) == [detach]
    assert member_of(ws, detach) == detach
    assert len({member_of(ws, i) for i in ids if i != detach}) == 1
    # detaching one more leaves a member of one account: that is no merge any more
    last = next(i for i in ids if i not in (member, detach))
    assert sorted(merge.unmerge(ws, last)) == sorted([last, member])
    assert [member_of(ws, i) for i in ids] == ids


def test_alias_files_toml_and_csv(ws, two_sources, tmp_path: Path):
    chat, mail = two_sources
    toml = tmp_path / "alias.toml"
    toml.write_text(
        '# accounts of the same person\n\n[[person]]\naccounts = [\n  "slack:acme:U2",\n  "akim@other.org",\n]\n\n'
        '[[person]]\naccounts = ["slack:acme:U3", "mbox:dev-list:ops@example.com"]\n'
        '[[person]]\naccounts = ["slack:acme:U404", "nobody@nowhere.org"]\n'
    )
    result = merge.auto_merge(ws, toml)
    assert member_of(ws, chat["U2"]) == member_of(ws, mail["akim@other.org"])
    reasons = dict(ws.raw.execute("SELECT identity_id, reason FROM merges").fetchall())
    assert reasons[chat["U2"]] == "alias file alias.toml line 5"
    assert member_of(ws, chat["U3"]) == chat["U3"]  # listed, but a bot
    assert any("bot" in m for m in result.messages)
    assert any("U404" in m for m in result.messages) and any(
        "nobody@nowhere.org" in m for m in result.messages
    )

    csv = tmp_path / "alias.csv"
    csv.write_text("# person, accounts...\nslack:acme:U4,bo@li.net\n")
    merge.auto_merge(ws, csv)
    assert member_of(ws, chat["U4"]) == member_of(ws, mail["bo@li.net"])
    reason = ws.raw.execute("SELECT reason FROM merges WHERE identity_id = ?", [chat["U4"]]).fetchone()[0]
    assert reason == "alias file alias.csv line 2"
    with pytest.raises(merge.MergeError):
        merge.auto_merge(ws, tmp_path / "missing.toml")


def test_email_merge_can_be_turned_off(tmp_path: Path):
    w = covalue.init(tmp_path / "w")
    (w.path / "covalue.toml").write_text("[identities]\nmerge_by_email = false\n")
    w.close()
    w = covalue.open(tmp_path / "w")
    chat = add_people(w, "slack", "acme", [{"id": "U1", "email": "a@b.org"}])
    mail = add_people(w, "mbox", "l", [{"id": "a@b.org", "email": "a@b.org"}])
    merge.auto_merge(w)
    assert member_of(w, chat["U1"]) != member_of(w, mail["a@b.org"])
    w.close()


ARTICLE = """\
Path: news.example.com!not-for-mail
From: Alvaro del Castillo <ACS@example.com>
Newsgroups: example.dev
Subject: metrics
Date: Tue, 15 Mar 2016 22:14:56 +0100
Message-ID: <m1@example.com>

Hello list.
"""


def test_ingest_merges_chat_and_news_accounts(ws, shared_data: Path, tmp_path: Path):
    news = tmp_path / "news"
    news.mkdir()
    (news / "article.txt").write_text(ARTICLE)
    ws.ingest([shared_data / "perceval" / "slack"], source="perceval")
    assert n_merges(ws) == 0
    ws.ingest([news], source="perceval")
    rows = ws.raw.execute(
        "SELECT i.source, i.native_id FROM merges m JOIN identities i USING (identity_id) ORDER BY 1"
    ).fetchall()
    assert rows == [("perceval-nntp:news", "acs@example.com"), ("perceval-slack:slack", "U0001")]
    ws.ingest([news], source="perceval")  # re-ingest: nothing new anywhere
    assert n_merges(ws) == 2

    runner = CliRunner()
    out = runner.invoke(app, ["identities", "--json", "-w", str(ws.path)])
    assert out.exit_code == 0, out.output
    members = json.loads(out.stdout)
    assert len(members) == 1 and len(members[0]["identities"]) == 2
    assert all("display_name" not in i and i["reason"] == "same email hash" for i in members[0]["identities"])
    out = runner.invoke(app, ["unmerge", members[0]["member_id"], "-w", str(ws.path)])
    assert out.exit_code == 0, out.output
    assert json.loads(runner.invoke(app, ["identities", "--json", "-w", str(ws.path)]).stdout) == []
    out = runner.invoke(app, ["merge", "--json", "-w", str(ws.path)])
    assert json.loads(out.stdout)["identities"] == 0
