"""The forget log's filter on planted batches: rows of a forgotten account are dropped and counted,
an account of theirs met for the first time is recognised by its e-mail hash, others' actions lose
only the pointer at them, and their handle in others' new texts is replaced."""

from __future__ import annotations

import pyarrow as pa

from covalue import identity, schema
from covalue.rights import FORMER_MEMBER
from covalue.rights.forget_log import SkipList, key

SECRET = b"k" * 32


def _batch(table: str, rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema.TABLES[table][0])


def test_forgotten_rows_are_skipped_and_counted() -> None:
    gone = identity.identity_id(SECRET, "slack:x", "U1")
    other = identity.identity_id(SECRET, "slack:x", "U2")
    new_account = identity.identity_id(SECRET, "mail:list", "jane@example.org")
    mail_hash = identity.email_hash(SECRET, "jane@example.org")
    skip = SkipList(
        SECRET,
        keys={
            "account": {key(SECRET, "account", gone)},
            "email": {key(SECRET, "email", mail_hash)},
            "name": {key(SECRET, "name", "jane")},
        },
    )
    ids = skip.filter(
        "identities",
        _batch(
            "identities",
            [
                {"identity_id": gone, "member_id": gone, "source": "slack:x", "native_id": "U1"},
                {"identity_id": other, "member_id": other, "source": "slack:x", "native_id": "U2"},
                {
                    "identity_id": new_account,
                    "member_id": new_account,
                    "source": "mail:list",
                    "email_hash": mail_hash,
                },
            ],
        ),
    )
    assert ids["identity_id"].to_pylist() == [other]
    items = skip.filter(
        "items",
        _batch(
            "items",
            [
                {"item_id": "a", "author_id": gone, "text": "mine"},
                {"item_id": "b", "author_id": new_account, "text": "mine too"},
                {"item_id": "c", "author_id": other, "text": "thanks @Jane and @janet, mail me@x.org"},
            ],
        ),
    )
    assert items["item_id"].to_pylist() == ["c"]
    assert items["text"].to_pylist() == [f"thanks @{FORMER_MEMBER} and @janet, mail me@x.org"]
    acts = skip.filter(
        "actions",
        _batch(
            "actions",
            [
                {"action_id": "1", "actor_id": gone, "verb": "react", "target_id": other},
                {"action_id": "2", "actor_id": other, "verb": "react", "target_id": gone},
                {"action_id": "3", "actor_id": other, "verb": "react", "target_id": other},
            ],
        ),
    )
    assert acts["action_id"].to_pylist() == ["2", "3"]
    assert acts["target_id"].to_pylist() == [None, other]
    assert skip.skipped == {"identities": 2, "items": 2, "actions": 1}
    assert "skipped 5 records of 2 forgotten accounts" in (skip.message() or "")


def test_an_empty_log_passes_batches_through_untouched() -> None:
    skip = SkipList(SECRET)
    b = _batch("items", [{"item_id": "a", "author_id": "m_1", "text": "@jane hi"}])
    assert skip.filter("items", b) is b and skip.message() is None
