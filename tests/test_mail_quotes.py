"""Quoted text in mail replies: a reply that quotes a question is an answer, not a question, and its
length is its own; the stored body stays whole; the engine and Python strip the same text."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import ibis
import pytest

import covalue
from covalue import models
from covalue.metrics.classify import classify_items, clean_text
from covalue.quoting import ANY_MARK, own_text, strip_quoted

ROLES = models.load("roles")
QUESTION = "How do I fix the build when configure fails with a missing zlib header?\nIt stops at line 40."
ANSWER = "Install the zlib development package first, then run configure again; you should see it pass."

#: the same answer as mail clients send it, each quoting the question its own way
QUOTED = {
    "none": ANSWER,
    "gmail": f"{ANSWER}\n\nOn Mon, Jan 1, 2024 at 10:00 AM Ann Lee <ann@example.com> wrote:\n\n"
    + "\n".join("> " + ln for ln in QUESTION.splitlines()),
    "wrapped attribution": f"{ANSWER}\n\nOn Mon, 1 Jan 2024 at 10:00, Ann Lee via Dev List <\n"
    "dev@lists.example.org> wrote:\n" + "\n".join(">" + ln for ln in QUESTION.splitlines()),
    "interleaved": "Ann Lee <ann@example.com> writes:\n\n> How do I fix the build when configure fails"
    f" with a missing zlib header?\n\n{ANSWER}\n\n> It stops at line 40.",
    "french": f"{ANSWER}\n\nLe lun. 1 janv. 2024 à 10:00, Ann Lee <ann@example.com> a écrit\xa0:\n"
    + "\n".join("> " + ln for ln in QUESTION.splitlines()),
    "outlook separator": f"{ANSWER}\n\n-----Original Message-----\nFrom: Ann Lee\nSent: Monday\n\n{QUESTION}",
    "outlook header block": f"{ANSWER}\n\n________________________________\nFrom: Ann Lee <ann@example.com>\n"
    f"Sent: Monday, January 1, 2024 10:00 AM\nTo: dev@lists.example.org\nSubject: Build fails\n\n{QUESTION}",
    # an HTML-only reply as Gmail writes it: the quote is a <blockquote>, its lines get "> " as text
    "gmail html": f'<div dir="ltr">{ANSWER}<br></div><br><div class="gmail_quote"><div class="gmail_attr">'
    "On Mon, Jan 1, 2024 at 10:00 AM Ann Lee &lt;ann@example.com&gt; wrote:<br></div>"
    f'<blockquote class="gmail_quote">{"<br>".join(QUESTION.splitlines())}</blockquote></div>',
    "signature then quote": f"{ANSWER}\n-- \nBob Ray, build team\nHow do I reach you? Call me.\n\n{QUESTION}",
}


def _mail(n: int, sender: str, body: str, reply: bool) -> str:
    html = body.lstrip().startswith("<")
    lines = [
        f"From {sender}  Mon Jan  {n} 10:00:00 2024",
        f"From: {sender}",
        f"Date: {format_datetime(datetime(2024, 1, n, 10, tzinfo=UTC))}",
        f"Subject: {'Re: ' if reply else ''}Build fails",
        f"Message-ID: <q{n}@example.org>",
        f"Content-Type: text/{'html' if html else 'plain'}; charset=utf-8",
    ]
    if reply:
        lines.append("In-Reply-To: <q1@example.org>")
    # mbox escaping of body lines that start like an envelope line
    safe = "\n".join(">" + ln if ln.startswith("From ") else ln for ln in body.splitlines())
    return "\n".join(lines) + "\n\n" + safe + "\n\n"


def _roles(tmp_path: Path, style: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(roles, items) by native message id for a question and one reply quoting it in ``style``."""
    f = tmp_path / style.replace(" ", "-") / "dev.mbox"
    f.parent.mkdir()
    f.write_text(
        _mail(1, "Ann Lee <ann@example.com>", QUESTION, False)
        + _mail(2, "bob@example.net", QUOTED[style], True)
    )
    ws = covalue.init(f.parent / "ws")
    try:
        ws.ingest([f])
        ids = ws.table("identities")
        authors = ids.select("identity_id", "member_id", "is_bot")
        roles = classify_items(ws.table("items"), authors, ROLES).to_pyarrow().to_pylist()
        items = ws.table("items").to_pyarrow().to_pylist()
    finally:
        ws.close()
    key = lambda r: r["item_id"].split(":")[-1].split("@")[0]  # noqa: E731
    return {key(r): r for r in roles}, {key(r): r for r in items}


@pytest.fixture(scope="module")
def plain(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    return _roles(tmp_path_factory.mktemp("plain"), "none")


@pytest.mark.parametrize("style", [s for s in QUOTED if s != "none"])
def test_a_reply_quoting_a_question_has_the_roles_of_the_same_reply_without_the_quote(
    tmp_path: Path, plain: Any, style: str
) -> None:
    base_roles, base_items = plain
    roles, items = _roles(tmp_path, style)
    fields = ("is_question", "is_answer", "role")
    # without the quote: the question is a question, the reply answers it
    assert base_roles["q1"]["is_question"] and base_roles["q1"]["role"] == "question"
    assert not base_roles["q2"]["is_question"] and base_roles["q2"]["is_answer"]
    assert base_roles["q2"]["answers_item"] == base_roles["q1"]["item_id"]
    # with it: the same roles, the same question answered
    for n in ("q1", "q2"):
        assert {k: roles[n][k] for k in fields} == {k: base_roles[n][k] for k in fields}, (style, n)
    assert roles["q2"]["answers_item"] == roles["q1"]["item_id"]
    # the reply's length is its own words (and the subject's), its stored body is whole
    assert items["q2"]["n_words"] == base_items["q2"]["n_words"] == 18
    assert "zlib header" in items["q2"]["text"] and items["q2"]["text"] != base_items["q2"]["text"]


def test_own_text_keeps_what_is_not_quoted() -> None:
    assert own_text(QUOTED["gmail"]) == ANSWER
    assert own_text(QUOTED["interleaved"]) == ANSWER
    # words that merely look like the rules stay
    kept = "On Monday I wrote: the fix is in.\nUse --flag or -- not at all.\nSent: from my phone is fine."
    assert own_text(kept) == kept
    assert own_text(None) == "" and own_text("> only a quote") == ""


def test_the_engine_strips_what_python_strips() -> None:
    texts = [*QUOTED.values(), "a\n--\nsig", "x\r\n> q\r\ny", "Le 2 mai, Jo a écrit :\n> q\nréponse"]
    t = ibis.memtable({"i": list(range(len(texts))), "text": texts})
    got = t.select("i", s=strip_quoted(t.text.lower())).order_by("i").to_pyarrow().to_pylist()
    assert [r["s"].strip() for r in got] == [own_text(x.lower()) for x in texts]
    # the engine skips texts without any mark a rule needs: every text a rule changes has one
    assert all(re.search(ANY_MARK, x.lower()) for x in texts if own_text(x.lower()) != x.lower().strip())
    cleaned = t.select("i", c=clean_text(t.text)).order_by("i").to_pyarrow().to_pylist()
    assert "zlib header" not in cleaned[1]["c"] and "install the zlib" in cleaned[1]["c"]


@pytest.mark.spark
def test_spark_strips_what_duckdb_strips(spark) -> None:
    """The rules are Java regular expressions too: Spark gives the same own text."""
    texts = [*QUOTED.values(), "a\n--\nsig", "x\r\n> q\r\ny", "Le 2 mai, Jo a écrit :\n> q\nréponse"]
    con = ibis.pyspark.connect(spark)
    t = con.create_table(
        "quoted_texts",
        ibis.memtable({"i": list(range(len(texts))), "text": texts}).to_pyarrow(),
        overwrite=True,
    )
    got = t.select("i", s=strip_quoted(t.text.lower())).order_by("i").to_pyarrow().to_pylist()
    assert [r["s"].strip() for r in got] == [own_text(x.lower()) for x in texts]


def test_a_long_line_costs_one_pass() -> None:
    """A 200 kB line that starts like an attribution and is full of digits (a pasted log) is read in
    linear time: with a backtracking search for the wrapped attribution it took minutes."""
    import time

    text = "On " + "1 " * 100_000 + "\nthe next line wrote nothing"
    started = time.perf_counter()
    assert own_text(text) == text
    assert time.perf_counter() - started < 3.0
