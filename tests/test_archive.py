"""Safe archive opening: path traversal, zip bombs, damaged archives (covalue.sources.archive)."""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
from pathlib import Path

import py7zr
import pytest

from covalue.sources.archive import Refused, ZipArchive, extract_7z, iter_tar, safe_name
from covalue.sources.base import ReaderError


@pytest.mark.parametrize("name", ["a.json", "general/2015-06-09.json", "./x/y.json", "a/./b"])
def test_safe_name_keeps_names_inside(name: str) -> None:
    assert ".." not in safe_name(name)
    assert not safe_name(name).startswith("/")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../evil.json", "climbs"),
        ("a/../../evil.json", "climbs"),
        ("..\\..\\evil.json", "climbs"),
        ("/etc/passwd", "absolute"),
        ("C:\\Windows\\x.json", "absolute"),
        ("c:x.json", "absolute"),
        ("\\\\server\\share\\x", "absolute"),
        ("ok\x00.json", "NUL"),
    ],
)
def test_safe_name_refuses_escapes(name: str, why: str) -> None:
    with pytest.raises(Refused) as exc:
        safe_name(name)
    assert why in exc.value.reason
    assert exc.value.name == name


def _zip(path: Path, entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return path


def test_zip_refuses_traversal_and_keeps_the_rest(tmp_path: Path) -> None:
    p = _zip(tmp_path / "t.zip", {"ok/a.json": b"[]", "../up.json": b"1", "/abs.json": b"2", "b.json": b"{}"})
    with ZipArchive(p) as arc:
        assert arc.names() == ["b.json", "ok/a.json"]
        assert arc.read("ok/a.json") == b"[]"
        assert sorted(r.name for r in arc.refused) == ["../up.json", "/abs.json"]
        assert all("refused" in r.reason for r in arc.refused)


def test_zip_bomb_by_ratio_is_refused(tmp_path: Path) -> None:
    zeros = b"\0" * (4 * 1024 * 1024)  # compresses about 1000 times
    p = _zip(tmp_path / "bomb.zip", {"zeros.bin": zeros, "small.json": b"[1]"})
    with ZipArchive(p, max_ratio=100) as arc:
        assert arc.names() == ["small.json"]
        assert len(arc.refused) == 1 and "zip bomb" in arc.refused[0].reason
    with ZipArchive(p) as arc:  # the default ratio (200) is also exceeded
        assert "zeros.bin" not in arc.names()
    with ZipArchive(p, max_ratio=10_000) as arc:  # a genuine, very compressible file can be allowed
        assert arc.read("zeros.bin") == zeros


def test_zip_over_total_limit_is_refused(tmp_path: Path) -> None:
    p = _zip(tmp_path / "big.zip", {"a.bin": b"x" * 600, "b.bin": b"y" * 600}, zipfile.ZIP_STORED)
    with ZipArchive(p, max_unpacked=1000) as arc:
        assert arc.names() == ["a.bin"]
        assert "more than 1,000 unpacked bytes" in arc.refused[0].reason


def _patch_central(data: bytes, *, compress_size: int | None = None, file_size: int | None = None) -> bytes:
    """Rewrite the sizes the central directory declares for the first entry."""
    i = data.index(b"PK\x01\x02")
    buf = bytearray(data)
    if compress_size is not None:
        buf[i + 20 : i + 24] = struct.pack("<I", compress_size)
    if file_size is not None:
        buf[i + 24 : i + 28] = struct.pack("<I", file_size)
    return bytes(buf)


def test_zip_declaring_zero_compressed_bytes_is_refused(tmp_path: Path) -> None:
    """A header claiming megabytes from zero compressed bytes has an infinite ratio: a bomb, not a pass."""
    p = _zip(tmp_path / "z.zip", {"a.bin": b"abc"}, zipfile.ZIP_STORED)
    p.write_bytes(_patch_central(p.read_bytes(), compress_size=0, file_size=50 * 1024 * 1024))
    with ZipArchive(p) as arc:
        assert arc.names() == []
        assert "zip bomb" in arc.refused[0].reason


def test_zip_entry_larger_than_declared_fails_to_read(tmp_path: Path) -> None:
    p = _zip(tmp_path / "lie.zip", {"a.json": b"[" + b"1," * 5000 + b"1]"})
    p.write_bytes(_patch_central(p.read_bytes(), file_size=10))
    with ZipArchive(p) as arc:
        assert arc.size("a.json") == 10
        with pytest.raises((Refused, zipfile.BadZipFile)):
            arc.read("a.json")


def test_not_a_zip_and_truncated_zip_raise_reader_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_text("this is not an archive")
    with pytest.raises(ReaderError, match="not a readable zip"):
        ZipArchive(junk)
    good = _zip(tmp_path / "good.zip", {f"d/{i}.json": b"[%d]" % i * 100 for i in range(20)})
    cut = tmp_path / "cut.zip"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ReaderError, match="is the download complete"):
        ZipArchive(cut)
    with pytest.raises(ReaderError):
        ZipArchive(tmp_path / "missing.zip")


def _tar(path: Path, entries: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_tar_streams_files_and_refuses_escapes(tmp_path: Path) -> None:
    p = _tar(tmp_path / "t.tar.gz", {"a/x.json": b"[1]", "../evil": b"e", "/abs": b"a", "b.json": b"{}"})
    seen = {}
    refused = []
    for name, stream, ref in iter_tar(p):
        if ref is None:
            seen[name] = stream.read()
        else:
            refused.append(ref.name)
    assert seen == {"a/x.json": b"[1]", "b.json": b"{}"}
    assert sorted(refused) == ["../evil", "/abs"]


def test_tar_total_limit_and_truncation(tmp_path: Path) -> None:
    p = _tar(tmp_path / "t.tar.gz", {"a": b"x" * 600, "b": b"y" * 600})
    out = [(n, ref is not None) for n, _s, ref in iter_tar(p, max_unpacked=1000)]
    assert out == [("a", False), ("b", True)]
    import os

    big = _tar(tmp_path / "big.tar.gz", {f"f{i}": os.urandom(20_000) for i in range(10)})
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(big.read_bytes()[: big.stat().st_size // 2])
    with pytest.raises(ReaderError, match="damaged or truncated") as exc:
        for _name, stream, _ref in iter_tar(cut):
            if stream is not None:
                stream.read()
    assert isinstance(exc.value, tarfile.ReadError)  # callers catching tarfile errors still catch it
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"nope" * 10)
    with pytest.raises(ReaderError):
        list(iter_tar(junk))


def test_7z_extracts_selected_names_within_limits(tmp_path: Path) -> None:
    p = tmp_path / "t.7z"
    with py7zr.SevenZipFile(p, "w") as arc:
        arc.writestr(b"<posts/>", "Posts.xml")
        arc.writestr(b"<users/>" * 10, "Users.xml")
    out, refused = extract_7z(p, tmp_path / "a", names=["Posts.xml"])
    assert [q.name for q in out] == ["Posts.xml"] and refused == []
    assert (tmp_path / "a" / "Posts.xml").read_bytes() == b"<posts/>"
    assert not (tmp_path / "a" / "Users.xml").exists()
    out, refused = extract_7z(p, tmp_path / "b", max_unpacked=20)
    assert [q.name for q in out] == ["Posts.xml"]
    assert [r.name for r in refused] == ["Users.xml"]
    cut = tmp_path / "cut.7z"
    cut.write_bytes(p.read_bytes()[:20])
    with pytest.raises(ReaderError):
        extract_7z(cut, tmp_path / "c")
