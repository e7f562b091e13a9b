"""Forgetting one person of the real houstondatavis Slack export: afterwards no byte of the workspace
folder and no row of the account store (SQLite and PostgreSQL) holds their user id, names, address,
ids or message texts; everybody else's counts are unchanged; a re-ingest of the same zip skips them."""

from __future__ import annotations

import json
import re
import shutil
import tomllib
import zipfile
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

import covalue
from covalue.cli import app
from covalue.rights import FORMER_MEMBER
from covalue.rights.forget import forget
from covalue.rights.people import PersonNotFound, resolve
from covalue.rights.subject_access import subject_access
from covalue.store import Base, Store, utcnow
from covalue.store import accounts as acc
from covalue.store.collaboration import CcEntry, CcExperiment, CcParticipant, CcStory
from covalue.store.models import LoginAttempt
from covalue.store.models import Session as WebSession
from covalue.store.shared_value import SvNeed, SvResponse

HDV = "slack/houstondatavis-slack-export.zip"
SRC = "slack:houstondatavis"
USER = "U065ETZEC"  # 87 messages in 7 channels, mentioned by others, with a profile e-mail


def _raw(zip_path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The person's users.json entry and every message of the export, read with the standard library."""
    with zipfile.ZipFile(zip_path) as zf:
        users = json.loads(zf.read(next(n for n in zf.namelist() if n.endswith("users.json"))))
        msgs = []
        for n in zf.namelist():
            parts = n.split("/")
            if len(parts) == 2 and parts[1].endswith(".json") and parts[1][:4].isdigit():
                msgs += [m for m in json.loads(zf.read(n)) if isinstance(m, dict)]
    return next(u for u in users if u["id"] == USER), msgs


def _needles(zip_path: Path) -> tuple[dict[str, bytes], list[bytes]]:
    """What must be gone: their user id, handle, real name and e-mail, and the texts only they wrote
    (long enough to be theirs alone: not contained in anybody else's message)."""
    user, msgs = _raw(zip_path)
    others = "\n".join(m.get("text") or "" for m in msgs if m.get("user") != USER)
    # the plain stretches of their messages (links and mentions are markup the reader rewrites)
    mine = {
        part.strip()
        for m in msgs
        if m.get("user") == USER and m.get("subtype") is None
        for part in re.split(r"<[^>]*>|&\w+;", m.get("text") or "")
    }
    texts = sorted(t.encode() for t in mine if len(t) >= 25 and t not in others)
    ids = {
        "user id": USER.encode(),
        "handle": user["name"].encode(),
        "real name": user["real_name"].encode(),
        "email": user["profile"]["email"].encode(),
    }
    return ids, texts


def _files_with(root: Path, needles: list[bytes]) -> dict[str, list[bytes]]:
    found: dict[str, list[bytes]] = {}
    for f in sorted(root.rglob("*")):
        if f.is_file():
            data = f.read_bytes()
            hits = [n for n in needles if n in data]
            if hits:
                found[str(f.relative_to(root))] = hits
    return found


def _store_values_with(store: Store, needles: list[str]) -> list[tuple[str, str]]:
    """Every (table, value) of the store, any column, whose text holds a needle (case-insensitive)."""
    low = [n.lower() for n in needles]
    out = []
    with store.engine.connect() as con:
        for t in Base.metadata.sorted_tables:
            for row in con.execute(select(t)):
                for v in row:
                    s = (v if isinstance(v, str) else json.dumps(v, default=str)).lower()
                    if any(n in s for n in low):
                        out.append((t.name, s[:80]))
    return out


def _pg_relation_files(store: Store) -> list[Path]:
    """The heap, TOAST and index files of the store's tables in a PostgreSQL data directory."""
    with store.engine.connect() as con:
        data_dir = Path(con.execute(text("SHOW data_directory")).scalar_one())
        rels = con.execute(
            text(
                "SELECT pg_relation_filepath(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname IN ('public', 'pg_toast') AND c.relkind IN ('r', 't', 'i') "
                "AND pg_relation_filepath(c.oid) IS NOT NULL"
            )
        ).scalars()
        return [data_dir / r for r in rels if (data_dir / r).exists()]


@pytest.fixture(scope="module")
def analysed(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The export ingested and analysed once; each test works on a copy."""
    path = tmp_path_factory.mktemp("hdv") / "ws"
    ws = covalue.init(path)
    ws.ingest([shared_data / HDV])
    ws.analyze()
    ws.close()
    return path


def _plant_store(store: Store, member_id: str, email: str, name: str) -> None:
    """What the web app would hold about them: an account with a session, a failed sign-in, a survey
    answer signed with their name, a canvas role, an experiment place, a story, an audit row."""
    with store.session() as db:
        admin = acc.add_user(db, "admin@example.org", "admin", password="Quiet-lantern-Orbit-58")
        user = acc.add_user(db, email, "member", password="Velvet-canyon-Drift-93", member_id=member_id)
        db.flush()
        db.add(
            WebSession(id="s" * 32, user_id=user.id, csrf="c" * 32, expires_at=utcnow() + timedelta(days=1))
        )
        db.add(LoginAttempt(email=email, ip="127.0.0.1", ok=False))
        r = SvResponse(
            community_id="houstondatavis", source="survey", name=name, need="More Shiny talks please"
        )
        db.add(r)
        db.flush()
        db.add(
            SvNeed(community_id="houstondatavis", text=r.need, origin="survey", voices=1, response_id=r.id)
        )
        db.add(SvResponse(community_id="houstondatavis", source="survey", name="Someone Else", need="Maps"))
        db.add(
            CcEntry(
                community_id="houstondatavis",
                period="2016-07",
                section="roles",
                kind="champion",
                member_id=member_id,
            )
        )
        db.add(
            CcEntry(
                community_id="houstondatavis", period="2016-07", section="goals", kind="goal", text="Grow"
            )
        )
        ex = CcExperiment(community_id="houstondatavis", title="Shiny workshop", owner=name)
        db.add(ex)
        db.flush()
        db.add(CcParticipant(experiment_id=ex.id, member_id=member_id, added_by="admin@example.org"))
        db.add(
            CcStory(
                community_id="houstondatavis",
                title="A shared app",
                immediate=f"{name} shared a Shiny app and others used it",
                members=[member_id, "m_somebodyelse0000000"],
            )
        )
        acc.audit(db, admin, "viewed member journey", community="houstondatavis", subject=member_id)


def test_forget_one_person_everywhere(
    analysed: Path, shared_data: Path, store: Store, tmp_path: Path
) -> None:
    root = tmp_path / "folder"
    shutil.copytree(analysed, root / "ws")
    path = root / "ws"
    ws = covalue.open(path)
    ids, texts = _needles(shared_data / HDV)
    assert len(texts) >= 30  # enough of their own words to make the check mean something

    # the needles are visible to a byte scan before: the scan can see what it looks for
    before_files = _files_with(path, [*ids.values(), *texts])
    seen = {n for hits in before_files.values() for n in hits}
    assert ids["user id"] in seen and ids["real name"] in seen and ids["email"] in seen
    assert len([t for t in texts if t in seen]) >= 0.9 * len(texts)

    p = resolve(ws, f"{SRC}:{USER}", store=store)
    member = min(p.member_ids)
    _plant_store(store, member, ids["email"].decode(), ids["real name"].decode())
    # an upload still on disk and a file someone saved in the folder, both naming them
    (path / "uploads" / "job1").mkdir(parents=True)
    shutil.copy(shared_data / HDV, path / "uploads" / "job1" / "export.zip")
    (path / "notes.csv").write_text(f"member,name\n{member},{ids['real name'].decode()}\nm_other,Someone\n")
    (path / "aliases.toml").write_text(
        f'[[person]]\naccounts = ["{SRC}:{USER}", "{ids["email"].decode()}"]\n\n'
        f'[[person]]\naccounts = ["{SRC}:U061A5N1G", "neeraj@example.org"]\n'
    )

    q = ws.raw.execute
    items_by = dict(q("SELECT author_id, count(*) FROM items GROUP BY 1").fetchall())
    actions_by = dict(q("SELECT actor_id, count(*) FROM actions GROUP BY 1").fetchall())
    kinds = dict(q("SELECT kind, count(*) FROM items GROUP BY 1").fetchall())
    verbs = dict(q("SELECT verb, count(*) FROM actions GROUP BY 1").fetchall())
    their_verbs = dict(
        q("SELECT verb, count(*) FROM actions WHERE actor_id = ? GROUP BY 1", [member]).fetchall()
    )
    aimed_at = q(
        "SELECT count(*) FROM actions WHERE target_id = ? AND actor_id <> ?", [member, member]
    ).fetchone()[0]
    n_members = q("SELECT count(*) FROM members").fetchone()[0]
    assert items_by[member] == 87 and aimed_at > 0

    p = resolve(ws, f"{SRC}:{USER}", store=store)  # now with their account
    assert p.user_ids and ids["email"].decode() in p.emails
    result = forget(ws, p, asked_by="the data protection officer", store=store)
    assert result.analysis == "re-run"
    assert result.files_deleted == ["uploads/job1/export.zip"]
    assert result.files_rewritten == ["aliases.toml", "notes.csv"]
    assert (path / "notes.csv").read_text() == "member,name\nm_other,Someone\n"
    aliases = tomllib.loads((path / "aliases.toml").read_text())
    assert aliases == {"person": [{"accounts": [f"{SRC}:U061A5N1G", "neeraj@example.org"]}]}

    # nothing of them in any byte of the workspace folder (database rewritten, files deleted) ...
    needles = [*ids.values(), *texts, member.encode()]
    assert _files_with(root, needles) == {}
    # ... nor in any value of the store, whichever database it is
    names = [v.decode() for v in ids.values()] + [member]
    assert _store_values_with(store, names) == []
    if store.engine.dialect.name == "postgresql":
        leaks = {
            str(f): h for f in _pg_relation_files(store) if (h := [n for n in needles if n in f.read_bytes()])
        }
        assert leaks == {}
    else:
        db_file = Path(store.engine.url.database)
        assert db_file.exists()
        assert _files_with(db_file.parent, needles) == {}  # the file, its WAL and shared memory

    # everybody else's contributions are as they were; theirs are gone; others' acts stay
    ws = covalue.open(path)
    q = ws.raw.execute
    after_items = dict(q("SELECT author_id, count(*) FROM items GROUP BY 1").fetchall())
    after_actions = dict(q("SELECT actor_id, count(*) FROM actions GROUP BY 1").fetchall())
    kept = after_items.pop(None, 0)
    assert after_items == {k: v for k, v in items_by.items() if k != member}
    assert after_actions == {k: v for k, v in actions_by.items() if k != member}
    assert dict(q("SELECT kind, count(*) FROM items GROUP BY 1").fetchall()) == {
        k: v - (87 - kept if k == "post" else 0) for k, v in kinds.items()
    }
    assert dict(q("SELECT verb, count(*) FROM actions GROUP BY 1").fetchall()) == {
        k: v - their_verbs.get(k, 0) for k, v in verbs.items() if v - their_verbs.get(k, 0)
    }
    assert q("SELECT count(*) FROM members").fetchone()[0] == n_members - 1
    assert q("SELECT count(*) FROM actions WHERE target_id = ?", [member]).fetchone()[0] == 0
    assert q("SELECT count(*) FROM items WHERE text LIKE ?", [f"%{FORMER_MEMBER}%"]).fetchone()[0] > 0
    assert q("SELECT count(*) FROM member_stages WHERE member_id = ?", [member]).fetchone()[0] == 0
    # the store kept what was not theirs
    with store.session() as db:
        assert [r.name for r in db.scalars(select(SvResponse))] == ["Someone Else"]
        assert db.scalars(select(SvNeed)).all() == []
        assert [e.kind for e in db.scalars(select(CcEntry))] == ["goal"]
        assert db.scalars(select(CcParticipant)).all() == []
        story = db.scalars(select(CcStory)).one()
        assert story.members == ["m_somebodyelse0000000"] and FORMER_MEMBER in story.immediate
        assert acc.find_user(db, "admin@example.org") is not None
        audit = [a for a in db.scalars(select(acc.AuditEvent)) if a.action == "person forgotten"]
        assert len(audit) == 1 and "the data protection officer" in (audit[0].detail or "")
    with pytest.raises(PersonNotFound):
        resolve(ws, f"{SRC}:{USER}", store=store)

    # the same zip again: nothing of them comes back, and the ingest says how much it skipped
    status = ws.status()
    again = ws.ingest([shared_data / HDV])[0]
    assert again.skipped == 87 + sum(their_verbs.values()) + 2  # items, actions, identity, member
    assert any("skipped" in m and "forgotten" in m for m in again.messages)
    assert ws.status()["tables"] == {**status["tables"], "ingests": status["tables"]["ingests"] + 1}
    ws.close()
    assert _files_with(root, needles) == {}


def test_subject_access_and_forget_need_a_known_person(analysed: Path, tmp_path: Path) -> None:
    shutil.copytree(analysed, tmp_path / "ws")
    ws = covalue.open(tmp_path / "ws")
    for spec in ("", "nobody@example.org", "U0NOTTHERE", "Member zz"):
        with pytest.raises(PersonNotFound):
            resolve(ws, spec)
    by_id = resolve(ws, f"{SRC}:{USER}")
    assert resolve(ws, USER).member_ids == by_id.member_ids
    assert resolve(ws, by_id.label).member_ids == by_id.member_ids
    assert resolve(ws, "rakeno@gmail.com").member_ids == by_id.member_ids  # via the keyed e-mail hash
    held = subject_access(ws, by_id)
    assert held["counts"]["workspace.items"] == 87
    assert Counter(r["kind"] for r in held["workspace_rows"]["items"]) == {"post": 87}
    ws.close()


def test_forget_on_the_command_line(analysed: Path, tmp_path: Path) -> None:
    path = tmp_path / "ws"
    shutil.copytree(analysed, path)
    run = CliRunner().invoke
    # asked to confirm, and told no: nothing changes
    r = run(app, ["forget", "U061A3E0G", "-w", str(path)], input="n\n")
    assert r.exit_code == 1
    ws = covalue.open(path)
    assert resolve(ws, "U061A3E0G").member_ids
    ws.close()
    r = run(app, ["forget", "U061A3E0G", "-w", str(path), "--yes", "--by", "dpo", "--json"])
    assert r.exit_code == 0, r.output
    done = json.loads(r.output)
    assert (
        done["asked_by"] == "dpo" and done["counts"]["items deleted"] == 106 and done["analysis"] == "re-run"
    )
    r = run(app, ["forget", "U061A3E0G", "-w", str(path), "--yes"])
    assert r.exit_code == 2 and "nobody" in r.output


def test_forget_reaches_the_workspaces_own_lake(shared_data: Path, tmp_path: Path) -> None:
    """With ``[analysis] lake`` set, the lake is exported again without the person and the Parquet of
    earlier Spark runs (which named them) is removed; a lake of another workspace is left alone."""
    import duckdb

    from covalue.lake import MANIFEST, export_parquet

    path = tmp_path / "ws"
    ws = covalue.init(path)
    ws.ingest([shared_data / HDV])
    (path / "covalue.toml").write_text(
        (path / "covalue.toml").read_text().replace("[analysis]\n", '[analysis]\nlake = "lake"\n', 1)
    )
    ws.close()
    ws = covalue.open(path)
    export_parquet(ws, path / "lake")
    old_run = path / "lake" / "derived" / "20250101T000000-abcdef"
    old_run.mkdir(parents=True)
    (old_run / MANIFEST).write_text("{}")
    p = resolve(ws, f"{SRC}:{USER}")
    (member,) = p.member_ids

    def in_lake() -> int:
        con = duckdb.connect()
        glob = lambda t: str(path / "lake" / t / "**" / "*.parquet")  # noqa: E731
        return con.execute(
            f"SELECT (SELECT count(*) FROM read_parquet('{glob('identities')}') WHERE member_id = $m) "
            f"+ (SELECT count(*) FROM read_parquet('{glob('items')}') WHERE author_id = $m) "
            f"+ (SELECT count(*) FROM read_parquet('{glob('actions')}') WHERE actor_id = $m)",
            {"m": member},
        ).fetchone()[0]

    assert in_lake() > 87
    result = forget(ws, p, asked_by="the data protection officer", reanalyse=False)
    assert result.counts["lake tables exported again"] == 6
    assert in_lake() == 0 and not old_run.exists()
    ws.close()


def test_a_lake_exported_before_a_forget_does_not_bring_the_person_back(
    shared_data: Path, tmp_path: Path
) -> None:
    from covalue.lake import export_parquet, import_parquet

    ws = covalue.init(tmp_path / "ws")
    ws.ingest([shared_data / HDV])
    export_parquet(ws, tmp_path / "old-lake")  # elsewhere: the workspace does not know this copy
    p = resolve(ws, f"{SRC}:{USER}")
    (member,) = p.member_ids
    items = ws.raw.execute("SELECT count(*) FROM items").fetchone()[0]
    forget(ws, p, asked_by="the data protection officer", reanalyse=False)
    ws = covalue.open(tmp_path / "ws")
    left = ws.raw.execute("SELECT count(*) FROM items").fetchone()[0]
    assert left < items - 80
    got = import_parquet(ws, tmp_path / "old-lake")
    q = ws.raw.execute
    assert q("SELECT count(*) FROM identities WHERE member_id = ?", [member]).fetchone() == (0,)
    assert q("SELECT count(*) FROM items WHERE author_id = ?", [member]).fetchone() == (0,)
    assert q(
        "SELECT count(*) FROM actions WHERE actor_id = ? OR target_id = ?", [member, member]
    ).fetchone() == (0,)
    assert got.skipped["items"] >= 87 and got.skipped["identities"] == 1
    ws.close()
