"""Retention: `covalue prune` deletes uploads past ``keep_uploads_days`` and erases texts written more
than ``keep_raw_text_days`` ago, keeping every derived measure; the analysis and the report still work
afterwards, and the report states the retention in force."""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

import covalue
from covalue import journey
from covalue.cli import app
from covalue.report import build
from covalue.rights.retention import policy, prune, seconds_until_next

HDV = "slack/houstondatavis-slack-export.zip"


def _with_retention(path: Path, uploads: int, texts: int) -> None:
    toml = path / "covalue.toml"
    toml.write_text(
        toml.read_text().replace(
            "[privacy]\n", f"[privacy]\nkeep_uploads_days = {uploads}\nkeep_raw_text_days = {texts}\n", 1
        )
    )


def _upload(path: Path, job: str, src: Path, age_days: float) -> Path:
    f = path / "uploads" / job / src.name
    f.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, f)
    t = time.time() - age_days * 86400
    os.utime(f, (t, t))
    return f


def test_prune_removes_old_uploads_and_texts_and_keeps_measures(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "ws"
    ws = covalue.init(path)
    assert ws.ingest([shared_data / HDV])[0].status == "ok"
    ws.analyze()
    # the export ends in July 2016: keep texts for as many days as lie between 2 July 2016 and now
    now = datetime.now(UTC).replace(tzinfo=None)
    days = (now - datetime(2016, 7, 2)).days
    cut = now - timedelta(days=days)
    _with_retention(path, uploads=7, texts=days)
    ws.close()
    ws = covalue.open(path)
    old = _upload(path, "job-old", shared_data / HDV, age_days=8)
    new = _upload(path, "job-new", shared_data / HDV, age_days=6)
    q = ws.raw.execute
    to_erase = q("SELECT count(*) FROM items WHERE text IS NOT NULL AND created_at < ?", [cut]).fetchone()[0]
    to_keep = q("SELECT count(*) FROM items WHERE text IS NOT NULL AND created_at >= ?", [cut]).fetchone()[0]
    assert to_erase > 500 and to_keep > 10
    gone_text = q(
        "SELECT text FROM items WHERE created_at < ? AND length(text) > 60 ORDER BY item_id LIMIT 1", [cut]
    ).fetchone()[0]
    measures = q("SELECT sum(n_words), sum(n_links), count(*) FROM items").fetchone()
    stages = sorted(q("SELECT member_id, period, stage FROM member_stages").fetchall())
    roles = sorted(q("SELECT item_id, role FROM item_roles").fetchall())
    erased_ids = {
        i
        for (i,) in q("SELECT item_id FROM items WHERE text IS NOT NULL AND created_at < ?", [cut]).fetchall()
    }
    uploads_limit_ago = time.time() - 7 * 86400
    assert old.stat().st_mtime < uploads_limit_ago < new.stat().st_mtime

    result = prune(ws, now=now)
    ws = covalue.open(path)
    q = ws.raw.execute
    assert result.uploads_deleted == ["uploads/job-old/" + old.name]
    assert not old.exists() and new.exists() and not old.parent.exists()
    assert result.texts_erased == to_erase
    assert q("SELECT count(*) FROM items WHERE text IS NOT NULL").fetchone()[0] == to_keep
    assert gone_text.encode() not in (path / "covalue.duckdb").read_bytes()  # rewritten, not just freed
    # what was measured stays: words and links per item, every derived row
    assert q("SELECT sum(n_words), sum(n_links), count(*) FROM items").fetchone() == measures
    assert sorted(q("SELECT member_id, period, stage FROM member_stages").fetchall()) == stages

    # the report and a new analysis still work, and the report says how long data is kept
    out = tmp_path / "report.html"
    build(ws, out)
    html = out.read_text()
    assert "uploaded exports are deleted after 7 days" in html
    assert f"message texts are erased {days} days after they were written" in html
    run = journey.analyze(ws)
    assert run.mode.startswith("full")  # erased texts are a change the analysis reads in full
    # the erased texts keep the roles they earned, so nobody's stage moves because words were deleted
    q = ws.raw.execute
    assert sorted(q("SELECT member_id, period, stage FROM member_stages").fetchall()) == stages
    assert sorted(q("SELECT item_id, role FROM item_roles").fetchall()) == roles
    ws.close()

    # new rules score every text still held again, and keep what the erased ones earned
    toml = path / "covalue.toml"
    toml.write_text(toml.read_text() + "\n[model.roles.roles.question]\nthreshold = 9.0\n")
    ws = covalue.open(path)
    journey.analyze(ws)
    q = ws.raw.execute
    frozen_not_used = (
        "SELECT count(*) FROM (SELECT * EXCLUDE (rules) FROM erased_text_scores "
        "EXCEPT SELECT * EXCLUDE (rules) FROM item_text_scores)"
    )
    assert q(frozen_not_used).fetchone() == (0,)
    assert q("SELECT count(*) FROM erased_text_scores").fetchone() == (to_erase,)
    erased_questions = q(
        "SELECT count(*) FROM item_roles r JOIN items i USING (item_id) "
        "WHERE i.text IS NULL AND i.created_at < ? AND r.role = 'question'",
        [cut],
    ).fetchone()[0]
    assert erased_questions == sum(1 for i, role in roles if role == "question" and i in erased_ids)
    ws.close()

    # pruning again finds nothing more to do
    ws = covalue.open(path)
    again = prune(ws, now=now)
    assert again.uploads_deleted == [] and again.texts_erased == 0
    ws.close()


def test_prune_without_limits_keeps_everything_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "ws"
    ws = covalue.init(path)
    ws.append(
        "items",
        [
            {
                "item_id": "x:1",
                "source": "x",
                "author_id": "m_1",
                "created_at": datetime(2001, 1, 1),
                "kind": "post",
                "text": "old words",
            }
        ],
    )
    f = path / "uploads" / "j" / "e.zip"
    f.parent.mkdir(parents=True)
    f.write_bytes(b"PK")
    os.utime(f, (0, 0))
    res = prune(ws)
    assert res.uploads_deleted == [] and res.texts_erased == 0 and f.exists()
    assert ws.raw.execute("SELECT text FROM items").fetchone()[0] == "old words"
    assert policy(ws.settings) == (
        "Retention: uploaded exports are deleted once read; message texts are kept without a time limit."
    )
    ws.close()
    r = CliRunner().invoke(app, ["prune", "-w", str(path), "--json"])
    assert r.exit_code == 0 and '"texts_erased": 0' in r.output


def test_the_daily_prune_waits_until_the_next_night() -> None:
    base = datetime(2026, 1, 5, 12, 0, tzinfo=UTC).timestamp()
    assert seconds_until_next(base, hour=3) == 15 * 3600
    assert seconds_until_next(base - 10 * 3600, hour=3) == 1 * 3600


def test_keep_text_off_erases_every_text_and_keeps_every_role(crafts_and_makers: covalue.Workspace) -> None:
    ws = crafts_and_makers
    path = ws.path
    ws.analyze()
    q = ws.raw.execute
    held = q("SELECT count(*) FROM items WHERE text IS NOT NULL").fetchone()[0]
    roles = sorted(q("SELECT item_id, role FROM item_roles").fetchall())
    stages = sorted(q("SELECT member_id, period, stage FROM member_stages").fetchall())
    assert held > 20 and {r for _, r in roles} >= {"question", "answer"}
    ws.close()
    toml = path / "covalue.toml"
    toml.write_text(toml.read_text().replace("keep_text = true", "keep_text = false", 1))
    ws = covalue.open(path)
    assert "message texts are erased once classified" in policy(ws.settings)
    assert prune(ws).texts_erased == held
    ws = covalue.open(path)
    q = ws.raw.execute
    assert q("SELECT count(*) FROM items WHERE text IS NOT NULL").fetchone() == (0,)
    journey.analyze(ws)
    assert sorted(q("SELECT item_id, role FROM item_roles").fetchall()) == roles
    assert sorted(q("SELECT member_id, period, stage FROM member_stages").fetchall()) == stages
    ws.close()
