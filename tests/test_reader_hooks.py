"""The hooks the Reader base class gives reader authors: detect split into a file and a folder judgement,
and end-of-run counts said in one form. Needs nothing outside the repository."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pyarrow as pa

from covalue.sources.base import Reader, Sink
from covalue.sources.zulip import ZulipReader


class _Judge(Reader):
    name: ClassVar[str] = "judge"

    @classmethod
    def detect_file(cls, path: Path) -> float:
        return 0.7 if path.suffix == ".judge" else 0.1

    @classmethod
    def detect_folder(cls, path: Path) -> float:
        return 0.4


def test_detect_sends_files_and_folders_to_their_own_hook(tmp_path: Path) -> None:
    export = tmp_path / "a.judge"
    export.write_text("x")
    other = tmp_path / "b.txt"
    other.write_text("x")
    assert _Judge.detect(export) == 0.7
    assert _Judge.detect(other) == 0.1
    assert _Judge.detect(tmp_path) == 0.4
    assert _Judge.detect(tmp_path / "missing") == 0.0
    assert Reader.detect(tmp_path) == Reader.detect(export) == 0.0  # the base claims nothing


def test_a_platform_reader_judges_a_folder_by_its_layout(tmp_path: Path) -> None:
    (tmp_path / "stream_index.json").write_text("{}")
    assert ZulipReader.detect(tmp_path) == 0.95
    assert ZulipReader.detect(tmp_path / "stream_index.json") == 0.0  # a lone JSON file is no archive


def test_counts_are_said_only_when_not_zero() -> None:
    sink = Sink(secret=b"k" * 32, ingest_id="i", emit=lambda _t, _tbl: None)
    sink.warn_counts(
        "judge", (3, "records had no date"), (0, "records were empty"), (1, "file was cut short")
    )
    assert sink.messages == ["judge: 3 records had no date", "judge: 1 file was cut short"]


def test_rejects_of_a_source_and_of_no_source_are_the_same_row() -> None:
    emitted: dict[str, pa.Table] = {}
    sink = Sink(secret=b"k" * 32, ingest_id="i", emit=emitted.__setitem__)
    src = sink.source("judge", "one")
    src.reject("f.judge:3", "no date", "sent by ann@example.org")
    sink.reject("judge:one", "f.judge:3", "no date", "sent by ann@example.org")
    sink.flush()
    a, b = emitted["rejects"].to_pylist()
    assert a == b and a["excerpt"] == "sent by [email]"
