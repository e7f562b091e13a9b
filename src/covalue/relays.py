"""Relayed messages: people who write through a bridge account.

A chat bridged to other networks (matterbridge and the like: Telegram, IRC, Matrix, another Discord or
Slack) has one account post what each person wrote elsewhere, every message opening with the network
and the writer's nick: ``[telegram] <alice> any news on the listing?``. Read as it comes, that account is
one member who wrote a quarter of everything, answered thousands of questions and asked thousands more,
while the people behind it are missing from every count.

After each ingest, :func:`apply` finds such accounts in the workspace — most of an account's messages
open so, naming at least :data:`MIN_NICKS` different people — and gives each relayed message to its
writer: one identity per relay account, network and nick (pseudonymous like every other, the nick as its
display name). The prefix leaves the text, so a report never shows the nick. Reactions aimed at the relay
on such a message go to the writer, and mentions made in it are the writer's. The relay itself becomes a
bot. A relay found once stays one (table ``relay_accounts``), so later uploads of the same chat are read
the same way. People who asked to be forgotten stay forgotten, whoever relayed them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from covalue import changes, identity
from covalue.presentation import plural
from covalue.sources.base import text_stats

if TYPE_CHECKING:
    from covalue.rights.forget_log import SkipList

TABLE = "relay_accounts"
#: how a writer behind a relay is named: ``relay:<relay account>:<network>:<nick>``
WRITER = "relay:"
#: ``[network] <nick>`` opening a message, then a space or nothing (a relayed picture has no text);
#: no colon in the network, so a pasted log line such as ``[12:01] <bob> hi`` is not one; a nick up to
#: 128 characters (a Telegram name is a first and a last name of up to 64 each)
PREFIX = r"^\[([A-Za-z0-9][A-Za-z0-9 ._-]{0,29})\] <([^<>\n]{1,128})>(?:\s+|$)"
#: an account is a relay when at least this share of its messages are relayed ...
MIN_SHARE = 0.5
#: ... for at least this many different nicks (a person quoting a chat log now and then is not one)
MIN_NICKS = 3


@dataclass
class Relayed:
    """What :func:`apply` did: relay accounts found (new ones), writers identified, messages given to
    their writers, and messages of forgotten people left out."""

    relays: int = 0
    new_relays: int = 0
    #: accounts of a webhook that posted under several names, now counted as the people they name
    webhook_writers: int = 0
    writers: int = 0
    messages: int = 0
    forgotten: int = 0
    #: rows this added to the workspace's tables (the writers' identities and members)
    added: dict[str, int] = field(default_factory=lambda: {"identities": 0, "members": 0})

    def message(self) -> str | None:
        hooks = (
            f"{self.webhook_writers:,} names a webhook posted under (a bridge relaying each person under "
            "their own name) count as people, not as a bot"
            if self.webhook_writers
            else ""
        )
        if not self.messages:
            return hooks or None
        text = (
            f"{self.messages:,} messages posted by {plural(self.relays, 'relay account')} (a bridge from another "
            "network, each message opening with the network and the nick of its writer) were given to the "
            f"{self.writers:,} people who wrote them; the relay accounts count as bots"
        )
        if self.forgotten:
            text += f"; {self.forgotten:,} of them, by people who asked to be forgotten, were left out"
        return f"{text}; {hooks}" if hooks else text


def _ensure(raw: Any) -> None:
    raw.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (identity_id VARCHAR, source VARCHAR, found_at TIMESTAMP)"
    )


#: a relayed writer may be a bridge in turn ("[x] <bridge> [y] <alice> hi"): rounds of :func:`apply`
NESTING = 3


def apply(raw: Any, secret: bytes, skip: SkipList | None = None, sources: list[str] | None = None) -> Relayed:
    """Find relay accounts and give their relayed messages to the people who wrote them (see the
    module), bridges behind bridges too. Runs after each ingest, in its transaction, over the
    ``sources`` it read (None: every source); a source without relayed messages costs one scan of its
    messages that open with ``[``."""
    out = Relayed()
    _ensure(raw)
    out.webhook_writers = _webhook_writers(raw)
    writers: set[str] = set()
    where = "TRUE" if sources is None else "i.source IN (SELECT unnest(?))"
    params = [] if sources is None else [list(sources)]
    raw.execute("CREATE OR REPLACE TEMP TABLE _relay_moved (item_id VARCHAR)")
    for _ in range(NESTING):
        step = _apply_once(raw, secret, skip, writers, where, params)
        out.relays, out.new_relays = step.relays, out.new_relays + step.new_relays
        out.forgotten += step.forgotten
        for t, n in step.added.items():
            out.added[t] += n
        if not step.messages:
            break
    # a message relayed twice (a bridge behind a bridge) is one message
    out.messages = int(raw.execute("SELECT count(DISTINCT item_id) FROM _relay_moved").fetchone()[0])
    out.messages -= out.forgotten
    raw.execute("DROP TABLE _relay_moved")
    # a writer found to relay others in turn is a relay, not a writer
    out.writers = len(writers - {r[0] for r in raw.execute(f"SELECT identity_id FROM {TABLE}").fetchall()})
    return out


def _webhook_writers(raw: Any) -> int:
    """Webhook accounts (:data:`covalue.identity.WEBHOOK`) of a webhook that posted under at least
    :data:`MIN_NICKS` names are people: a bridge posting each relayed person under their own name. A
    webhook with one or two names (an integration announcing builds) stays a bot, as do names that read
    as a bot's. Returns how many accounts became people."""
    # the names are counted over all of a webhook's accounts, those already taken for people too, so that
    # a name first seen in a later upload joins them
    rows = raw.execute(
        "WITH w AS (SELECT identity_id, display_name, is_bot, split_part(native_id, ':', 2) AS hook "
        f"FROM identities WHERE native_id LIKE '{identity.WEBHOOK}%') "
        "SELECT identity_id, display_name FROM w WHERE is_bot AND hook IN "
        f"(SELECT hook FROM w GROUP BY hook HAVING count(DISTINCT display_name) >= {MIN_NICKS})"
    ).fetchall()
    people = [i for i, name in rows if not identity.looks_like_bot(name or "")]
    if not people:
        return 0
    raw.execute("UPDATE identities SET is_bot = FALSE WHERE identity_id IN (SELECT unnest(?))", [people])
    raw.execute(
        "UPDATE members SET is_bot = FALSE WHERE member_id IN "
        "(SELECT member_id FROM identities WHERE identity_id IN (SELECT unnest(?)))",
        [people],
    )
    return len(people)


def _apply_once(
    raw: Any, secret: bytes, skip: SkipList | None, seen: set[str], where: str, params: list[Any]
) -> Relayed:
    out = Relayed()
    opening = f"{where} AND i.text LIKE '[%' AND regexp_matches(i.text, '{PREFIX}')"
    # accounts the export already calls bots stay bots (a notification bot may write "[repo] <who> ...")
    found = raw.execute(
        "WITH r AS (SELECT i.author_id, any_value(i.source) AS source, count(*) AS relayed FROM items i "
        f"JOIN identities d ON d.identity_id = i.author_id WHERE NOT coalesce(d.is_bot, FALSE) AND {opening} "
        f"GROUP BY 1 HAVING count(DISTINCT regexp_extract(i.text, '{PREFIX}', 2)) >= {MIN_NICKS}) "
        "SELECT r.author_id, r.source FROM r JOIN (SELECT author_id, count(*) AS n FROM items "
        "WHERE author_id IN (SELECT author_id FROM r) GROUP BY 1) t USING (author_id) "
        f"WHERE r.relayed >= {MIN_SHARE} * t.n",
        params,
    ).fetchall()
    known = {r[0] for r in raw.execute(f"SELECT identity_id FROM {TABLE}").fetchall()}
    new = [(a, s) for a, s in found if a not in known]
    if new:
        now = datetime.now(UTC).replace(tzinfo=None)
        raw.executemany(f"INSERT INTO {TABLE} VALUES (?, ?, ?)", [(a, s, now) for a, s in new])
    relays = known | {a for a, _ in found}
    out.relays, out.new_relays = len(relays), len(new)
    if not relays:
        return out
    raw.execute(
        f"UPDATE identities SET is_bot = TRUE WHERE identity_id IN (SELECT identity_id FROM {TABLE}) AND NOT is_bot"
    )
    raw.execute(
        "UPDATE members SET is_bot = TRUE WHERE NOT is_bot AND member_id IN (SELECT d.member_id FROM "
        f"identities d JOIN {TABLE} r USING (identity_id))"
    )
    # one row per relay, network and nick as written: the keyed hash is computed once per writer
    rows = raw.execute(
        f"SELECT i.source, i.author_id, any_value(d.native_id), regexp_extract(i.text, '{PREFIX}', 1) AS net, "
        f"regexp_extract(i.text, '{PREFIX}', 2) AS nick, min(i.created_at) FROM items i "
        f"JOIN {TABLE} r ON r.identity_id = i.author_id LEFT JOIN identities d ON d.identity_id = i.author_id "
        f"WHERE {opening} GROUP BY i.source, i.author_id, net, nick",
        params,
    ).fetchall()
    if not rows:
        return out
    writers: dict[str, dict[str, Any]] = {}
    who: dict[str, list[Any]] = {"relay": [], "net": [], "nick": [], "writer": [], "prefix_words": []}
    for source, relay, native, net, raw_nick, first in rows:
        nick = raw_nick.strip()
        native_id = f"{WRITER}{native or relay}:{net}:{nick}"
        wid = identity.identity_id(secret, source, native_id)
        w = writers.setdefault(wid, {"source": source, "native_id": native_id, "name": nick, "first": first})
        if first is not None and (w["first"] is None or first < w["first"]):
            w["first"] = first
        who["relay"].append(relay)
        who["net"].append(net)
        who["nick"].append(raw_nick)
        who["writer"].append(wid)
        # the prefix ends at white space, so its words and the rest's add up to the count kept
        who["prefix_words"].append(text_stats(f"[{net}] <{raw_nick}>")[0])
    gone = skip.forgotten(list(writers)) if skip is not None else set()
    raw.register("_relay_who", pa.table(who, schema=_WHO))
    raw.register(
        "_writers",
        pa.table(
            {
                "identity_id": list(writers),
                "source": [w["source"] for w in writers.values()],
                "native_id": [w["native_id"] for w in writers.values()],
                "display_name": [w["name"] for w in writers.values()],
                "first_seen": [w["first"] for w in writers.values()],
            },
            schema=_WRITERS,
        ),
    )
    try:
        raw.execute(
            "CREATE OR REPLACE TEMP TABLE _relayed AS SELECT i.item_id, w.writer, i.author_id AS relay, "
            f"regexp_replace(i.text, '{PREFIX}', '') AS text, "
            "greatest(0, coalesce(i.n_words, 0) - w.prefix_words)::INTEGER AS n_words FROM items i "
            f"JOIN _relay_who w ON w.relay = i.author_id AND w.net = regexp_extract(i.text, '{PREFIX}', 1) "
            f"AND w.nick = regexp_extract(i.text, '{PREFIX}', 2) WHERE {opening}",
            params,
        )
        fresh = "SELECT * FROM _writers w WHERE w.identity_id NOT IN (SELECT identity_id FROM identities)"
        if gone:
            fresh += " AND w.identity_id NOT IN (SELECT unnest(?))"
        raw.execute(f"CREATE OR REPLACE TEMP TABLE _relay_new AS {fresh}", [sorted(gone)] if gone else [])
        n = raw.execute(
            "INSERT INTO identities BY NAME SELECT identity_id, identity_id AS member_id, source, native_id, "
            "display_name, NULL AS email_hash, FALSE AS is_bot FROM _relay_new"
        ).fetchone()
        out.added["identities"] = int(n[0]) if n else 0
        n = raw.execute(
            "INSERT INTO members BY NAME SELECT identity_id AS member_id, source, first_seen, FALSE AS is_bot "
            "FROM _relay_new WHERE identity_id NOT IN (SELECT member_id FROM members)"
        ).fetchone()
        out.added["members"] = int(n[0]) if n else 0
        # the months these messages are in change hands: the next analysis revisits them
        changes.note_added(raw, "items", "SELECT i.* FROM items i JOIN _relayed r USING (item_id)")
        raw.execute(
            "UPDATE actions SET target_id = r.writer FROM _relayed r "
            "WHERE actions.item_id = r.item_id AND actions.target_id = r.relay"
        )
        # what the relayed text does (a mention in it) is the writer's doing too
        raw.execute(
            "UPDATE actions SET actor_id = r.writer FROM _relayed r "
            "WHERE actions.item_id = r.item_id AND actions.actor_id = r.relay"
        )
        raw.execute(
            "UPDATE items SET author_id = r.writer, text = r.text, n_words = r.n_words FROM _relayed r "
            "WHERE items.item_id = r.item_id"
        )
        raw.execute("INSERT INTO _relay_moved SELECT item_id FROM _relayed")
        moved = int(raw.execute("SELECT count(*) FROM _relayed").fetchone()[0])
        if gone:
            forgotten = sorted(gone)
            out.forgotten = int(
                raw.execute(
                    "SELECT count(*) FROM items WHERE author_id IN (SELECT unnest(?))", [forgotten]
                ).fetchone()[0]
            )
            raw.execute("DELETE FROM items WHERE author_id IN (SELECT unnest(?))", [forgotten])
            raw.execute(
                "UPDATE actions SET target_id = NULL WHERE target_id IN (SELECT unnest(?))", [forgotten]
            )
            skip.skipped["items"] = skip.skipped.get("items", 0) + out.forgotten
    finally:
        raw.unregister("_relay_who")
        raw.unregister("_writers")
        raw.execute("DROP TABLE IF EXISTS _relayed; DROP TABLE IF EXISTS _relay_new")
    seen.update(set(writers) - gone)
    out.messages = moved - out.forgotten
    return out


_WHO = pa.schema(
    [
        ("relay", pa.string()),
        ("net", pa.string()),
        ("nick", pa.string()),
        ("writer", pa.string()),
        ("prefix_words", pa.int32()),
    ]
)
_WRITERS = pa.schema(
    [
        ("identity_id", pa.string()),
        ("source", pa.string()),
        ("native_id", pa.string()),
        ("display_name", pa.string()),
        ("first_seen", pa.timestamp("us")),
    ]
)
