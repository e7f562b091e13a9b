"""The workspace: creation, secrets, the ingest pipeline's guarantees, status, and the CLI around them."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

import covalue
from covalue import identity, schema
from covalue.cli import app
from covalue.sources import base
from covalue.sources.base import Reader, Sink

runner = CliRunner()


def test_init_creates_settings_secret_and_tables(tmp_path: Path) -> None:
    ws = covalue.init(tmp_path / "w", name="Acme")
    assert (ws.path / "covalue.toml").read_text().startswith("#")
    mode = stat.S_IMODE(os.stat(ws.path / "secret.key").st_mode)
    assert mode == 0o600
    assert len(ws.secret) == 32
    assert set(ws.tables()) >= set(schema.TABLES)
    assert ws.settings.name == "Acme"
    # reopening keeps the same secret, so pseudonyms stay stable
    secret = ws.secret
    ws.close()
    assert covalue.open(tmp_path / "w").secret == secret


def test_open_missing_workspace_says_how_to_create(tmp_path: Path) -> None:
    with pytest.raises(covalue.WorkspaceError, match="covalue init"):
        covalue.open(tmp_path / "nothing")


def test_pseudonyms_are_keyed_and_stable() -> None:
    a = identity.identity_id(b"k1", "slack:x", "U1")
    assert a == identity.identity_id(b"k1", "slack:x", "U1")
    assert a != identity.identity_id(b"k2", "slack:x", "U1")
    assert a != identity.identity_id(b"k1", "slack:y", "U1")
    assert "U1" not in a
    assert identity.email_hash(b"k", " Ann@Example.org ") == identity.email_hash(b"k", "ann@example.org")
    assert identity.email_hash(b"k", "not an email") is None


class _Tiny(Reader):
    """A reader defined in the test: two people, a question, an answer, a reaction, a bad record."""

    name = "tiny"

    def read(self, path: Path, sink: Sink) -> None:
        s = sink.source("tiny", path.stem)
        space = s.space("general", "General")
        ann = s.person("u1", display_name="Ann", email="ann@example.org")
        bob = s.person("u2", display_name="Bob")
        q = s.item(
            "1",
            kind="question",
            created_at=datetime(2024, 1, 5),
            author_id=ann,
            space_id=space,
            text="How do we rotate keys? https://example.org/doc",
        )
        a = s.item(
            "2",
            kind="answer",
            created_at=datetime(2024, 1, 6),
            author_id=bob,
            space_id=space,
            parent_id=q,
            thread_id=q,
            text="Use the vault",
            accepted=True,
        )
        s.action(
            "r:2:u1",
            verb="react",
            ts=datetime(2024, 1, 6),
            actor_id=ann,
            item_id=a,
            target_id=bob,
            detail="+1",
        )
        s.reject(f"{path.name}:7", "line 7 is not valid JSON", "{oops")
        if path.suffix == ".more":
            s.item(
                "3",
                kind="reply",
                created_at=datetime(2024, 2, 1),
                author_id=ann,
                space_id=space,
                parent_id=a,
                thread_id=q,
                text="Thanks, that worked",
            )


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> type[Reader]:
    monkeypatch.setattr("covalue.workspace.get_reader", lambda name: _Tiny)
    return _Tiny


def test_ingest_is_idempotent_and_newer_exports_only_add(ws: covalue.Workspace, tmp_path: Path, tiny) -> None:
    export = tmp_path / "acme.json"
    export.write_text("{}")
    first = ws.ingest([export], source="tiny")[0]
    assert first.status == "partial"  # one reject
    assert first.added["items"] == 2 and first.added["actions"] == 1 and first.added["members"] == 2
    before = ws.status()["tables"]
    again = ws.ingest([export], source="tiny")[0]
    assert sum(again.added.values()) == 0
    after = ws.status()["tables"]
    assert {k: v for k, v in after.items() if k != "ingests"} == {
        k: v for k, v in before.items() if k != "ingests"
    }
    assert after["ingests"] == 2
    newer = tmp_path / "acme.more"
    newer.write_text("{}")
    added = ws.ingest([newer], source="tiny")[0].added
    assert added["items"] == 1 and added["members"] == 0 and added["actions"] == 0
    items = ws.table("items").to_pandas()
    assert items.item_id.is_unique
    # the answer points at its question; text statistics were computed
    ans = items.set_index("item_id").loc["tiny:acme:2"]
    assert ans.parent_id == "tiny:acme:1" and bool(ans.accepted)
    assert items.set_index("item_id").loc["tiny:acme:1"].n_links == 1


def test_people_are_pseudonymous_everywhere_but_identities(
    ws: covalue.Workspace, tmp_path: Path, tiny
) -> None:
    export = tmp_path / "acme.json"
    export.write_text("{}")
    ws.ingest([export], source="tiny")
    for t in ("members", "items", "actions"):
        dumped = ws.table(t).to_pandas().to_csv()
        assert (
            "Ann" not in dumped
            and "u1" not in dumped
            and "example.org" not in dumped.replace("https://example.org/doc", "")
        )
    ids = ws.table("identities").to_pandas()
    assert set(ids.display_name) == {"Ann", "Bob"}
    assert ids.email_hash.notna().sum() == 1
    assert not ids.email_hash.str.contains("@").any()


def test_unknown_export_is_a_clear_failure_with_a_reject(ws: covalue.Workspace, tmp_path: Path) -> None:
    junk = tmp_path / "mystery.bin"
    junk.write_bytes(b"\x00\x01 not an export")
    r = ws.ingest([junk])[0]
    assert r.status == "failed"
    assert "not an export covalue can read: it holds binary data" in r.messages[0]
    rejects = ws.table("rejects").to_pandas()
    assert len(rejects) == 1 and "--source" in rejects.reason[0]


def test_reader_crash_keeps_what_was_read(ws: covalue.Workspace, tmp_path: Path, monkeypatch) -> None:
    class Crashy(_Tiny):
        def read(self, path: Path, sink: Sink) -> None:
            super().read(path, sink)
            raise RuntimeError("boom")

    monkeypatch.setattr("covalue.workspace.get_reader", lambda name: Crashy)
    export = tmp_path / "acme.json"
    export.write_text("{}")
    r = ws.ingest([export], source="crashy")[0]
    assert r.status == "partial"
    assert r.added["items"] == 2
    assert any("RuntimeError" in m and "boom" in m for m in r.messages)


def test_batches_bound_memory(tmp_path: Path) -> None:
    emitted: list[int] = []
    sink = Sink(
        secret=b"k",
        ingest_id="i",
        emit=lambda t, b: t == "items" and emitted.append(b.num_rows),
        batch_rows=10,
    )
    s = sink.source("x", "y")
    for i in range(25):
        s.item(str(i), kind="post", created_at=None, author_id=None)
    sink.flush()
    assert emitted == [10, 10, 5]


def test_numbers_the_tables_cannot_hold_are_left_empty_not_fatal() -> None:
    """An export's absurd count (1e25 views, a score past 64 bits, an infinite value) empties that
    field; before, it failed the whole batch of rows it was read with."""
    got: dict[str, pa.Table] = {}
    sink = Sink(secret=b"k", ingest_id="i", emit=lambda t, b: got.__setitem__(t, b))
    s = sink.source("x", "y")
    s.item(
        "1", kind="post", created_at=None, author_id=None, views=10**25, score=-(10**20), n_attachments=2**40
    )
    s.item("2", kind="post", created_at=None, author_id=None, views=12, score=3.0)
    s.action("1", verb="vote", ts=None, actor_id=None, value=float("inf"))
    s.action("2", verb="vote", ts=None, actor_id=None, value=10**400)
    s.action("3", verb="vote", ts=None, actor_id=None, value=2)
    sink.flush()
    items = got["items"].to_pylist()
    assert [(i["views"], i["score"], i["n_attachments"]) for i in items] == [(None, None, 0), (12, 3, 0)]
    assert [a["value"] for a in got["actions"].to_pylist()] == [None, None, 2.0]


def test_sink_rejects_unknown_kinds_and_verbs() -> None:
    sink = Sink(secret=b"k", ingest_id="i", emit=lambda t, b: None)
    s = sink.source("x", "y")
    with pytest.raises(ValueError):
        s.item("1", kind="tweet", created_at=None, author_id=None)
    with pytest.raises(ValueError):
        s.action("1", verb="poke", ts=None, actor_id=None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2020-06-01T10:00:00Z", datetime(2020, 6, 1, 10)),
        ("2020-06-01T12:00:00+02:00", datetime(2020, 6, 1, 10)),
        (1591005600, datetime(2020, 6, 1, 10)),
        ("1591005600.000200", datetime(2020, 6, 1, 10, 0, 0, 200)),
        ("yesterday", None),
        (None, None),
        (1e20, None),
    ],
)
def test_to_utc(value, expected) -> None:
    assert base.to_utc(value) == expected


def test_cli_init_status_json(tmp_path: Path) -> None:
    target = tmp_path / "cli-ws"
    r = runner.invoke(app, ["init", str(target)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["status", "-w", str(target), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["tables"]["items"] == 0 and data["rejects"] == []


def test_cli_status_without_workspace_fails_clearly(tmp_path: Path) -> None:
    r = runner.invoke(app, ["status", "-w", str(tmp_path / "none")])
    assert r.exit_code == 2
    assert "covalue init" in r.output


def test_cli_ingest_exit_code_when_nothing_read(tmp_path: Path) -> None:
    junk = tmp_path / "mystery.bin"
    junk.write_bytes(b"nothing here")
    r = runner.invoke(app, ["ingest", str(junk), "-w", str(tmp_path / "w")])
    assert r.exit_code == 1
    assert "could not tell which platform" in r.output


def test_reject_excerpts_mask_email_addresses() -> None:
    rows: list = []
    sink = Sink(
        secret=b"k", ingest_id="i", emit=lambda t, b: rows.extend(b.to_pylist()) if t == "rejects" else None
    )
    sink.source("x", "y").reject("f.csv:3", "bad date", "ann.lee@example.org;2020-13-45;hello")
    sink.flush()
    assert rows[0]["excerpt"] == "[email];2020-13-45;hello"
