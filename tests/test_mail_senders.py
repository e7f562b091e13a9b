"""Mailing lists that rewrite From (DMARC mitigation in Mailman 3, groups.io, Google Groups): every
person behind the list's address stays their own member, and the ingest and `status` say how many
senders were recovered."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from covalue.cli import app
from covalue.sources.mailmessage import original_sender

LIST = "dev@lists.example.org"
LIST_HEADERS = {"List-Id": "Dev List <dev.lists.example.org>", "List-Post": f"<mailto:{LIST}>"}


def _message(n: int, sender: str, **headers: str) -> str:
    """One message of the list; ``headers`` use underscores for dashes."""
    lines = [
        f"From bounce@lists.example.org  Mon Jan  {n} 10:00:00 2024",
        f"From: {sender}",
        f"Date: {format_datetime(datetime(2024, 1, n, 10, tzinfo=UTC))}",
        f"Subject: {'Re: ' if n > 1 else ''}Build fails",
        f"Message-ID: <m{n}@example.org>",
    ]
    if n > 1:
        lines.append("In-Reply-To: <m1@example.org>")
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return "\n".join(lines) + f"\n\nmessage {n}\n\n"


def rewriting_list_mbox() -> bytes:
    """A Mailman 3 / groups.io list with DMARC mitigation: the list's address in From for most people."""
    via = f'"{{}} via Dev List" <{LIST}>'
    lst = dict(LIST_HEADERS)
    return "".join(
        [
            # Reply-To holds the person (Mailman 3 "munge From")
            _message(1, via.format("Ann Lee"), Reply_To="Ann Lee <ann@example.com>", **lst),
            # Reply-To holds the list too: the person is the address that is not the list's
            _message(2, via.format("Bob Ray"), Reply_To=f"{LIST}, Bob Ray <bob@example.net>", **lst),
            # X-Original-From wins over a Reply-To that only names the list
            _message(
                3, via.format("Cat Kim"), X_Original_From="Cat Kim <cat@example.org>", Reply_To=LIST, **lst
            ),
            # only the name before " via ": two such people never merge
            _message(4, via.format("Dan Fox"), **lst),
            _message(5, via.format("Eve Moss"), **lst),
            _message(6, via.format("Dan Fox"), **lst),
            # a person whose domain does not ask for rewriting: From is theirs
            _message(7, "Fay Wong <fay@example.com>", **lst),
            # Ann again, this time not rewritten: still Ann
            _message(8, "Ann Lee <ann@example.com>", **lst),
            # groups.io: From is the service's no-reply address, List-Post is the group's
            _message(
                9,
                '"Gus Hale via groups.io" <noreply@groups.io>',
                X_Original_From='"Gus Hale" <gus@example.com>',
                List_Id="<dev.groups.io>",
                List_Post="<mailto:dev@groups.io>",
            ),
            # the list writing on its own behalf (no person anywhere): the list stays the sender
            _message(10, f"Dev List <{LIST}>", **lst),
        ]
    ).encode()


def _authors(ws: Any) -> dict[str, str]:
    """Item native number -> member id of its author."""
    rows = ws.raw.execute(
        "SELECT i.item_id, d.member_id FROM items i JOIN identities d ON i.author_id = d.identity_id"
    ).fetchall()
    return {item.split(":")[-1].split("@")[0]: member for item, member in rows}


def test_every_person_behind_a_rewriting_list_is_their_own_member(ws: Any, tmp_path: Path) -> None:
    f = tmp_path / "dev.mbox"
    f.write_bytes(rewriting_list_mbox())
    [res] = ws.ingest([f])
    assert res.reader == "mbox" and res.read["items"] == 10 and res.rejects == 0
    by = _authors(ws)
    # Ann (twice, once rewritten), Bob, Cat, Dan (twice), Eve, Fay, Gus and the list itself: 8 people
    assert len(set(by.values())) == 8
    assert by["m1"] == by["m8"] and by["m4"] == by["m6"]
    assert len({by[m] for m in ("m1", "m2", "m3", "m4", "m5", "m7", "m9", "m10")}) == 8
    names = dict(ws.raw.execute("SELECT native_id, display_name FROM identities").fetchall())
    assert names == {
        "ann@example.com": "Ann Lee",
        "bob@example.net": "Bob Ray",
        "cat@example.org": "Cat Kim",
        "via:dev.lists.example.org:dan fox": "Dan Fox",
        "via:dev.lists.example.org:eve moss": "Eve Moss",
        "fay@example.com": "Fay Wong",
        "gus@example.com": "Gus Hale",
        LIST: "Dev List",
    }
    # Ann, Bob, Cat, Dan, Eve and Gus were recovered; Fay and the list were not
    assert res.senders_recovered == 6
    assert any("6 senders were recovered" in m for m in res.messages)
    st = ws.status()
    [src] = st["sources"]
    assert st["sources"][src]["senders_recovered"] == 6 and st["sources"][src]["members"] == 8
    # the list's List-Id names the community, not the file
    assert [c["name"] for c in st["communities"].values()] == ["Dev List"]
    # reading the same export again recovers the same six people, not twelve
    [again] = ws.ingest([f])
    assert again.senders_recovered == 6 and again.added["items"] == 0
    assert ws.status()["sources"][src]["senders_recovered"] == 6


def test_status_command_says_how_many_senders_were_recovered(tmp_path: Path) -> None:
    f = tmp_path / "dev.mbox"
    f.write_bytes(rewriting_list_mbox())
    runner = CliRunner()
    w = str(tmp_path / "ws")
    out = runner.invoke(app, ["ingest", str(f), "--workspace", w])
    assert out.exit_code == 0, out.output
    assert "6 senders were recovered from X-Original-From, Reply-To" in " ".join(out.output.split())
    out = runner.invoke(app, ["status", "--workspace", w])
    assert out.exit_code == 0 and "6 of them recovered" in " ".join(out.output.split())


def test_original_sender_rules() -> None:
    lst = {"list-id": "<dev.lists.example.org>", "list-post": f"<mailto:{LIST}>"}
    # the list's own address without a via name, recognised from List-Id alone
    assert original_sender({"list-id": lst["list-id"], "reply-to": "z@example.org"}, LIST, "Dev") == (
        "z@example.org",
        None,
        "z@example.org",
    )
    # a person's own From is never replaced, whatever Reply-To says
    assert original_sender({**lst, "reply-to": "other@example.org"}, "me@example.org", "Me") is None
    # Google Groups quotes the name
    assert original_sender({}, "group@googlegroups.com", "'Jo Park' via group") == (
        "via:group@googlegroups.com:jo park",
        "Jo Park",
        None,
    )


def test_perceval_mail_items_recover_senders_too(ws: Any, tmp_path: Path) -> None:
    """Perceval's mbox / groups.io items carry the same headers: the same people come out."""
    import json

    def item(n: int, sender: str, **headers: str) -> dict[str, Any]:
        data = {
            "From": sender,
            "Message-ID": f"<p{n}@example.org>",
            "Date": f"Mon, {n} Jan 2024 10:00:00 +0000",
            "Subject": "Build fails",
            "body": {"plain": f"message {n}"},
            **{k.replace("_", "-"): v for k, v in headers.items()},
            **LIST_HEADERS,
        }
        return {
            "backend_name": "MBox",
            "origin": "https://lists.example.org/dev",
            "category": "message",
            "data": data,
        }

    via = f'"{{}} via Dev List" <{LIST}>'
    items = [
        item(1, via.format("Ann Lee"), Reply_To="Ann Lee <ann@example.com>"),
        item(2, via.format("Bob Ray"), X_Original_From="Bob Ray <bob@example.net>"),
        item(3, via.format("Dan Fox")),
        item(4, via.format("Eve Moss")),
        item(5, "Fay Wong <fay@example.com>"),
    ]
    f = tmp_path / "perceval.json"
    f.write_text("\n".join(json.dumps(i) for i in items))
    [res] = ws.ingest([f], source="perceval")
    assert res.read["items"] == 5 and res.senders_recovered == 4
    natives = {n for (n,) in ws.raw.execute("SELECT native_id FROM identities").fetchall()}
    assert natives == {
        "ann@example.com",
        "bob@example.net",
        "via:dev.lists.example.org:dan fox",
        "via:dev.lists.example.org:eve moss",
        "fay@example.com",
    }
