"""The tabular reader (CSV / JSON Lines / Parquet of canonical tables) and the HR attribute join."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import zipfile
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import covalue
from covalue.cli import app
from covalue.hr import attach_members
from covalue.settings import Settings
from covalue.sources.base import ReaderError, Sink
from covalue.sources.tabular import TabularReader
from covalue.sources.tabular_values import BadRow, timestamp_value
from covalue.testing import collect

SECRET = b"k" * 32


def write(path: Path, text: str, *, bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def rows(ws: covalue.Workspace, sql: str) -> list[tuple]:
    return ws.raw.execute(sql).fetchall()


def one(ws: covalue.Workspace, sql: str):
    return ws.raw.execute(sql).fetchone()[0]


def reopen(ws: covalue.Workspace) -> covalue.Workspace:
    """The workspace again, with the settings in its covalue.toml re-read."""
    ws.close()
    return covalue.open(ws.path)


def read_direct(path: Path, settings: Settings | None = None) -> tuple[dict[str, list[dict]], list[str]]:
    """Run the reader without a database: rows per table, and the warnings."""
    got = collect(TabularReader(settings or Settings()), path, secret=SECRET)
    return got.tables, got.messages


@pytest.fixture
def forum(tmp_path: Path) -> Path:
    """A small forum export with canonical column names, one file per table."""
    d = tmp_path / "acme-forum"
    write(
        d / "members.csv",
        "member_id,email,display_name,org_unit,location,role,joined_at,is_bot\n"
        "u1,Ann@Example.com,Ann,Sales,Paris,lead,2024-01-01,\n"
        "u2,bob@example.com,Bob,IT,,,1704067200,false\n"
        "u3,,deploy-bot,,,,2024-01-03T00:00:00Z,\n",
    )
    write(d / "spaces.csv", "space_id,name,kind\ngen,General,channel\nhelp,Help desk,category\n")
    write(
        d / "items.csv",
        "item_id,space_id,author_id,created_at,kind,title,text,parent_id,accepted,views,score\n"
        "1,help,u1,2024-02-01T10:00:00Z,question,VPN?,How do I reach the VPN from home?,,,12,3\n"
        "2,help,bob@example.com,2024-02-01T11:30:00+01:00,answer,,Use the new client: https://x.example,1,true,,5\n"
        "3,gen,u2,1706868000000,post,Hello,Welcome everyone,,,,\n"
        '4,gen,u1,2024-02-03 09:00:00,,,"Thanks,\nBob",3,,,\n',
    )
    write(
        d / "actions.csv",
        "actor_id,verb,item_id,target_id,ts,detail\n"
        "u2,react,1,u1,2024-02-01T10:05:00Z,+1\n"
        "u1,accept,2,u2,2024-02-01T12:00:00Z,\n"
        "u3,join,,,2024-01-03T00:00:00Z,\n",
    )
    return d


# -- canonical columns ----------------------------------------------------------------------------
def test_canonical_folder_round_trip(ws, forum):
    [r] = ws.ingest([forum])
    assert r.reader == "tabular" and r.status == "ok", r.messages
    assert r.sources == ["tabular:acme-forum"]
    assert r.added["members"] == 3 and r.added["items"] == 4 and r.added["actions"] == 3
    assert r.added["spaces"] == 2 and r.rejects == 0
    by_kind = dict(rows(ws, "SELECT kind, count(*) FROM items GROUP BY 1"))
    assert by_kind == {"question": 1, "answer": 1, "post": 1, "reply": 1}
    # the answer was authored by Bob's email: it resolves to the member u2, not to a new person
    assert one(ws, "SELECT count(*) FROM identities") == 3
    bob = one(ws, "SELECT identity_id FROM identities WHERE native_id = 'u2'")
    assert one(ws, "SELECT author_id FROM items WHERE item_id = 'tabular:acme-forum:2'") == bob
    assert rows(
        ws, "SELECT created_at, accepted, n_links FROM items WHERE item_id = 'tabular:acme-forum:2'"
    ) == [(datetime(2024, 2, 1, 10, 30), True, 1)]
    assert one(ws, "SELECT created_at FROM items WHERE item_id = 'tabular:acme-forum:3'") == datetime(
        2024, 2, 2, 10
    )
    # a reply with a parent but no thread joins its parent's thread
    assert rows(ws, "SELECT thread_id, parent_id FROM items WHERE item_id = 'tabular:acme-forum:4'") == [
        ("tabular:acme-forum:3", "tabular:acme-forum:3")
    ]
    assert rows(ws, "SELECT name, kind FROM spaces ORDER BY 1") == [
        ("General", "channel"),
        ("Help desk", "category"),
    ]
    assert rows(ws, "SELECT org_unit, location, role FROM members WHERE org_unit = 'Sales'") == [
        ("Sales", "Paris", "lead")
    ]
    assert one(ws, "SELECT count(*) FROM members WHERE is_bot") == 1  # named deploy-bot, no is_bot value
    assert rows(ws, "SELECT verb, detail FROM actions ORDER BY 1") == [
        ("accept", None),
        ("join", None),
        ("react", "+1"),
    ]
    # people are pseudonymous everywhere outside identities, and no email is stored anywhere
    for t, c in (("items", "author_id"), ("actions", "actor_id"), ("actions", "target_id")):
        assert (
            one(ws, f"SELECT count(*) FROM {t} WHERE {c} IS NOT NULL AND {c} NOT LIKE 'm\\_%' ESCAPE '\\'")
            == 0
        )
    dump = json.dumps(
        [rows(ws, f"SELECT * FROM {t}") for t in ("identities", "members", "items", "actions")], default=str
    )
    assert "example.com" not in dump.lower()


def test_reingest_adds_nothing(ws, forum):
    ws.ingest([forum])
    [again] = ws.ingest([forum])
    assert all(n == 0 for n in again.added.values()), again.added
    # a newer export only adds what is new
    with (forum / "items.csv").open("a") as fh:
        fh.write("5,gen,u2,2024-03-01T08:00:00Z,post,,More news,,,,\n")
    [newer] = ws.ingest([forum])
    assert newer.added["items"] == 1 and newer.added["members"] == 0


def test_single_file_source_name_and_community_columns(ws, tmp_path):
    f = write(
        tmp_path / "intranet" / "posts.csv",
        "item_id,author_id,created_at,source,community,space\n"
        "a,u1,2024-05-01T00:00:00Z,,Data guild,analytics\n"
        "b,u2,2024-05-02T00:00:00Z,wiki,,notes\n",
    )
    [r] = ws.ingest([f])
    assert r.status == "ok"
    # posts.csv is only a table word, so the folder names the source; a source column overrides it
    assert r.sources == ["tabular:intranet", "tabular:wiki"]
    assert rows(ws, "SELECT item_id, community_id FROM items ORDER BY 1") == [
        ("tabular:intranet:a", "data-guild"),
        ("tabular:wiki:b", "wiki"),
    ]
    assert rows(ws, "SELECT community_id, name FROM communities ORDER BY 1") == [
        ("data-guild", "Data guild"),
        ("intranet", "intranet"),
        ("wiki", "wiki"),
    ]
    assert rows(ws, "SELECT space_id, community_id FROM spaces ORDER BY 1") == [
        ("tabular:intranet:analytics", "data-guild"),
        ("tabular:wiki:notes", "wiki"),
    ]


def test_table_from_columns_and_unknown_columns_warned_once(tmp_path):
    f = write(
        tmp_path / "dump" / "export-2024.csv",
        "item_id,author_id,created_at,text,Mood,Internal Flag\n"
        "1,u1,2024-01-01T00:00:00Z,hi,ok,x\n"
        "2,u1,2024-01-02T00:00:00Z,again,ok,y\n",
    )
    out, messages = read_direct(f)
    assert len(out["items"]) == 2
    ignored = [m for m in messages if "ignored columns" in m]
    assert ignored == ["export-2024.csv: ignored columns not in items: Mood, Internal Flag"]


# -- mapping from covalue.toml ---------------------------------------------------------------------
def test_mapping_from_settings(ws, tmp_path):
    (ws.path / "covalue.toml").write_text(
        'name = "t"\n'
        "[tabular.forum_posts]\n"
        'table = "items"\n'
        'pattern = "forumdump*.csv"\n'
        'timestamp_format = "%d/%m/%Y %H:%M"\n'
        'columns = { item_id = "PostID", author_id = "User", created_at = "Posted", text = "Body", '
        'parent_id = "InReplyTo", kind = "Type" }\n'
        "[tabular.likes]\n"
        'table = "actions"\n'
        'pattern = "likes_*.jsonl"\n'
        'columns = { actor_id = "who", item_id = "post", ts = "when" }\n'
    )
    ws = reopen(ws)
    d = tmp_path / "legacy"
    write(
        d / "forumdump-2023.csv",
        "PostID,User,Posted,Body,InReplyTo,Type\n"
        "10,alice,31/12/2023 23:59,Anyone around?,,question\n"
        "11,bert,01/01/2024 00:10,Happy new year,10,answer\n"
        "12,bert,2024-01-01,wrong date format,10,reply\n",
    )
    write(
        d / "likes_jan.jsonl",
        '{"who": "alice", "post": 11, "when": "2024-01-01T08:00:00Z", "verb": "react"}\n'
        '{"who": "carl", "post": 11, "when": 1704096000, "verb": "vote", "value": 1}\n',
    )
    try:
        [r] = ws.ingest([d])
        assert r.read["items"] == 2 and r.read["actions"] == 2, r.messages
        assert rows(ws, "SELECT item_id, kind, created_at FROM items ORDER BY 1") == [
            ("tabular:legacy:10", "question", datetime(2023, 12, 31, 23, 59)),
            ("tabular:legacy:11", "answer", datetime(2024, 1, 1, 0, 10)),
        ]
        assert rows(ws, "SELECT location, reason FROM rejects") == [
            (
                "legacy/forumdump-2023.csv:4",
                "created_at '2024-01-01' does not match timestamp_format '%d/%m/%Y %H:%M'",
            )
        ]
        assert rows(ws, "SELECT verb, item_id, value FROM actions ORDER BY 1") == [
            ("react", "tabular:legacy:11", None),
            ("vote", "tabular:legacy:11", 1.0),
        ]
    finally:
        ws.close()


def test_mapping_to_missing_required_column_rejects_file(tmp_path):
    s = Settings.model_validate(
        {"tabular": {"m": {"table": "items", "pattern": "x.csv", "columns": {"item_id": "Nope"}}}}
    )
    f = write(tmp_path / "x.csv", "Id,When\n1,2024-01-01\n")
    out, messages = read_direct(f, s)
    [rej] = out["rejects"]
    assert rej["location"] == "x.csv"
    assert rej["reason"].startswith("no column for item_id, created_at (required in items)")
    assert any("columns not found: item_id = 'Nope'" in m for m in messages)


# -- formats ---------------------------------------------------------------------------------------
def test_csv_with_bom_and_semicolons(tmp_path):
    f = write(
        tmp_path / "x" / "messages.csv",
        "item_id;author_id;created_at;text\n"
        '1;u1;2024-01-01T00:00:00Z;"one; two, three"\n'
        "2;u2;2024-01-01T01:00:00Z;Grüße, ça va\n",
        bom=True,
    )
    out, _ = read_direct(f)
    assert [i["text"] for i in out["items"]] == ["one; two, three", "Grüße, ça va"]
    assert "rejects" not in out


def test_tsv_and_windows_1252(tmp_path):
    f = tmp_path / "posts.tsv"
    f.write_bytes(
        "item_id\tauthor_id\tcreated_at\ttext\n1\tu1\t2024-01-01\tcaf\xe9 cr\xe8me\n".encode("latin-1")
    )
    out, messages = read_direct(f)
    assert out["items"][0]["text"] == "café crème"
    assert any("read as cp1252" in m for m in messages)


def test_jsonl(tmp_path):
    f = write(
        tmp_path / "events.jsonl",
        '{"actor_id": 42, "verb": "VIEW", "item_id": "p1", "ts": 1704067200123}\n'
        "\n"
        '{"actor_id": "42", "verb": "attend", "ts": "2024-01-02T09:00:00.123456789Z", "space": "Meetup"}\n'
        '{"actor_id": "43", "verb": "applaud", "ts": "2024-01-02"}\n'
        "{broken\n"
        '"just a string"\n',
    )
    out, _ = read_direct(f)
    acts = out["actions"]
    assert [a["verb"] for a in acts] == ["view", "attend"]
    assert acts[0]["ts"] == datetime(2024, 1, 1, 0, 0, 0, 123000)
    assert acts[1]["ts"] == datetime(2024, 1, 2, 9, 0, 0, 123456)
    assert acts[0]["actor_id"] == acts[1]["actor_id"]  # 42 and "42" are one person
    reasons = {r["location"]: r["reason"] for r in out["rejects"]}
    assert set(reasons) == {"events.jsonl:4", "events.jsonl:5", "events.jsonl:6"}
    assert reasons["events.jsonl:4"].startswith("unknown verb 'applaud'")
    assert reasons["events.jsonl:5"].startswith("not valid JSON")
    assert reasons["events.jsonl:6"] == "expected a JSON object, found str"


def test_parquet(ws, tmp_path):
    d = tmp_path / "pq"
    d.mkdir()
    pq.write_table(
        pa.table(
            {
                "item_id": pa.array([1, 2, 3], pa.int64()),
                "author_id": ["a", "b", None],
                "created_at": pa.array(
                    [datetime(2024, 1, 1), datetime(2024, 1, 2), None], pa.timestamp("ms")
                ),
                "kind": ["question", "answer", "post"],
                "parent_id": [None, 1, None],
                "score": [1.0, 2.0, None],
            }
        ),
        d / "items.parquet",
        row_group_size=2,
    )
    pq.write_table(pa.table({"member_id": ["a", "b"], "org_unit": ["R&D", "Ops"]}), d / "members.parquet")
    [r] = ws.ingest([d])
    assert r.read["items"] == 2 and r.read["members"] == 2
    assert rows(ws, "SELECT item_id, parent_id, score FROM items ORDER BY 1") == [
        ("tabular:pq:1", None, 1),
        ("tabular:pq:2", "tabular:pq:1", 2),
    ]
    assert rows(ws, "SELECT location, reason FROM rejects") == [
        ("pq/items.parquet:row 3", "missing created_at")
    ]
    assert one(ws, "SELECT count(*) FROM members WHERE org_unit IS NOT NULL") == 2


def test_zip_of_csvs(ws, forum, tmp_path):
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sorted(forum.iterdir()):
            zf.write(p, f"export/{p.name}")
        zf.writestr("export/README.txt", "not a table")
        zf.writestr("../escape.csv", "item_id,created_at\n1,2024-01-01\n")
    [r] = ws.ingest([z])
    assert r.reader == "tabular"
    assert r.sources == ["tabular:export"]
    assert r.added["items"] == 4 and r.added["members"] == 3 and r.added["actions"] == 3
    [(loc, reason)] = rows(ws, "SELECT location, reason FROM rejects")
    assert loc == "export.zip!../escape.csv" and "path traversal" in reason
    assert any("README.txt" in m for m in r.messages)


def test_zip_with_parquet_entry(tmp_path):
    buf = io.BytesIO()
    pq.write_table(pa.table({"space_id": ["s1"], "name": ["Ops"]}), buf)
    z = tmp_path / "t.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("channels.parquet", buf.getvalue())
    out, _ = read_direct(z)
    assert [(s["space_id"], s["name"]) for s in out["spaces"]] == [("tabular:t:s1", "Ops")]


# -- bad input -------------------------------------------------------------------------------------
def test_bad_rows_become_rejects_with_line_numbers(ws, tmp_path):
    f = write(
        tmp_path / "items.csv",
        "item_id,author_id,created_at,kind,text,views\n"
        '1,u1,2024-01-01T00:00:00Z,post,"a text\nover two lines",3\n'  # lines 2-3
        ",u1,2024-01-01T00:00:00Z,post,no id,\n"  # line 4
        "3,u1,yesterday,post,bad time,\n"  # line 5
        "4,u1,2024-01-01T00:00:00Z,rant,unknown kind,\n"  # line 6
        "5,u1,2024-01-01T00:00:00Z,post\n"  # line 7
        "6,u1,2024-01-01T00:00:00Z,post,ok,many\n"  # line 8
        "7,u1,2024-01-01T00:00:00Z,post,kept,\n",  # line 9
    )
    [r] = ws.ingest([f])
    assert r.status == "partial"
    assert r.read["items"] == 2
    got = rows(ws, "SELECT location, reason FROM rejects ORDER BY location")
    assert got == [
        ("items.csv:4", "missing item_id"),
        ("items.csv:5", "created_at is not a timestamp (ISO 8601 or epoch expected): 'yesterday'"),
        (
            "items.csv:6",
            "unknown kind 'rant' (expected one of post, reply, question, answer, comment, idea, event, page)",
        ),
        ("items.csv:7", "expected 6 fields, found 4"),
        ("items.csv:8", "views is not a number: 'many'"),
    ]
    assert (
        one(ws, "SELECT excerpt FROM rejects WHERE location = 'items.csv:6'")
        == "4,u1,2024-01-01T00:00:00Z,rant,unknown kind,"
    )
    # a rejected row leaves no person behind: all rows are by u1, who also wrote kept rows
    assert one(ws, "SELECT count(*) FROM identities") == 1


def test_unknown_table_and_empty_file(tmp_path):
    d = tmp_path / "d"
    write(d / "weird.csv", "a,b\n1,2\n")
    write(d / "items.csv", "")
    write(d / "members.csv", "member_id\nu1\n")
    out, _ = read_direct(d)
    reasons = {r["location"]: r["reason"] for r in out["rejects"]}
    assert reasons["d/weird.csv"].startswith("cannot tell which table this file holds")
    assert reasons["d/items.csv"].startswith("the file is empty")
    assert len(out["members"]) == 1


def test_not_tabular_is_a_reader_error(tmp_path):
    f = write(tmp_path / "notes.txt", "hello")
    with pytest.raises(ReaderError, match="not a CSV"):
        read_direct(f)


def test_timestamps():
    assert timestamp_value("2024-03-01T12:00:00+02:00", "ts") == datetime(2024, 3, 1, 10)
    assert timestamp_value("2024-03-01T12:00:00Z", "ts") == datetime(2024, 3, 1, 12)
    assert timestamp_value("1709294400", "ts") == datetime(2024, 3, 1, 12)
    assert timestamp_value(1709294400000, "ts") == datetime(2024, 3, 1, 12)
    assert timestamp_value("20240301", "ts") == datetime(2024, 3, 1)
    assert timestamp_value("01-Mar-24 02:05 PM", "ts", "%d-%b-%y %I:%M %p") == datetime(2024, 3, 1, 14, 5)
    assert timestamp_value("", "ts") is None
    with pytest.raises(BadRow):
        timestamp_value("March the first", "ts")


def test_detect_scores(tmp_path, forum):
    assert TabularReader.detect(forum) == 0.5
    assert TabularReader.detect(forum / "items.csv") == 0.5
    assert TabularReader.detect(write(tmp_path / "x.csv", "a,b\n")) == 0.3
    assert TabularReader.detect(write(tmp_path / "x.json", "{}")) == 0.0


# -- property: no input crashes the reader ---------------------------------------------------------
_ALPHABET = st.sampled_from(
    [*'abc01:-TZ ,;\t|"\n\r\x00é\ufeff', "item_id", "created_at", "kind", "2024-01-01"]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.lists(_ALPHABET, max_size=60).map("".join))
def test_random_csv_text_never_raises(tmp_path, text):
    f = tmp_path / "items.csv"
    f.write_text(text, encoding="utf-8", errors="surrogatepass")
    # a clear refusal of the whole file is allowed; any other exception is a bug
    with contextlib.suppress(ReaderError):
        read_direct(f)


_CELL = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
    st.sampled_from(["2024-01-01", "1704067200", "post", "reply", "nonsense", "12", "-1.5"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    table=st.lists(
        st.tuples(st.sampled_from(["1", "2", "x", ""]), _CELL, _CELL, _CELL, _CELL), min_size=1, max_size=12
    ),
    delim=st.sampled_from([",", ";", "\t"]),
)
def test_every_row_is_kept_or_rejected(tmp_path, table, delim):
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delim, lineterminator="\r\n")  # so that a lone \r in a cell is quoted
    w.writerow(["item_id", "author_id", "created_at", "kind", "views"])
    for row in table:
        w.writerow(["" if v is None else v for v in row])
    f = tmp_path / "items.csv"
    f.write_bytes(buf.getvalue().encode("utf-8"))
    out, _ = read_direct(f)
    # five columns are always written, so no row is blank: each one is an item or a reject
    assert len(out.get("items", [])) + len(out.get("rejects", [])) == len(table)


# -- HR attributes ---------------------------------------------------------------------------------
def slack_like(ws: covalue.Workspace) -> dict[str, str]:
    """A Slack-like source written through the sink API: three people, two with emails."""
    sink = Sink(secret=ws.secret, ingest_id="seed", emit=ws.append)
    s = sink.source("slack", "acme")
    ids = {
        "U01": s.person("U01", display_name="Ann", email="ann@acme.example"),
        "U02": s.person("U02", display_name="Bob", email="bob@acme.example", org_unit="Old unit"),
        "U03": s.person("U03", display_name="Cy"),
    }
    sink.flush()
    return ids


def test_hr_join_by_email_and_native_id(ws, tmp_path):
    ids = slack_like(ws)
    hr = write(
        tmp_path / "hr.csv",
        "email,native_id,source,org_unit,location,role\n"
        "ANN@acme.example,,,Finance,Lyon,analyst\n"  # line 2: email, any case
        ",U03,slack,Engineering,,engineer\n"  # line 3: native id on the slack platform
        "bob@acme.example,,,,Berlin,\n"  # line 4: keeps Bob's org unit
        "zed@acme.example,,,Legal,Rome,counsel\n"  # line 5: nobody
        ",U03,discourse,Wrong,,\n"  # line 6: same id, other platform: nobody
        ",,,Ops,,\n",  # line 7: no key at all
    )
    res = attach_members(ws, hr)
    assert (res.rows, res.matched, res.unmatched, res.members_updated) == (6, 3, 2, 3)
    got = dict(
        (mid, (o, loc, role))
        for mid, o, loc, role in rows(ws, "SELECT member_id, org_unit, location, role FROM members")
    )
    assert got[ids["U01"]] == ("Finance", "Lyon", "analyst")
    assert got[ids["U02"]] == ("Old unit", "Berlin", None)
    assert got[ids["U03"]] == ("Engineering", None, "engineer")
    assert rows(ws, "SELECT location, reason FROM rejects WHERE source = 'hr:hr' ORDER BY 1") == [
        ("hr.csv:5", "no such member"),
        ("hr.csv:6", "no such member"),
        ("hr.csv:7", "missing email or native_id"),
    ]
    assert res.status == "partial"
    # running it again changes nothing and adds no reject
    n_rej = one(ws, "SELECT count(*) FROM rejects")
    again = attach_members(ws, hr)
    assert (again.matched, again.unmatched) == (3, 2)
    assert one(ws, "SELECT count(*) FROM rejects") == n_rej
    assert one(ws, "SELECT count(*) FROM ingests WHERE reader = 'hr'") == 2


def test_hr_cli_after_tabular_ingest(ws, forum, tmp_path):
    hr = write(
        tmp_path / "people.jsonl",
        '{"email": "bob@example.com", "org_unit": "Platform"}\n{"email": "x@y.z"}\n',
    )
    ws.close()
    res = CliRunner().invoke(app, ["ingest", str(forum), "-w", str(ws.path), "--members", str(hr), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [o["reader"] for o in out] == ["tabular", "hr"]
    assert (out[1]["matched"], out[1]["unmatched"], out[1]["members_updated"]) == (1, 1, 1)
    with covalue.open(ws.path) as w:
        assert rows(w, "SELECT org_unit FROM members WHERE org_unit IS NOT NULL ORDER BY 1") == [
            ("Platform",),
            ("Sales",),
        ]


def test_invalid_utf8_after_the_sample_is_replaced_and_reported(tmp_path, monkeypatch):
    from covalue.sources import tabular_files

    monkeypatch.setattr(tabular_files, "SAMPLE_BYTES", 16)  # the bad byte comes after the encoding sniff
    f = tmp_path / "items.csv"
    f.write_bytes(b"item_id,created_at,text\n1,2024-01-01,fine\n2,2024-01-01,bad \xff byte\n")
    out, messages = read_direct(f)
    assert [i["text"] for i in out["items"]] == ["fine", "bad \ufffd byte"]
    assert any("1 line held bytes invalid in utf-8 (first at items.csv:3)" in m for m in messages)


def test_truncated_gzip_keeps_what_was_read(tmp_path):
    body = "item_id,created_at\n" + "".join(f"{i},2024-01-01T00:00:{i % 60:02d}Z\n" for i in range(20_000))
    data = gzip.compress(body.encode())
    f = tmp_path / "items.csv.gz"
    f.write_bytes(data[: len(data) // 2])
    out, _ = read_direct(f)
    [rej] = out["rejects"]
    assert rej["reason"].startswith("file damaged or truncated after this point: EOFError")
    n = len(out["items"])
    assert 0 < n < 20_000
    assert rej["location"] == f"items.csv.gz:{n + 1}"


def test_jsonl_keys_first_seen_in_later_objects(tmp_path):
    s = Settings.model_validate(
        {"tabular": {"m": {"table": "items", "pattern": "feed*.jsonl", "columns": {"title": "headline"}}}}
    )
    f = write(
        tmp_path / "feed.jsonl",
        '{"item_id": "a", "created_at": "2024-01-01"}\n'
        '{"item_id": "b", "created_at": "2024-01-02", "headline": "Later key", "text": "body", "odd": 1}\n',
    )
    out, messages = read_direct(f, s)
    assert [(i["title"], i["text"]) for i in out["items"]] == [(None, None), ("Later key", "body")]
    assert messages == ["feed.jsonl: ignored keys not in items: odd"]


def _blank_as_read(data: bytes) -> bool:
    """Whether text is only white space once decoded as the reader decodes it (UTF-8, else Windows-1252)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", "surrogateescape")
    return not text.strip()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.binary(max_size=200),
    name=st.sampled_from(["items.csv", "actions.jsonl", "members.tsv", "spaces.parquet", "posts.csv.gz"]),
)
@example(data=b"\xa0", name="items.csv")  # a non-breaking space in Windows-1252: a blank line
@example(data=b"\x81", name="items.csv")  # a byte Windows-1252 leaves undefined: kept as a reject
@example(data=b'"', name="items.csv")  # a stray quote reads as one empty field: a reject, not a blank line
def test_random_bytes_never_raise(tmp_path, data, name):
    f = tmp_path / name
    f.write_bytes(b"item_id,created_at,verb,actor_id,ts\n" + data if name.endswith("csv") else data)
    with contextlib.suppress(ReaderError):
        out, _ = read_direct(f)
        # a file that yields nothing says why (a CSV header followed by blank lines is merely empty)
        if not _blank_as_read(data) or not name.endswith("csv"):
            assert out.get("rejects") or out.get("items") or out.get("actions") or out.get("members")


def test_hr_join_on_the_real_slack_export(ws, shared_data, tmp_path):
    """71 real Slack users (all with emails): 60 found by email, 11 by Slack id, 3 strangers."""
    export = shared_data / "slack" / "houstondatavis-slack-export.zip"
    with zipfile.ZipFile(export) as zf:
        users = json.loads(zf.read("users.json"))
    assert len(users) == 71
    [r] = ws.ingest([export])
    assert r.sources == ["slack:houstondatavis"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["email", "native_id", "source", "org_unit", "location", "role"])
    for n, u in enumerate(users):
        if n < 60:
            email = u["profile"]["email"]
            w.writerow([email.upper() if n % 2 else email, "", "", f"Unit {n % 4}", "Houston", ""])
        else:
            w.writerow(["", u["id"], "slack:houstondatavis", f"Unit {n % 4}", "", "volunteer"])
    for n in range(3):
        w.writerow([f"stranger{n}@nowhere.example", "", "", "Unit X", "", ""])
    hr = write(tmp_path / "staff.csv", buf.getvalue())
    res = attach_members(ws, hr)
    assert (res.rows, res.matched, res.unmatched, res.members_updated) == (74, 71, 3, 71)
    assert dict(rows(ws, "SELECT org_unit, count(*) FROM members GROUP BY 1 ORDER BY 1")) == {
        "Unit 0": 18,
        "Unit 1": 18,
        "Unit 2": 18,
        "Unit 3": 17,
    }
    assert one(ws, "SELECT count(*) FROM members WHERE role = 'volunteer'") == 11
    assert rows(ws, "SELECT location, excerpt FROM rejects WHERE reason = 'no such member' ORDER BY 1") == [
        ("staff.csv:73", "org_unit=Unit X"),
        ("staff.csv:74", "org_unit=Unit X"),
        ("staff.csv:75", "org_unit=Unit X"),
    ]
