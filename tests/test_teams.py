"""Microsoft Teams reader, on fixtures shaped like Microsoft Graph chatMessage responses
(list channel messages with $expand=replies, and replies fetched separately)."""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from covalue.sources.teams import TeamsReader, html_text
from covalue.testing import collect

TEAM, CHAN = "fbe2bf47-16c8-47cf-b4a5-4b9b187c508b", "19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2"


def _user(uid: str, name: str | None) -> dict:
    return {
        "application": None,
        "device": None,
        "user": {
            "@odata.type": "#microsoft.graph.teamworkUserIdentity",
            "id": uid,
            "displayName": name,
            "userIdentityType": "aadUser",
            "tenantId": "t",
        },
    }


def _msg(mid: str, when: str, who: dict | None, html: str, **extra) -> dict:
    m = {
        "id": mid,
        "replyToId": None,
        "etag": mid,
        "messageType": "message",
        "createdDateTime": when,
        "lastModifiedDateTime": when,
        "lastEditedDateTime": None,
        "deletedDateTime": None,
        "subject": None,
        "summary": None,
        "chatId": None,
        "importance": "normal",
        "locale": "en-us",
        "webUrl": "https://teams/x",
        "channelIdentity": {"teamId": TEAM, "channelId": CHAN},
        "policyViolation": None,
        "eventDetail": None,
        "from": who,
        "body": {"contentType": "html", "content": html},
        "attachments": [],
        "mentions": [],
        "reactions": [],
    }
    m.update(extra)
    return m


ANN, BOB, CAT = _user("u-ann", "Ann"), _user("u-bob", "Bob"), _user("u-cat", None)
BOT = {
    "application": {
        "@odata.type": "#microsoft.graph.teamworkApplicationIdentity",
        "id": "app-1",
        "displayName": "Build Notifier",
        "applicationIdentityType": "bot",
    },
    "device": None,
    "user": None,
}

PAGE1 = {
    "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#teams('{TEAM}')/channels('{CHAN}')/messages",
    "@odata.count": 4,
    "@odata.nextLink": "https://graph.microsoft.com/v1.0/teams/x/channels/y/messages?$skiptoken=abc",
    "value": [
        _msg(
            "1616965872395",
            "2021-03-28T21:11:12.395Z",
            ANN,
            '<div><p>Where is the <a href="https://wiki/onboarding">onboarding guide</a>? '
            '<at id="0">Bob</at></p></div>',
            subject="Onboarding",
            mentions=[
                {"id": 0, "mentionText": "Bob", "mentioned": BOB},
                {
                    "id": 1,
                    "mentionText": "General",
                    "mentioned": {"conversation": {"id": CHAN, "displayName": "General"}},
                },
            ],
            reactions=[
                {
                    "reactionType": "like",
                    "displayName": "Like",
                    "createdDateTime": "2021-03-28T21:15:00Z",
                    "user": _user("u-bob", None),
                },
                {
                    "reactionType": "heart",
                    "createdDateTime": "2021-03-28T21:16:00Z",
                    "user": _user("u-cat", None),
                },
            ],
            replies=[
                _msg(
                    "1616965900000",
                    "2021-03-28T21:11:40Z",
                    BOB,
                    "<p>Pinned in Files, also https://wiki/start</p>",
                    replyToId="1616965872395",
                    attachments=[{"id": "a1", "contentType": "reference", "name": "guide.docx"}],
                )
            ],
        ),
        _msg("1616966000000", "2021-03-28T21:13:20Z", BOT, "<p>Build 42 passed</p>"),
        _msg(
            "1616966100000",
            "2021-03-28T21:15:00Z",
            None,
            "<systemEventMessage/>",
            messageType="systemEventMessage",
            eventDetail={
                "@odata.type": "#microsoft.graph.membersAddedEventMessageDetail",
                "members": [{"id": "u-dan", "displayName": "Dan"}],
                "initiator": _user("u-ann", "Ann"),
            },
        ),
        _msg(
            "1616966200000",
            "2021-03-28T21:16:40Z",
            None,
            "<systemEventMessage/>",
            messageType="systemEventMessage",
            eventDetail={
                "@odata.type": "#microsoft.graph.channelRenamedEventMessageDetail",
                "initiator": _user("u-ann", "Ann"),
            },
        ),
    ],
}

# replies fetched with GET .../messages/{id}/replies: a plain list, replyToId set
PAGE2 = [
    _msg("1616967000000", "2021-03-28T21:30:00Z", CAT, "<p>Thanks!</p>", replyToId="1616965872395"),
    _msg(
        "1616967100000",
        "2021-03-28T21:31:00Z",
        BOB,
        "",
        replyToId="1616965872395",
        deletedDateTime="2021-03-28T22:00:00Z",
    ),
    {"id": "1616967200000", "messageType": "message", "createdDateTime": "yesterday", "body": {}},
]


def _read(path: Path) -> dict[str, list[dict]]:
    return collect(TeamsReader(), path).tables


def test_graph_pages_in_a_folder(tmp_path):
    d = tmp_path / "Engineering" / "General"
    d.mkdir(parents=True)
    (d / "page-001.json").write_bytes(orjson.dumps(PAGE1))
    (d / "replies-1616965872395.json").write_bytes(orjson.dumps(PAGE2))
    assert TeamsReader.detect(tmp_path) >= 0.9
    rows = _read(tmp_path)
    items = {i["item_id"].rsplit("/", 1)[1]: i for i in rows["items"]}
    assert set(items) == {"1616965872395", "1616965900000", "1616966000000", "1616967000000", "1616967100000"}
    root = items["1616965872395"]
    assert root["kind"] == "post" and root["title"] == "Onboarding"
    assert root["text"] == "Where is the onboarding guide? Bob" and root["n_links"] == 1
    assert root["created_at"] == datetime(2021, 3, 28, 21, 11, 12, 395000)
    nested = items["1616965900000"]
    assert nested["kind"] == "reply" and nested["parent_id"] == root["item_id"] == nested["thread_id"]
    assert nested["n_links"] == 1 and nested["n_attachments"] == 1
    assert items["1616967000000"]["parent_id"] == root["item_id"]
    assert items["1616967100000"]["text"] == ""
    assert [s["name"] for s in rows["spaces"]] == ["Engineering/General"]
    verbs = sorted(a["verb"] for a in rows["actions"])
    assert verbs == ["join", "mention", "react", "react", "system"]
    reacts = [a for a in rows["actions"] if a["verb"] == "react"]
    assert {a["detail"] for a in reacts} == {"like", "heart"}
    assert all(a["target_id"] == root["author_id"] for a in reacts)
    ids = {i["native_id"]: i for i in rows["identities"]}
    assert ids["app:app-1"]["is_bot"] and ids["app:app-1"]["display_name"] == "Build Notifier"
    assert not ids["user:u-ann"]["is_bot"] and "user:u-dan" in ids
    [rej] = rows["rejects"]
    assert rej["location"].endswith("replies-1616965872395.json:[2]")
    assert "createdDateTime" in rej["reason"]


def test_zip_bad_files_and_idempotence(tmp_path, ws):
    z = tmp_path / "teams-export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("general/page1.json", orjson.dumps(PAGE1))
        zf.writestr("general/broken.json", b'{"value": [')
        zf.writestr("general/other.json", b'{"hello": "world"}')
        zf.writestr(
            "general/latin1.json",
            orjson.dumps([_msg("9", "2021-04-01T00:00:00Z", ANN, "caf__")]).replace(b"caf__", b"caf\xe9"),
        )
        zf.writestr("/etc/passwd.json", b"[]")
    res = ws.ingest([z])[0]
    assert res.reader == "teams" and res.status == "partial"
    reasons = dict(ws.raw.execute("SELECT location, reason FROM rejects").fetchall())
    assert "not valid JSON" in reasons["general/broken.json"]
    assert "not Microsoft Graph chat messages" in reasons["general/other.json"]
    assert "invalid UTF-8" in reasons["general/latin1.json"]
    assert any("absolute path" in r for r in reasons.values())
    assert res.added["items"] == 4
    assert ws.raw.execute("SELECT count(*) FROM items WHERE text = 'caf\ufffd'").fetchone()[0] == 1
    assert ws.ingest([z])[0].added["items"] == 0


def test_html_text_counts_links_and_strips_markup():
    assert html_text('<p>see <a href="http://a">a</a> and http://b</p>', "html") == ("see a and http://b", 2)
    assert html_text("plain http://x", "text") == ("plain http://x", 1)
    assert html_text(None, "html") == ("", 0)
    assert html_text("<<<>>>", "html")[1] == 0


def test_detect_only_graph_messages(shared_data, tmp_path):
    assert TeamsReader.detect(shared_data / "perceval" / "mattermost") == 0
    assert TeamsReader.detect(shared_data / "slack" / "houstondatavis-slack-export.zip") == 0
    f = tmp_path / "m.json"
    f.write_bytes(orjson.dumps({"value": [{"id": 1, "name": "not a message"}]}))
    assert TeamsReader.detect(f) == 0


def test_list_of_pages_and_json_lines(tmp_path):
    pages = tmp_path / "all-pages.json"
    pages.write_bytes(orjson.dumps([PAGE1, {"value": PAGE2[:1]}]))
    assert len(_read(pages)["items"]) == 4
    lines = tmp_path / "pages.json"
    lines.write_bytes(orjson.dumps(PAGE1) + b"\n\n" + orjson.dumps(PAGE2[0]) + b"\n")
    rows = _read(lines)
    assert len(rows["items"]) == 4 and "rejects" not in rows


_KEYS = [
    "id",
    "replyToId",
    "messageType",
    "createdDateTime",
    "from",
    "user",
    "application",
    "body",
    "content",
    "contentType",
    "reactions",
    "mentions",
    "mentioned",
    "replies",
    "value",
    "eventDetail",
    "members",
    "channelIdentity",
    "channelId",
    "attachments",
    "deletedDateTime",
]
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.text(max_size=6)
    | st.sampled_from(["message", "systemEventMessage", "html", "2021-03-28T21:11:12Z"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=6),
    max_leaves=15,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_JSON)
def test_any_json_is_read_or_rejected(tmp_path, doc):
    f = tmp_path / "fuzz.json"
    f.write_bytes(orjson.dumps(doc))
    rows = _read(f)  # never raises
    assert all(r["location"].startswith("fuzz.json") for r in rows.get("rejects", []))
