"""Mailing-list reader: every Perceval mail capture (mbox edge cases, pipermail, HyperKitty, groups.io),
synthetic threads, charsets, maildir, damaged archives, and property tests of the mbox splitter."""

from __future__ import annotations

import gzip
import hashlib
import mailbox
import zipfile
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from covalue import testing
from covalue.sources.mailmessage import normalise_subject, parse_from
from covalue.sources.mbox import MailReader, MboxSplitter

MAIL_DIRS = ("mbox", "pipermail", "hyperkitty", "groupsio")


def collect(path: Path) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    got = testing.collect(MailReader(), path)
    return got.tables, got.messages


def count_messages(path: Path, tmp_path: Path) -> int | None:
    """Messages in a mail file counted with Python's own mailbox module; None for files that are not mail."""
    if path.suffix == ".zip":
        n = 0
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                target = tmp_path / Path(name).name
                target.write_bytes(z.read(name))
                n += len(mailbox.mbox(target, create=False))
        return n
    if path.suffix in (".mbox", ".txt"):
        return len(mailbox.mbox(path, create=False))
    return None


def _duplicates(messages: list[str]) -> int:
    return sum(int(m.split()[1]) for m in messages if "more than once" in m)


@pytest.mark.parametrize("folder", MAIL_DIRS)
def test_every_perceval_mail_file_alone(shared_data: Path, tmp_path: Path, folder: str) -> None:
    files = sorted(p for p in (shared_data / "perceval" / folder).iterdir() if p.is_file())
    mail_files = 0
    for f in files:
        expected = count_messages(f, tmp_path)
        if expected is None:  # index pages, groups.io API JSON: not mail
            assert MailReader.detect(f) == 0.0, f.name
            continue
        mail_files += 1
        rows, messages = collect(f)
        got = len(rows["items"]) + len(rows["rejects"]) + _duplicates(messages)
        assert got == expected, f.name
        if expected:
            assert MailReader.detect(f) > 0.5, f.name
        assert all(r["reason"] in ("message has no Date header",) for r in rows["rejects"]), f.name
    assert mail_files > 0


def test_edge_cases_file(shared_data: Path) -> None:
    rows, messages = collect(shared_data / "perceval" / "mbox" / "mbox_no_fields.mbox")
    # 6 messages: one repeats the first's Message-ID, two have no usable Date, one has an empty Message-Id
    assert len(rows["items"]) == 3
    assert sorted(r["location"] for r in rows["rejects"]) == [
        "mbox_no_fields.mbox:message 3 (byte 656)",
        "mbox_no_fields.mbox:message 5 (byte 1244)",
    ]
    assert _duplicates(messages) == 1
    names = {i["display_name"] for i in rows["identities"]}
    assert names == {"Göran Lastname"}
    assert {i["native_id"] for i in rows["identities"]} == {"goran@domain.com"}


def test_headers_and_charsets(shared_data: Path) -> None:
    rows, _ = collect(shared_data / "perceval" / "mbox" / "mbox_iso8859_encoding.mbox")
    [who] = rows["identities"]
    assert who["native_id"] == "lucíacharlie@wellsfargo.com" and who["display_name"] == "Lucía Charlie"
    assert who["email_hash"] is not None
    [item] = rows["items"]
    assert item["title"] == "[ovs-dev] Remittance Advice"
    rows, _ = collect(shared_data / "perceval" / "mbox" / "mbox_multipart.mbox")
    assert {i["space_id"].split(":list:")[1] for i in rows["items"]} >= {"esl-dev.eclipse.org"}
    # multipart/alternative: the text/plain part is read, the HTML one is neither text nor attachment
    assert all(i["n_attachments"] == 0 for i in rows["items"])
    assert all(i["text"] and "<meta" not in i["text"].lower() for i in rows["items"])


def test_groupsio_folder_reads_mail_only(shared_data: Path, ws: Any) -> None:
    folder = shared_data / "perceval" / "groupsio"
    assert MailReader.detect(folder / "login") == 0.0
    assert MailReader.detect(folder / "subscriptions_page_1") == 0.0
    [res] = ws.ingest([folder], source="mbox")
    assert res.read["items"] == 49 and res.rejects == 0
    assert any("login" in m and "not mail" in m for m in res.messages)
    [again] = ws.ingest([folder], source="mbox")
    assert again.added["items"] == 0


def test_pipermail_threads_across_months(shared_data: Path) -> None:
    rows, messages = collect(shared_data / "perceval" / "pipermail")
    assert len(rows["items"]) == 8 and rows["rejects"] == []
    assert any("index" in m for m in messages)
    by_id = {i["item_id"]: i for i in rows["items"]}
    replies = [i for i in by_id.values() if i["kind"] == "reply"]
    assert replies and all(r["parent_id"] for r in replies)
    assert all("@" in i["native_id"] and " at " not in i["native_id"] for i in rows["identities"])


def _msg(mid: str, subject: str, sender: str, day: int, body: str = "text", **headers: str) -> bytes:
    from datetime import UTC, datetime

    lines = [
        f"From {sender}  Mon Jan  {day} 10:00:00 2024",
        f"From: {sender}",
        f"Date: {format_datetime(datetime(2024, 1, day, 10, tzinfo=UTC))}",
        f"Subject: {subject}",
        f"Message-ID: <{mid}>",
    ]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\n".join(lines) + "\n\n" + body + "\n\n").encode()


def _thread_mbox() -> bytes:
    return b"".join(
        [
            _msg("a@x", "[dev] Build fails", "ann@x.org", 1, "From the start, it fails.\n>From here too."),
            _msg(
                "b@x",
                "Re: [dev] Build fails",
                "Bob <bob@x.org>",
                2,
                In_Reply_To="<a@x>",
                List_Id="Dev <dev.x.org>",
            ),
            _msg("c@x", "Re: [dev] Build fails", "ann@x.org", 3, References="<a@x> <b@x>"),
            _msg("d@x", "RE: [dev]  build   fails", "carl@x.org", 4),  # no headers: subject fallback
            _msg("e@x", "Other topic", "carl@x.org", 5),
            _msg("f@x", "Re: never seen", "carl@x.org", 6),  # a reply whose root is not here: a post
        ]
    )


def test_threads(tmp_path: Path) -> None:
    f = tmp_path / "dev.mbox"
    f.write_bytes(_thread_mbox())
    rows, _ = collect(f)
    items = {i["item_id"].split(":", 2)[2]: i for i in rows["items"]}
    assert {k: v["kind"] for k, v in items.items()} == {
        "a@x": "post",
        "b@x": "reply",
        "c@x": "reply",
        "d@x": "reply",
        "e@x": "post",
        "f@x": "post",
    }
    assert items["b@x"]["parent_id"].endswith(":a@x") and items["c@x"]["parent_id"].endswith(":b@x")
    assert {items[f"{k}@x"]["thread_id"].split(":", 2)[2] for k in "abcd"} == {"a@x"}
    assert items["b@x"]["space_id"].endswith(":list:dev.x.org")
    assert items["a@x"]["space_id"].endswith(":list:dev")  # no List-Id: the file's name
    assert items["a@x"]["text"] == "From the start, it fails.\nFrom here too."  # '>From' unescaped
    assert len(rows["identities"]) == 3


def test_gzip_truncated_gzip_and_maildir(tmp_path: Path) -> None:
    data = _thread_mbox()
    gz = tmp_path / "dev.mbox.gz"
    gz.write_bytes(gzip.compress(data))
    rows, _ = collect(gz)
    assert len(rows["items"]) == 6
    cut = tmp_path / "2024-January.txt.gz"
    noise = [" ".join(hashlib.sha256(f"{i}.{j}".encode()).hexdigest() for j in range(30)) for i in range(40)]
    big = b"".join(_msg(f"m{i}@x", f"s{i}", "ann@x.org", 1 + i % 9, noise[i]) for i in range(40))
    cut.write_bytes(gzip.compress(big)[:20000])
    rows, _ = collect(cut)
    assert 0 < len(rows["items"]) < 40
    [rej] = rows["rejects"]
    assert "truncated" in rej["reason"] and rej["location"].startswith("2024-January.txt.gz:message")
    md = tmp_path / "maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    for i, raw in enumerate(list(MboxSplitter(data.splitlines(keepends=True)))[:3]):
        # maildir files are single messages without the envelope line
        (md / "cur" / f"{1700000000 + i}.M{i}.host:2,S").write_bytes(raw.data)
    (md / "tmp" / "1700000009.M9.host").write_bytes(
        b"From: half@x.org\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n"
    )
    assert MailReader.detect(md) > 0.5
    rows, _ = collect(md)
    assert len(rows["items"]) == 3 and rows["rejects"] == []


def test_attachments_and_html_only(tmp_path: Path) -> None:
    msg = (
        b"From a@b Mon Jan  1 10:00:00 2024\nFrom: a@b.org\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n"
        b"Message-ID: <m1@b>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n"
        b"--XX\nContent-Type: text/html; charset=utf-8\n\n<p>See <a href='https://x.org'>this</a></p>\n"
        b"--XX\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=a.pdf\n"
        b"Content-Transfer-Encoding: base64\n\nJVBERi0=\n"
        b"--XX\nContent-Type: image/png; name=b.png\nContent-Transfer-Encoding: base64\n\niVBORw==\n--XX--\n"
    )
    f = tmp_path / "att.mbox"
    f.write_bytes(msg)
    rows, _ = collect(f)
    [item] = rows["items"]
    assert item["text"] == "See this (https://x.org)" and item["n_links"] == 1 and item["n_attachments"] == 2


def test_bad_messages_and_bad_zip(tmp_path: Path) -> None:
    bad = (
        b"From x@y Mon Jan  1 10:00:00 2024\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nSubject: no sender\n\nhi\n\n"
        b"From x@y Mon Jan  1 10:00:00 2024\nFrom: a@b.org\nDate: someday\nSubject: bad date\n\nhi\n\n"
        b"From x@y Mon Jan  1 10:00:00 2024\nFrom: a@b.org\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n"
        b"Content-Type: text/plain; charset=x-klingon\nSubject: =?utf-8?q?caf=E9?=\n\ncaf\xe9 cr\xe8me\n"
    )
    f = tmp_path / "bad.mbox"
    f.write_bytes(bad)
    rows, messages = collect(f)
    reasons = sorted(r["reason"] for r in rows["rejects"])
    assert reasons == ["Date header cannot be read: 'someday'", "message has no From header"]
    [item] = rows["items"]
    assert item["text"] == "café crème" and item["title"] == "café"
    assert any("charset" in m for m in messages)
    z = tmp_path / "messages.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("messages.mbox", _thread_mbox())
        zf.writestr("../escape.mbox", _thread_mbox())
    rows, _ = collect(z)
    assert len(rows["items"]) == 6
    assert any("traversal" in r["reason"] for r in rows["rejects"])
    notzip = tmp_path / "broken.zip"
    notzip.write_bytes(b"PK\x03\x04" + b"\x00" * 50)
    assert MailReader.detect(notzip) == 0.0


def test_subject_and_address_helpers() -> None:
    assert normalise_subject("Re: AW: [dev] Fwd:  Hello   World") == "hello world"
    assert parse_from("jane at example.org (Jane Doe)") == ("jane@example.org", "Jane Doe")
    assert parse_from("=?utf-8?q?J=C3=BCrgen?= <J@Example.org>") == ("j@example.org", "Jürgen")
    assert parse_from("undisclosed") == (None, "undisclosed")


def test_splitter_pieces_and_size_limit() -> None:
    import io

    from covalue.sources import mbox as mbox_module

    head = b"From a@b Mon Jan  1 10:00:00 2024\nFrom: a@b.org\n\n"
    # a line longer than one read piece whose continuation starts like an envelope line: not a split
    long_line = b"x" * (mbox_module._PIECE - 1) + b"From c@d Mon Jan  1 10:00:00 2024 still the same line\n"
    data = head + long_line + b"\n" + head + b"short\n"
    split = list(MboxSplitter(io.BytesIO(data)))
    assert len(split) == 2 and split[0].data.endswith(b"still the same line\n\n")
    assert [m.oversized for m in MboxSplitter(io.BytesIO(data), max_bytes=1000)] == [True, False]


_line = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=60)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    bodies=st.lists(
        st.lists(
            st.one_of(
                _line, st.just("From me to you"), st.just(">From x"), st.just("From the 10:00 meeting")
            ),
            max_size=8,
        ),
        max_size=6,
    )
)
def test_splitter_round_trip(bodies: list[list[str]]) -> None:
    chunks = []
    for i, body in enumerate(bodies):
        escaped = [">" + ln if ln.startswith(("From ", ">From ")) else ln for ln in body]
        chunks.append(f"From a{i}@x Mon Jan  1 10:00:0{i} 2024\nSubject: {i}\n\n" + "\n".join(escaped) + "\n")
    data = "\n".join(chunks).encode()
    split = list(MboxSplitter(data.splitlines(keepends=True)))
    assert [m.index for m in split] == list(range(1, len(bodies) + 1))
    for m, body in zip(split, bodies, strict=True):
        text = m.data.decode()
        assert text.split("\n\n", 1)[1].rstrip("\n") == "\n".join(body).rstrip("\n")


@settings(max_examples=150, deadline=None)
@given(raw=st.binary(max_size=400), header=st.text(max_size=80))
def test_any_bytes_give_rows_or_rejects(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes, header: str
) -> None:
    parse_from(header)  # never raises
    f = tmp_path_factory.mktemp("h") / "x.mbox"
    f.write_bytes(b"From a@b Mon Jan  1 10:00:00 2024\n" + raw)
    rows, _ = collect(f)
    assert len(rows["items"]) + len(rows["rejects"]) >= 1
