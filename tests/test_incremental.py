"""Incremental analysis: a workspace analysed, given one more month (or late replies), and analysed
again holds exactly the derived tables a full run on all of it gives, row for row."""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import covalue
from covalue import incremental, journey, synth
from covalue.update_check import add as _write
from covalue.update_check import check_tables
from covalue.update_check import differences as _differences
from covalue.update_check import split_at as _split
from covalue.update_check import updating_workspace as _updating


@pytest.fixture(scope="module")
def org() -> synth.SynthOrg:
    return synth.generate(seed=3)


def _incremental_vs_full(tmp: Path, tables: dict[str, pa.Table], cut: object) -> journey.AnalysisResult:
    early, late = _split(tables, cut)
    inc = _updating(tmp / "inc")
    _write(inc, early)
    first = journey.analyze(inc)
    assert first.mode.startswith("full")
    _write(inc, late)
    again = journey.analyze(inc)
    full = covalue.init(tmp / "full")
    _write(full, tables)
    journey.analyze(full)
    assert _differences(inc, full) == {}
    inc.close()
    full.close()
    return again


def _touched(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, bool]]:
    """What each update's ``touched_items`` returned (sizes, and whether chat messages were touched)."""
    seen: list[tuple[int, int, bool]] = []
    real = incremental.touched_items

    def spy(*args: object, **kwargs: object) -> tuple[int, int, bool]:
        seen.append(real(*args, **kwargs))  # type: ignore[arg-type]
        return seen[-1]

    monkeypatch.setattr(incremental, "touched_items", spy)
    return seen


def test_one_more_month_equals_a_full_run(
    tmp_path: Path, org: synth.SynthOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    last = synth.month_starts("2025-01")[-2]
    touched = _touched(monkeypatch)
    run = _incremental_vs_full(tmp_path, org.tables, last)
    assert run.mode.startswith("incremental"), run.mode
    # a forum's threads: no chat message touched, so no chat step ran and no stored edge was read back
    assert [t[2] for t in touched] == [False]
    # only the threads of the last month were recomputed, not every item
    touched = int(re.match(r"incremental: ([\d,]+) items", run.mode).group(1).replace(",", ""))
    assert 0 < touched < org.tables["items"].num_rows / 3


def test_three_more_months_with_replies_to_old_threads(tmp_path: Path, org: synth.SynthOrg) -> None:
    """Three months arrive at once; their replies, answers and votes reach threads of the history
    (questions now answered, ideas now supported), which change the older months too."""
    run = _incremental_vs_full(tmp_path, org.tables, synth.month_starts("2025-01")[-4])
    assert run.mode.startswith("incremental")


def test_uploads_cut_mid_month_each_update_like_a_full_run(tmp_path: Path, org: synth.SynthOrg) -> None:
    """Exports taken on any day, one after another: each upload ends mid-month, so the next one adds
    rows to a month already analysed, and each update builds on the rows the one before kept."""
    cuts = [datetime(2025, 8, 17, 14), datetime(2025, 10, 1), datetime(2025, 11, 20, 8)]
    got = check_tables(org.tables, cuts, tmp_path)
    assert [u.cut for u in got] == cuts
    assert all(u.mode.startswith("incremental") for u in got), [u.mode for u in got]
    assert [u.differences for u in got] == [{}, {}, {}]


def test_the_check_finds_an_update_that_differs(
    tmp_path: Path, org: synth.SynthOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An update that leaves out the new rows of one table is caught, table by table."""
    real = incremental._replace

    def loses_stage_mix(raw: Any, table: str, where: str, new: str, aid: str) -> int:
        if table == "stage_mix":  # the old rows go, the new ones never come
            raw.execute(f'CREATE OR REPLACE TEMP TABLE _inc_lost AS SELECT * FROM "{new}" LIMIT 0')
            new = "_inc_lost"
        return real(raw, table, where, new, aid)

    monkeypatch.setattr(incremental, "_replace", loses_stage_mix)
    (u,) = check_tables(org.tables, [datetime(2025, 12, 1)], tmp_path)
    assert u.mode.startswith("incremental") and set(u.differences) == {"stage_mix"}
    assert u.differences["stage_mix"][0] == 0 < u.differences["stage_mix"][1]


def test_late_replies_and_votes_in_old_months(tmp_path: Path, org: synth.SynthOrg) -> None:
    """Every fifth reply and every fifth vote or reaction of two months in the middle of the history
    arrive only with the last month, dated as they were: old questions get their answers late, old
    ideas their supporters, and the months in between must be revisited."""
    starts = synth.month_starts("2025-01")
    lo, hi = pa.scalar(starts[4], pa.timestamp("us")), pa.scalar(starts[6], pa.timestamp("us"))

    def held(tbl: pa.Table, col: str, which: pa.ChunkedArray) -> pa.Array:
        in_middle = pc.and_(pc.greater_equal(tbl[col], lo), pc.less(tbl[col], hi))
        every_fifth = pa.array(np.arange(tbl.num_rows) % 5 == 0)
        return pc.fill_null(pc.and_(pc.and_(in_middle, which), every_fifth), False)

    items, actions = org.tables["items"], org.tables["actions"]
    late_items = held(items, "created_at", pc.is_valid(items["parent_id"]))
    late_actions = held(actions, "ts", pc.is_in(actions["verb"], pa.array(["react", "vote"])))
    last = pa.scalar(starts[-2], pa.timestamp("us"))
    early = dict(org.tables)
    late = {}
    for name, tbl, col, extra in (
        ("items", items, "created_at", late_items),
        ("actions", actions, "ts", late_actions),
    ):
        later = pc.or_(pc.fill_null(pc.greater_equal(tbl[col], last), False), extra)
        early[name], late[name] = tbl.filter(pc.invert(later)), tbl.filter(later)
    inc = _updating(tmp_path / "inc")
    _write(inc, early)
    journey.analyze(inc)
    _write(inc, late)
    run = journey.analyze(inc)
    assert run.mode.startswith("incremental"), run.mode
    full = covalue.init(tmp_path / "full")
    _write(full, org.tables)
    journey.analyze(full)
    assert _differences(inc, full) == {}


def test_a_tag_on_an_older_thread_reaches_back_to_its_month(tmp_path: Path, org: synth.SynthOrg) -> None:
    """A thread opened the month before the upload is tagged `feature-request` in the new month: the
    opener becomes an idea by structure, so the update recomputes the periods from the opener's own
    month, not only from the new one, and equals a full run."""
    starts = synth.month_starts("2025-01")
    new, before = starts[-2], starts[-3]
    items = org.tables["items"]
    openers = items.filter(
        pc.and_(
            pc.and_(pc.equal(items["community_id"], "healthy"), pc.is_null(items["parent_id"])),
            pc.and_(
                pc.greater_equal(items["created_at"], pa.scalar(before, pa.timestamp("us"))),
                pc.less(items["created_at"], pa.scalar(new, pa.timestamp("us"))),
            ),
        )
    )
    openers = openers.filter(pc.invert(pc.equal(openers["space_id"], "synth:healthy:ideas")))
    opener = openers.slice(0, 1).to_pylist()[0]
    space = {
        "space_id": "synth:healthy:tag:feature-request", "source": "synth:healthy",
        "name": "feature-request", "kind": "tag", "community_id": "healthy",
    }  # fmt: skip
    actions = org.tables["actions"]
    tag = {c: None for c in actions.schema.names} | {
        "action_id": "synth:healthy:late-tag", "source": "synth:healthy", "space_id": space["space_id"],
        "community_id": "healthy", "ts": new + timedelta(days=3), "actor_id": opener["author_id"],
        "verb": "system", "item_id": opener["item_id"], "target_id": opener["author_id"], "detail": "tag",
    }  # fmt: skip
    spaces = org.tables["spaces"]
    tables = dict(
        org.tables,
        spaces=pa.concat_tables([spaces, pa.Table.from_pylist([space], spaces.schema)]),
        actions=pa.concat_tables([actions, pa.Table.from_pylist([tag], actions.schema)]),
    )
    run = _incremental_vs_full(tmp_path, tables, new)
    assert run.mode.startswith("incremental"), run.mode
    assert f"periods from {before:%Y-%m}" in run.mode, run.mode


def test_a_real_export_split_by_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """houstondatavis Slack: the last two months arrive as a second export."""
    src = (
        Path(__file__).resolve().parents[1].parent
        / "shared"
        / "data"
        / "slack"
        / "houstondatavis-slack-export.zip"
    )
    if not src.exists():
        pytest.skip("the shared Slack export is not here")
    whole = covalue.init(tmp_path / "whole")
    whole.ingest([src])
    tables = {
        t: whole.table(t).to_pyarrow()
        for t in ("communities", "spaces", "members", "identities", "items", "actions")
    }
    hi = pc.max(tables["items"]["created_at"]).as_py()
    cut = hi.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    cut = cut.replace(month=cut.month - 1) if cut.month > 1 else cut.replace(year=cut.year - 1, month=12)
    touched = _touched(monkeypatch)
    run = _incremental_vs_full(tmp_path, tables, cut)
    assert run.mode.startswith("incremental"), run.mode
    assert [t[2] for t in touched] == [True]  # Slack messages: the chat steps ran


def test_a_model_or_code_change_runs_in_full(
    tmp_path: Path, org: synth.SynthOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new model, or a release that computes the derived tables otherwise (or keeps other columns
    in them), starts again from the canonical rows rather than mixing with what the last run kept."""
    from covalue import changes

    ws = covalue.init(tmp_path / "ws")
    _write(ws, org.tables)
    journey.analyze(ws)
    assert journey.analyze(ws).mode.startswith("incremental")
    toml = ws.path / "covalue.toml"
    toml.write_text(toml.read_text() + "\n[model.maturity.stages]\nmin_interactions = 3\n")
    ws = covalue.open(ws.path)
    assert journey.analyze(ws).mode.startswith("full")
    assert journey.analyze(ws, full=True).mode == "full: asked for"
    monkeypatch.setattr(changes, "_code", lambda: "another release")
    assert (
        journey.analyze(ws).mode
        == "full: the models, the settings, the experiments or the analysis code changed"
    )
    assert journey.analyze(ws).mode.startswith("incremental")
    ws.close()


def test_a_large_upload_into_a_small_workspace_runs_in_full(tmp_path: Path) -> None:
    """When most items are new, reading every thread they touch costs more than a full run (and held
    more than a 1 GB server's memory on a Discord archive): the run is full and says why."""
    mini = Path(__file__).parent / "data" / "mini"
    ws = covalue.init(tmp_path / "ws")
    ws.ingest([mini / "stackexchange" / "crafts.stackexchange.com"])
    journey.analyze(ws)
    ws.ingest([mini / "discord", mini / "zulip" / "makers-guild"])
    run = journey.analyze(ws)
    n = ws.raw.execute("SELECT count(*) FROM items").fetchone()[0]
    new = n - 131  # the Stack Exchange mini export's items
    assert run.mode == f"full: {new:,} of {n:,} items are new", run.mode
    ws.close()
    shutil.copytree(tmp_path / "ws", tmp_path / "again")
    ws, again = covalue.open(tmp_path / "ws"), covalue.open(tmp_path / "again")
    journey.analyze(again, full=True)
    assert _differences(ws, again) == {}


def test_a_small_workspace_runs_in_full_after_an_upload(tmp_path: Path, org: synth.SynthOrg) -> None:
    """Below ``update_from_actions`` actions a full run from the kept SQL is as quick as an update:
    the run after a one-month upload is full, says why, and gives what an update gives."""
    starts = synth.month_starts("2025-01")
    early, late = _split(org.tables, starts[-2])
    ws, inc = covalue.init(tmp_path / "ws"), _updating(tmp_path / "inc")
    for w in (ws, inc):
        _write(w, early)
        journey.analyze(w)
        _write(w, late)
    run = journey.analyze(ws)
    n = ws.raw.execute("SELECT count(*) FROM actions").fetchone()[0]
    assert n < ws.settings.analysis.update_from_actions
    assert run.mode == f"full: {n:,} actions, fewer than the 1,000,000 from which an update is quicker"
    assert journey.analyze(inc).mode.startswith("incremental")
    assert _differences(ws, inc) == {}


def _chat_tables(messages: list[tuple[str, str, str, str | None, str]]) -> dict[str, pa.Table]:
    """A Discord channel of ``messages`` (id, author, time, replied-to id, text) as canonical tables:
    an explicit reply is in its root's thread, every other message is a thread of its own."""
    from covalue import schema

    src, space, comm = "discord:cafe", "discord:cafe:general", "cafe"
    root: dict[str, str] = {}
    items = []
    for mid, who, at, to, text in messages:
        root[mid] = root[to] if to else mid
        items.append(
            {
                "item_id": mid, "source": src, "space_id": space, "community_id": comm,
                "thread_id": root[mid], "parent_id": to, "author_id": who,
                "created_at": datetime.fromisoformat(at), "kind": "reply" if to else "post",
                "text": text, "n_words": len(text.split()),
            }
        )  # fmt: skip
    people = sorted({m[1] for m in messages})
    rows = {
        "communities": [{"community_id": comm, "name": comm}],
        "spaces": [{"space_id": space, "source": src, "name": "general", "kind": "channel", "community_id": comm}],
        "members": [{"member_id": p, "source": src, "is_bot": False} for p in people],
        "identities": [{"identity_id": p, "member_id": p, "source": src, "native_id": p, "is_bot": False} for p in people],
        "items": items,
        "actions": [],
    }  # fmt: skip
    return {t: pa.Table.from_pylist(r, schema=schema.TABLES[t][0]) for t, r in rows.items()}


def test_an_old_chat_message_keeps_its_inferred_reply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reply in the new month to an old message brings that message's whole thread into the update,
    but not a message that only timing made a reply to it (another thread of its own, no new row near
    it). The first reply to the old question is still that inferred one, as in a full run."""
    q = "does anybody know which wallet version is the latest?"
    tables = _chat_tables(
        [
            ("x", "ann", "2019-10-30 21:43:00", None, q),
            ("y", "bob", "2019-10-30 21:44:00", None, "https://example.org/releases"),
            ("z", "bob", "2019-10-30 21:44:00.000001", "x", "see the wallet page"),
            ("w", "ann", "2019-10-30 21:45:00", "z", "thank you, mine says 0.5.9"),
            ("n", "cy", "2019-11-02 10:00:00", "w", "0.6.1 is out since yesterday"),
        ]
    )
    touched = _touched(monkeypatch)
    run = _incremental_vs_full(tmp_path, tables, datetime(2019, 11, 1))
    assert run.mode.startswith("incremental"), run.mode
    assert touched == [(4, 5, True)]  # x, z, w and n recomputed; y only read
    with covalue.open(tmp_path / "inc") as ws:
        got = ws.raw.execute(
            "SELECT first_reply_ts, first_reply_inferred FROM item_facts WHERE item_id = 'x'"
        ).fetchall()
    assert got == [(datetime(2019, 10, 30, 21, 44), True)]


def test_an_upload_analysed_in_one_transaction_updates_like_a_full_run(
    tmp_path: Path, org: synth.SynthOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The web app analyses an upload inside one transaction (journey.in_one_transaction), so that its
    pages see all of the new tables or none. An update runs inside it, without a transaction of its own,
    and a failure while it writes leaves every derived table as it was."""
    early, late = _split(org.tables, synth.month_starts("2025-01")[-2])
    inc = _updating(tmp_path / "inc")
    _write(inc, early)
    journey.analyze(inc)
    _write(inc, late)
    before = {
        t: inc.raw.execute(f'SELECT count(*), max(analysis_id) FROM "{t}"').fetchone()
        for t in journey.DERIVED
    }
    real = incremental._replace

    def fails_on_interactions(raw: object, table: str, *args: object) -> int:
        if table == "interactions":
            raise RuntimeError("the disk filled up")
        return real(raw, table, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(incremental, "_replace", fails_on_interactions)
    with pytest.raises(RuntimeError, match="the disk filled up"):
        journey.in_one_transaction(inc, lambda: journey.analyze(inc))
    after = {
        t: inc.raw.execute(f'SELECT count(*), max(analysis_id) FROM "{t}"').fetchone()
        for t in journey.DERIVED
    }
    assert after == before  # analysis_people and item_roles were replaced before the failure: rolled back
    monkeypatch.setattr(incremental, "_replace", real)
    run = journey.in_one_transaction(inc, lambda: journey.analyze(inc))
    assert run.mode.startswith("incremental"), run.mode
    full = covalue.init(tmp_path / "full")
    _write(full, org.tables)
    journey.analyze(full)
    assert _differences(inc, full) == {}


def test_an_update_out_of_memory_in_a_transaction_runs_again_on_one_thread(
    tmp_path: Path, org: synth.SynthOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Running out of memory aborts the caller's transaction with it: the update does not fall back
    to a full run there (nothing more can run in that transaction) but hands the failure to
    in_one_transaction, which rolls back and runs the analysis again on one thread."""
    import duckdb

    from covalue import compiled

    early, late = _split(org.tables, synth.month_starts("2025-01")[-2])
    inc = _updating(tmp_path / "inc")
    _write(inc, early)
    journey.analyze(inc)
    _write(inc, late)
    real, threads = incremental.update, []

    def tight(ws: covalue.Workspace, *args: object, **kwargs: object) -> bool:
        threads.append(compiled.threads(ws.raw))
        if threads[-1] > 1:
            ws.raw.execute("SELECT 1")  # the transaction is still usable here, as after a real failure
            raise duckdb.OutOfMemoryException("could not allocate block of size 256 KiB")
        return real(ws, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(incremental, "update", tight)
    told: list[str] = []
    run = journey.in_one_transaction(inc, lambda: journey.analyze(inc), again=lambda: told.append("again"))
    assert threads[0] > 1 and threads[-1] == 1 and told == ["again"]
    assert run.mode.startswith("incremental"), run.mode


def test_the_update_check_script_on_exports(tmp_path: Path) -> None:
    """scripts/update_check.py on the in-repo Slack and Discord exports, cut twice: one line per upload,
    the same as a full run, and a folder that holds something is refused."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    mini = root / "tests" / "data" / "mini"
    cmd = [
        sys.executable,
        str(root / "scripts" / "update_check.py"),
        str(mini / "slack"),
        str(mini / "discord"),
    ]
    cuts = ["--cut", "2025-03-20", "--cut", "2025-04-20T12:00"]
    done = subprocess.run([*cmd, *cuts], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.endswith("same as a full run") for line in lines), lines
    assert lines[1].startswith("upload from 2025-04-20 12:00: incremental:"), lines
    (tmp_path / "kept.txt").write_text("mine")
    refused = subprocess.run(
        [*cmd, *cuts, "--work", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2 and "is not empty" in refused.stderr
