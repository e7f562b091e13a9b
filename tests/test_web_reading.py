"""Uploads are parsed in a child process (``covalue.web.reading``) and written by the server: the
workspace gets exactly what an ingest in one process gives, and a read stopped from outside (the
server stopping, the child killed) leaves none of the export and no process behind."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import covalue
from covalue import schema
from covalue.web.reading import ReadingProcesses, ReadingStopped

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "data" / "mini"


def _counts(ws: covalue.Workspace) -> dict[str, int]:
    return {
        t: int(ws.raw.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in schema.CONTENT_TABLES
    }


def _result(r: covalue.workspace.IngestResult) -> dict:
    d = r.to_dict()
    for k in ("ingest_id", "seconds"):
        d.pop(k, None)
    return d


@pytest.mark.parametrize(
    "export",
    [
        "discord/Makers Guild - Workshop - general [700].json",
        "mbox/makers-list.mbox",
        "slack/makers-guild",
        "zulip/makers-guild",
        "vivaengage/makers-network.zip",
        "tabular/guild-forum",
    ],
)
def test_a_child_reads_what_one_process_reads(tmp_path: Path, export: str) -> None:
    src = MINI / export
    up = tmp_path / "uploads"
    up.mkdir()
    path = up / src.name
    shutil.copytree(src, path) if src.is_dir() else shutil.copy(src, path)
    alone = covalue.init(tmp_path / "alone")
    apart = covalue.init(tmp_path / "apart")
    # one pseudonym key for both, so the rows can be compared id for id
    shutil.copy(alone.path / "secret.key", apart.path / "secret.key")
    try:
        [one] = alone.ingest([path])
        [two] = apart.ingest([path], open_reader=ReadingProcesses(apart.settings))
        assert sum(_counts(apart).values()) > 0
        assert _counts(apart) == _counts(alone)
        assert _result(two) == _result(one)  # reader, counts read and added, rejects, messages
        # and the very same rows, pseudonyms included
        for t in ("items", "members", "actions"):
            q = f'SELECT * FROM "{t}" ORDER BY ALL'
            assert apart.raw.execute(q).fetchall() == alone.raw.execute(q).fetchall(), t
    finally:
        alone.close()
        apart.close()
    assert [p.name for p in up.iterdir()] == [src.name]  # the child's scratch folder is gone


def test_a_file_no_reader_takes_fails_as_in_one_process(tmp_path: Path) -> None:
    path = tmp_path / "notes.bin"
    path.write_bytes(os.urandom(4096))
    alone = covalue.init(tmp_path / "alone")
    apart = covalue.init(tmp_path / "apart")
    try:
        [one] = alone.ingest([path])
        [two] = apart.ingest([path], open_reader=ReadingProcesses(apart.settings))
        assert two.status == one.status == "failed"
        assert _result(two) == _result(one)
    finally:
        alone.close()
        apart.close()


def _items_csv(path: Path, rows: int) -> None:
    with path.open("w") as fh:
        fh.write("item_id,space_id,author_id,created_at,kind,title,text,parent_id,thread_id\n")
        for i in range(1, rows + 1):
            fh.write(
                f"{i},space-{i % 7},m{i % 501:04d},2021-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00+00:00,"
                f"post,,some words about thing {i} and more words to make the row longer,,{i}\n"
            )


def test_a_read_stopped_from_outside_keeps_none_of_the_export(tmp_path: Path) -> None:
    """The server stops (or the child is killed) half-way through a CSV: the ingest is abandoned,
    not kept in part as after a reader's own error; the child and its scratch folder are gone."""
    up = tmp_path / "uploads"
    up.mkdir()
    path = up / "items.csv"
    _items_csv(path, 300_000)
    ws = covalue.init(tmp_path / "ws")
    ws.settings.ingest.batch_rows = 2_000
    reading = ReadingProcesses(ws.settings)
    seen: list[int] = []

    def progress(_label: str, done: int, total: int | None) -> None:
        seen.append(done)
        if total and done > total // 4 and reading._child is not None:
            reading.stop()

    try:
        with pytest.raises(ReadingStopped, match="reading stopped before the end of the file"):
            ws.ingest([path], progress=progress, open_reader=reading)
        assert seen and 0 < max(seen) < path.stat().st_size  # stopped well before the end
        assert sum(_counts(ws).values()) == 0
        [(status, message)] = ws.raw.execute("SELECT status, message FROM ingests").fetchall()
        assert status == "failed" and "nothing of it was kept" in message
        staged = ws.raw.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '_stage_%'"
        ).fetchone()[0]
        assert staged == 0
        # once stopped, nothing more is read: the next upload is refused the same way
        with pytest.raises(ReadingStopped, match="the server is stopping"):
            ws.ingest([path], open_reader=reading)
    finally:
        ws.close()
    child = reading._child
    assert child is not None and child.poll() is not None
    assert [p.name for p in up.iterdir()] == ["items.csv"]
