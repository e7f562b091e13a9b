"""The Perceval reader: Perceval items in every container, and each backend's raw API captures.

Expected counts are computed here from the raw JSON/text, independently of the reader's mapping code.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import covalue
from covalue.sources.jsonstream import iter_json
from covalue.sources.perceval import PercevalReader


def load(p: Path):
    return json.loads(p.read_text())


def ingest(ws: covalue.Workspace, path: Path):
    r = ws.ingest([path], source="perceval")[0]
    rejects = ws.raw.execute("SELECT location, reason FROM rejects").fetchall()
    return r, rejects


def count(ws: covalue.Workspace, sql: str) -> int:
    return ws.raw.execute(sql).fetchone()[0]


def by_kind(ws: covalue.Workspace, table: str = "items", col: str = "kind") -> dict[str, int]:
    return dict(ws.raw.execute(f"SELECT {col}, count(*) FROM {table} GROUP BY 1").fetchall())


def reject_files(rejects) -> set[str]:
    return {Path(loc.split(":")[0]).name for loc, _ in rejects}


@pytest.fixture(scope="module")
def pdir(shared_data: Path) -> Path:
    return shared_data / "perceval"


def test_slack_api_pages(ws, pdir):
    d = pdir / "slack"
    msgs, users, members = {}, set(), set()
    for p in sorted(d.iterdir()):
        o = load(p)
        for m in o.get("messages") or []:
            msgs[m["ts"]] = m
        if isinstance(o.get("user"), dict):
            users.add(o["user"]["id"])
        members |= set(o.get("members") or []) | set((o.get("channel") or {}).get("members") or [])
    authors = {
        m.get("user") or (m.get("comment") or {}).get("user") or m.get("bot_id") or m.get("username")
        for m in msgs.values()
    }
    joins = [m for m in msgs.values() if m.get("subtype") == "channel_join"]
    r, rejects = ingest(ws, d)
    assert r.sources == ["perceval-slack:slack"]
    assert count(ws, "SELECT count(*) FROM items") == len(msgs) - len(joins) == 9
    assert by_kind(ws) == {"post": 8, "comment": 1}
    assert by_kind(ws, "actions", "verb") == {"join": len(joins)}
    assert count(ws, "SELECT count(*) FROM identities") == len(users | members | authors)
    assert count(ws, "SELECT count(*) FROM identities WHERE is_bot") == 2
    assert count(ws, "SELECT count(*) FROM identities WHERE email_hash IS NOT NULL") == 3
    # the one channel in the capture is where its history pages were posted
    assert ws.raw.execute(
        "SELECT DISTINCT s.name FROM items i JOIN spaces s USING (space_id)"
    ).fetchall() == [("test channel",)]
    assert {(Path(loc).name, reason.split(":")[0]) for loc, reason in rejects} == {
        ("slack_error.json", "API error response"),
        ("slack_user_U0004_private.json", "API error response"),
        ("slack_history_empty.json", "empty page"),
    }
    assert any("channel_not_found" in reason for _, reason in rejects)


def test_mattermost_api_pages(ws, pdir):
    d = pdir / "mattermost"
    posts, users = {}, set()
    for p in d.iterdir():
        o = load(p)
        posts.update(o.get("posts") or {})
        if "username" in o:
            users.add(o["id"])
    system = [p for p in posts.values() if p["type"].startswith("system_")]
    replies = [p for p in posts.values() if p["root_id"] and not p["type"]]
    _r, rejects = ingest(ws, d)
    assert count(ws, "SELECT count(*) FROM items") == len(posts) - len(system) == 7
    assert by_kind(ws) == {"post": 7 - len(replies), "reply": len(replies)}
    assert by_kind(ws, "actions", "verb") == {"join": len(system)}
    assert count(ws, "SELECT count(*) FROM identities") == len(users | {p["user_id"] for p in posts.values()})
    assert count(ws, "SELECT count(*) FROM identities WHERE email_hash IS NOT NULL") == 2
    parent = ws.raw.execute("SELECT parent_id FROM items WHERE kind = 'reply'").fetchone()[0]
    assert parent.endswith(":pot46s7kjif7xx6x91ua7m4d7y")
    assert {Path(loc).name: reason for loc, reason in rejects} == {
        "mattermost_erros.json": "API error response: 403 You do not have the appropriate permissions",
        "mattermost_posts_empty.json": "empty page: the API returned no records",
    }


def test_rocketchat_api_pages(ws, pdir):
    d = pdir / "rocketchat"
    msgs = {}
    for p in d.glob("message*.json"):
        for m in load(p)["messages"]:
            msgs[m["_id"]] = m
    visible = [m for m in msgs.values() if not m.get("_hidden")]
    reactions = sum(len(v["usernames"]) for m in visible for v in (m.get("reactions") or {}).values())
    r, rejects = ingest(ws, d)
    assert count(ws, "SELECT count(*) FROM items") == len(visible) == 3
    assert by_kind(ws) == {"post": 2, "reply": 1}
    assert by_kind(ws, "actions", "verb") == {"react": reactions}
    # reactions name users by username: they resolve to the same account as that user's messages
    assert count(ws, "SELECT count(*) FROM identities") == len({m["u"]["_id"] for m in visible}) == 2
    assert (
        count(
            ws,
            "SELECT count(*) FROM actions a JOIN identities i ON a.actor_id = i.identity_id "
            "WHERE i.native_id = '567user'",
        )
        == reactions
    )
    assert reject_files(rejects) == {"message_empty_2020_05_10.json"}
    assert any("earlier version" in m for m in r.messages)


def test_telegram_updates(ws, pdir):
    d = pdir / "telegram"
    seen, chats, senders = set(), set(), set()
    for p in d.iterdir():
        for u in load(p)["result"]:
            m = u.get("message") or u.get("edited_message")
            seen.add((m["chat"]["id"], m["message_id"]))
            chats.add(m["chat"]["id"])
            senders.add(m["from"]["id"])
    _r, rejects = ingest(ws, d)
    assert count(ws, "SELECT count(*) FROM items") == len(seen) == 5
    assert count(ws, "SELECT count(*) FROM spaces") == len(chats)
    assert count(ws, "SELECT count(*) FROM identities") == len(senders)
    assert reject_files(rejects) == {"telegram_messages_empty.json"}


def test_gitter_pages(ws, pdir):
    d = pdir / "gitter"
    msgs = {m["id"]: m for p in d.glob("message_*") for m in load(p)}
    rooms = load(d / "rooms")
    _r, rejects = ingest(ws, d)
    assert count(ws, "SELECT count(*) FROM items") == len(msgs) == 2
    assert count(ws, "SELECT count(*) FROM identities") == len({m["fromUser"]["id"] for m in msgs.values()})
    # two rooms in the capture, so the pages' room is unknown: a space says so
    assert count(ws, "SELECT count(*) FROM spaces") == len(rooms) + 1
    assert count(ws, "SELECT count(DISTINCT space_id) FROM items") == 1
    assert reject_files(rejects) == {"message_empty"}


def test_meetup_events_comments_rsvps(ws, pdir):
    d = pdir / "meetup"
    events = {e["id"] for p in d.glob("meetup_events*.json") for e in load(p)}
    comments = load(d / "meetup_comments.json")
    rsvps = load(d / "meetup_rsvps.json")
    _r, rejects = ingest(ws, d)
    assert by_kind(ws) == {"event": len(events), "comment": len(comments)} == {"event": 3, "comment": 2}
    assert by_kind(ws, "actions", "verb") == {"attend": sum(x["response"] == "yes" for x in rsvps)}
    assert count(ws, "SELECT count(*) FROM actions WHERE item_id LIKE '%:event/233964056'") == len(rsvps)
    assert count(ws, "SELECT count(*) FROM items WHERE parent_id LIKE '%:event/233964056'") == len(comments)
    assert count(ws, "SELECT sum(score) FROM items WHERE kind = 'comment'") == sum(
        c["like_count"] for c in comments
    )
    assert reject_files(rejects) == {"meetup_events_empty.json"}


def test_stackexchange_questions(ws, pdir):
    d = pdir / "stackexchange"
    qs, ans, com = set(), set(), set()
    for p in d.iterdir():
        o = load(p)
        for q in o["items"] if isinstance(o, dict) else o:
            qs.add(q["question_id"])
            for a in q.get("answers") or []:
                ans.add(a["answer_id"])
                com |= {c["comment_id"] for c in a.get("comments") or []}
            com |= {c["comment_id"] for c in q.get("comments") or []}
    r, rejects = ingest(ws, d)
    assert by_kind(ws) == {"question": len(qs), "answer": len(ans), "comment": len(com)}
    assert (len(qs), len(ans), len(com)) == (1, 2, 2)
    assert count(ws, "SELECT count(*) FROM items WHERE kind = 'answer' AND parent_id LIKE '%:q/1'") == 2
    assert rejects == [] and r.status == "ok"


def _irc_expected(d: Path) -> tuple[set, set, int]:
    msgs, server, bad = set(), set(), 0
    for p in d.iterdir():
        for line in p.read_text().splitlines():
            if not line.strip():
                continue
            m = re.match(r"^(\S+)  (.*)$", line)
            if not m or not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d{4})?", m.group(1)):
                bad += 1
                continue
            ts, rest = m.groups()
            if rest.startswith("***"):
                server.add((ts, rest))
            elif (
                re.match(r"^<[^>&]+(>|&gt;)\s*\S", rest)
                or re.match(r"^\*\s?\S+\s+\S", rest)
                or re.match(r"^-\S+-\s*\S", rest)
            ):
                msgs.add((ts, rest.strip()))
            elif not re.match(r"^(<[^>]+>|\*\s?\S+|-\S+-)\s*$", rest):
                bad += 1
    return msgs, server, bad


def test_supybot_logs(ws, pdir):
    d = pdir / "supybot"
    msgs, server, bad = _irc_expected(d)
    _r, rejects = ingest(ws, d)
    assert count(ws, "SELECT count(*) FROM items") == len(msgs)
    assert count(ws, "SELECT count(*) FROM actions") == len(server)
    assert len(rejects) == bad == 2
    assert reject_files(rejects) == {"supybot_invalid_date.log", "supybot_invalid_msg.log"}
    assert count(ws, "SELECT count(*) FROM identities WHERE is_bot") >= 2  # emptybot, xbot1313, grimoire_bot
    assert count(ws, "SELECT count(*) FROM items WHERE created_at IS NULL") == 0


def test_nntp_articles(ws, pdir):
    d = pdir / "nntp"
    _r, rejects = ingest(ws, d)
    assert rejects == []
    rows = ws.raw.execute(
        "SELECT item_id, kind, parent_id, title, created_at, text FROM items ORDER BY 1"
    ).fetchall()
    assert len(rows) == len(list(d.iterdir())) == 3
    ids = {row[0].split(":", 2)[2] for row in rows}
    assert ids == {
        "mailman.350.1458060579.14303.dev-project-link@example.com",
        "mailman.361.1458076505.14303.dev-project-link@example.com",
        "mailman.5377.1312994002.4544.community-arab-world@lists.mozilla.org",
    }
    assert all(
        row[4] is not None and row[5] for row in rows
    )  # dates (NNTP-Posting-Date when no Date) and bodies
    assert by_kind(ws) == {"post": 1, "reply": 2}
    assert count(ws, "SELECT count(*) FROM spaces") == 3
    assert count(ws, "SELECT count(*) FROM identities WHERE email_hash IS NOT NULL") == 3


def test_groupsio_api_pages(ws, pdir):
    d = pdir / "groupsio"
    subs = [s for p in d.glob("subscriptions_page_*") for s in load(p)["data"]]
    _r, rejects = ingest(ws, d)
    assert count(ws, "SELECT count(*) FROM spaces") == len({s["group_id"] for s in subs}) == 2
    assert by_kind(ws, "actions", "verb") == {"join": len(subs)}
    assert count(ws, "SELECT count(*) FROM identities") == len({s["user_id"] for s in subs})
    reasons = {Path(loc).name: reason for loc, reason in rejects}
    assert set(reasons) == {"login", "empty.zip", "messages.zip"}
    assert reasons["login"].startswith("login response")
    assert "--source mbox" in reasons["messages.zip"]
    assert "eyJ" not in str(
        ws.raw.execute("SELECT list(excerpt) FROM rejects").fetchone()[0]
    )  # no token copied


def test_every_file_is_accounted_for(ws, pdir):
    """Every file of the folders this reader owns adds rows or a reject that names it."""
    _r, rejects = ingest(ws, pdir)
    whole = {loc for loc, _ in rejects if ":" not in loc}  # a reject of a whole file, not of one record in it
    expected = {
        "gitter/message_empty",
        "mattermost/mattermost_erros.json",
        "mattermost/mattermost_posts_empty.json",
        "rocketchat/message_empty_2020_05_10.json",
        "slack/slack_error.json",
        "slack/slack_history_empty.json",
        "slack/slack_user_U0004_private.json",
        "telegram/telegram_messages_empty.json",
        "meetup/meetup_events_empty.json",
        "groupsio/login",
        "groupsio/empty.zip",
        "groupsio/messages.zip",
    }
    owned = [
        "gitter",
        "mattermost",
        "rocketchat",
        "slack",
        "telegram",
        "supybot",
        "nntp",
        "meetup",
        "stackexchange",
        "groupsio",
    ]
    assert {str(Path(loc).relative_to(pdir)) for loc in whole if Path(loc).parent.name in owned} == expected
    files = [p for folder in owned for p in (pdir / folder).iterdir()]
    assert len(files) - len(expected) == 45
    # record-level rejects point into content files, with the line
    assert sorted(loc.split(":", 1)[1] for loc, _ in rejects if ":" in loc) == ["line 4", "line 9"]
    # the folders other readers own are named with the reader to use, never silently skipped
    for folder in ("discourse", "mbox", "pipermail", "hyperkitty"):
        for p in (pdir / folder).rglob("*"):
            if p.is_file():
                assert str(p) in whole, p
    assert count(ws, "SELECT count(DISTINCT source) FROM items") == 9


# -- Perceval items --------------------------------------------------------------------------------


def perceval_items(pdir: Path) -> list[dict]:
    """Perceval-shaped items built from the raw captures, as `perceval slack|meetup|nntp` would print them."""
    out = []
    info = load(pdir / "slack" / "slack_info.json")["channel"]
    users = {
        u["user"]["id"]: u["user"] for u in map(load, (pdir / "slack").glob("slack_user_U000[123].json"))
    }
    for m in load(pdir / "slack" / "slack_history.json")["messages"]:
        data = dict(m, channel_info=info)
        uid = m.get("user") or (m.get("comment") or {}).get("user")
        if uid:
            data["user_data"] = users[uid]
        out.append(
            {
                "backend_name": "Slack",
                "backend_version": "0.9",
                "category": "message",
                "origin": "https://slack.com/C011DUKE8",
                "uuid": m["ts"],
                "data": data,
            }
        )
    ev = load(pdir / "meetup" / "meetup_events.json")[0]
    ev = dict(
        ev,
        comments=load(pdir / "meetup" / "meetup_comments.json"),
        rsvps=load(pdir / "meetup" / "meetup_rsvps.json"),
    )
    out.append(
        {"backend_name": "Meetup", "origin": "https://meetup.com/sqlpass-es", "category": "event", "data": ev}
    )
    out.append(
        {
            "backend_name": "MBox",
            "origin": "http://lists.example.com/dev",
            "category": "message",
            "data": {
                "From": "Alvaro <acs@example.com>",
                "Message-ID": "<r1@x>",
                "In-Reply-To": "<r0@x>",
                "Date": "Tue, 15 Mar 2016 22:14:56 +0100",
                "Subject": "Re: hi",
                "body": {"plain": "thanks"},
            },
        }
    )
    out.append(
        {
            "backend_name": "Git",
            "origin": "https://github.com/x/y",
            "category": "commit",
            "data": {"commit": "1"},
        }
    )
    return out


@pytest.mark.parametrize("container", ["array", "jsonlines", "concatenated"])
def test_perceval_items_in_every_container(ws, pdir, tmp_path: Path, container: str):
    items = perceval_items(pdir)
    if container == "array":
        text = json.dumps(items, indent=2)
    elif container == "jsonlines":
        text = "\n".join(json.dumps(i) for i in items) + "\n"
    else:
        text = "".join(json.dumps(i, indent=4) + "\n" for i in items)
    f = tmp_path / "items.json"
    f.write_text(text)
    assert PercevalReader.detect(f) >= 0.9
    r, rejects = ingest(ws, f)
    assert r.sources == [
        "perceval-mbox:lists-example-com",
        "perceval-meetup:meetup-com",
        "perceval-slack:slack-com",
    ]
    slack_msgs = load(pdir / "slack" / "slack_history.json")["messages"]
    joins = sum(m.get("subtype") == "channel_join" for m in slack_msgs)
    assert (
        count(ws, "SELECT count(*) FROM items WHERE source = 'perceval-slack:slack-com'")
        == len(slack_msgs) - joins
    )
    assert count(ws, "SELECT count(*) FROM spaces WHERE source = 'perceval-slack:slack-com'") == 1
    meetup = by_kind(ws, "(SELECT * FROM items WHERE source = 'perceval-meetup:meetup-com')")
    assert meetup == {"event": 1, "comment": 2}
    assert count(ws, "SELECT count(*) FROM actions WHERE verb = 'attend'") == 3
    assert ws.raw.execute(
        "SELECT kind, parent_id FROM items WHERE source = 'perceval-mbox:lists-example-com'"
    ).fetchall() == [("reply", "perceval-mbox:lists-example-com:r0@x")]
    assert [reason.split(" is ")[0] for _, reason in rejects] == ["Perceval backend 'Git'"]


def test_broken_item_files_give_rejects(ws, tmp_path: Path):
    good = {
        "backend_name": "Telegram",
        "origin": "https://telegram.org/bot",
        "data": {
            "message": {
                "message_id": 1,
                "date": 1467289325,
                "chat": {"id": -1, "title": "g", "type": "group"},
                "from": {"id": 8, "first_name": "Santi"},
                "text": "hi",
            }
        },
    }
    f = tmp_path / "broken.json"
    f.write_text(
        json.dumps(good)
        + "\nthis is not json\n"
        + json.dumps({"backend_name": "Telegram"})
        + "\n"
        + '{"backend_name": "Telegram", "data": {"message": {"message_id": 2, "te'
    )
    _r, rejects = ingest(ws, f)
    assert count(ws, "SELECT count(*) FROM items") == 1
    reasons = sorted(reason for _, reason in rejects)
    assert len(reasons) == 3
    assert reasons[0] == "JSON value cut off at the end of the file"
    assert reasons[1].startswith("not a Perceval item") and reasons[2].startswith("text that is not JSON")
    assert all(re.search(r":byte \d+$", loc) for loc, _ in rejects)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.dictionaries(
            st.text(max_size=5),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(alphabet='ab"\\{}[] \n', max_size=8),
                lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
                max_leaves=6,
            ),
            max_size=4,
        ),
        max_size=6,
    ),
    container=st.sampled_from(["array", "lines", "pretty", "pretty-lines"]),
    junk_at=st.none() | st.integers(min_value=0, max_value=6),
)
# a number past 64 bits: orjson alone gives it back as a rounded float
@example(values=[{"": [-9223372036854775809]}], container="lines", junk_at=None)
def test_json_splitter_round_trips(values, container, junk_at):
    """Every layout gives back the values in order, each at an offset on the line where it starts; a
    line that is not JSON between objects is reported once and every object is still read."""
    dump = {
        "array": lambda: json.dumps(values, indent=1),
        "lines": lambda: "\n".join(json.dumps(v) for v in values),
        "pretty": lambda: "".join(json.dumps(v, indent=2) for v in values),  # objects sharing lines
        "pretty-lines": lambda: "\n".join(json.dumps(v, indent=2) for v in values),  # perceval's output
    }
    raw = dump[container]()
    got = list(iter_json(io.BytesIO(raw.encode())))
    assert [p for _, _, p in got if p] == []
    assert [v for _, v, _ in got] == values
    data = raw.encode()
    for offset, _, _ in got:
        line_end = data.find(b"\n", offset)
        assert data.rfind(b"\n", 0, offset) < offset <= (len(data) if line_end < 0 else line_end)
        if container in ("lines", "pretty-lines"):  # a value on a line of its own: its exact start
            assert data[offset : offset + 1] == b"{"
    if junk_at is not None and container != "array":
        sep = "" if container == "pretty" else "\n"
        parts = [json.dumps(v) if container == "lines" else json.dumps(v, indent=2) for v in values]
        parts.insert(min(junk_at, len(parts)), "\nnot json at all\n")
        got = list(iter_json(io.BytesIO(sep.join(parts).encode())))
        assert [v for _, v, p in got if not p] == values
        assert [p.split(":")[0] for _, _, p in got if p] == ["text that is not JSON"]
