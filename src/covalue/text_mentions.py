"""Mentions written as plain text: ``@gcharang try -rescan``.

Most exports record who a message names (Slack's ``<@U123>``, Discord's JSON ``mentions``). Discord's
CSV pages keep only the text, where a name follows ``@`` as the reader saw it. Read as it comes, such a
message names nobody: the person addressed never gets their answer (the chat reply rule "by name" needs
the mention), and nobody is seen to respond to anyone by name.

After each ingest, :func:`apply` reads the messages of the platforms in ``text_mention_platforms``
(``[conversation]`` in roles.toml) that contain ``@`` and name nobody yet, and records a mention where
the words after an ``@`` are the name of a person of the same source: their account name without
Discord's ``#1234``, or the nick a bridge gave them (a person's own account wins over a bridge's
writer of the same nick, except in a message the bridge relayed: written on the bridge's other network,
its names are those of the people there). The longest name wins ("@Sri - Lead" over "@Sri"), a name must end where a
word ends, a name two different people share names nobody, and a message naming its own writer or
``@everyone`` names nobody. The mention's id is built from the message and the
person, so reading the export again adds nothing twice.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import pyarrow as pa

from covalue import identity, schema, staging
from covalue.relays import WRITER

#: words after ``@`` that address a channel, not a person
CHANNEL_WORDS = frozenset({"everyone", "here", "channel", "all"})
#: Discord's legacy discriminator, which mentions leave out
_TAG = re.compile(r"#\d{4}$")
#: how many characters of a name index it (a name shorter than this is not looked for)
_KEY = 2


def names(raw: Any, sources: list[str]) -> dict[str, dict[str, str | None]]:
    """Per source, lower-cased names to the identity they name, or ``None`` where two members share a
    name (then it names nobody). A person's own account wins over the writers a bridge relays under the
    same nick (one person on several bridged networks is several of them): in the channel, ``@jl777c``
    is the account the channel's own app completed."""
    rows = raw.execute(
        "SELECT source, identity_id, coalesce(member_id, identity_id), display_name, "
        f"coalesce(native_id LIKE '{WRITER}%', FALSE) FROM identities "
        "WHERE source IN (SELECT unnest(?)) AND display_name IS NOT NULL",
        [sources],
    ).fetchall()
    named: dict[tuple[str, str], dict[bool, dict[str, str]]] = defaultdict(lambda: {False: {}, True: {}})
    for source, iid, mid, shown, relayed in rows:
        if key := _name_key(shown):
            named[(source, key)][relayed].setdefault(mid, iid)
    out: dict[str, dict[str, str | None]] = defaultdict(dict)
    for (source, key), by in named.items():
        out[source][key] = _only(by[False] or by[True])
    return out


def _name_key(shown: str) -> str | None:
    """How a display name is looked for after an ``@``: without Discord's ``#1234``, in lower case; None
    for a name too short to look for or a channel word."""
    key = _TAG.sub("", shown).strip().lower()
    return key if len(key) >= _KEY and key not in CHANNEL_WORDS else None


def _only(members: dict[str, str]) -> str | None:
    """The identity of the one member bearing a name (member -> identity), None when several do."""
    return next(iter(members.values())) if len(members) == 1 else None


def relayed_names(raw: Any, sources: list[str]) -> dict[tuple[str, str], dict[str, str | None]]:
    """Per source and bridge side (a relay account and the network it relays, :data:`WRITER` ids without
    their nick), lower-cased names to the writer relayed under them, or ``None`` where two share one.
    A message relayed from that side was written among these people: "@jonske1" there is the writer
    the bridge calls jonske1, not the account of the same name on this side."""
    rows = raw.execute(
        "SELECT source, identity_id, coalesce(member_id, identity_id), display_name, native_id FROM identities "
        f"WHERE source IN (SELECT unnest(?)) AND display_name IS NOT NULL AND native_id LIKE '{WRITER}%'",
        [sources],
    ).fetchall()
    named: dict[tuple[str, str], dict[str, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    for source, iid, mid, shown, native in rows:
        if key := _name_key(shown):
            named[(source, _side(native))][key].setdefault(mid, iid)
    return {side: {key: _only(m) for key, m in keys.items()} for side, keys in named.items()}


def _side(native_id: str) -> str:
    """The bridge side of a relayed writer's native id: ``relay:<relay>:<network>``."""
    return native_id.rsplit(":", 1)[0]


#: names by their first :data:`_KEY` characters: the lengths they come in (longest first), and the names
Index = dict[str, tuple[list[int], dict[str, str]]]


def index(known: dict[str, str | None]) -> Index:
    """``known`` (lower-cased names to identities, None for a shared name) arranged for :func:`find`."""
    out: dict[str, tuple[list[int], dict[str, str]]] = {}
    for name, iid in known.items():
        if iid is not None:
            out.setdefault(name[:_KEY], ([], {}))[1][name] = iid
    for lengths, names in out.values():
        lengths.extend(sorted({len(n) for n in names}, reverse=True))
    return out


def find(text: str, known: Index) -> list[str]:
    """The identities ``text`` names: for each ``@`` that starts a word, the longest known name that
    follows it and ends where a word ends (an ``@`` within a word is an address: ``bob@example.org``)."""
    low = text.lower()
    found: list[str] = []
    at = low.find("@")
    while at >= 0:
        start = at + 1
        bucket = known.get(low[start : start + _KEY]) if at == 0 or not _word(low[at - 1]) else None
        if bucket is not None:
            lengths, names = bucket
            for n in lengths:
                iid = names.get(low[start : start + n])
                if iid is not None and _ends(low, start + n):
                    if iid not in found:
                        found.append(iid)
                    break
        at = low.find("@", start)
    return found


def _word(c: str) -> bool:
    return c.isalnum() or c == "_"


def _ends(low: str, end: int) -> bool:
    """Whether a word ends at ``end``: not within letters, digits or ``_``, nor before ``-`` or ``.``
    going on with one ("@sri-lead" is not "@sri")."""
    if end >= len(low):
        return True
    if _word(low[end]):
        return False
    return not (low[end] in "-." and end + 1 < len(low) and _word(low[end + 1]))


def apply(raw: Any, sources: list[str], roles: dict[str, Any]) -> int:
    """Record the plain-text mentions of the messages of ``sources`` (those on a platform of
    ``text_mention_platforms``) that name nobody yet; returns how many were added. Runs in the ingest's
    transaction."""
    platforms = set(roles.get("conversation", {}).get("text_mention_platforms", []))
    sources = [s for s in sources if s.split(":", 1)[0] in platforms]
    if not sources:
        return 0
    by_source = names(raw, sources)
    indexes: dict[Any, Index] = {source: index(known) for source, known in by_source.items()}
    sides = relayed_names(raw, sources)
    rows = raw.execute(
        "SELECT i.item_id, i.source, i.space_id, i.community_id, i.created_at, i.author_id, i.text, w.native_id "
        "FROM items i LEFT JOIN identities w ON w.identity_id = i.author_id "
        "WHERE i.source IN (SELECT unnest(?)) AND contains(i.text, '@') AND NOT EXISTS (SELECT 1 FROM actions a "
        "WHERE a.item_id = i.item_id AND a.verb = 'mention')",
        [sources],
    ).fetchall()
    out: dict[str, list[Any]] = {f: [] for f in schema.ACTIONS.names}
    for item_id, source, space_id, community_id, ts, author, text, native in rows:
        side = (source, _side(native)) if native and native.startswith(WRITER) else None
        if side in sides and side not in indexes:  # relayed: the names of the bridge's side first
            indexes[side] = index({**by_source.get(source, {}), **sides[side]})
        for target in find(text, indexes.get(side if side in sides else source, {})):
            if target == author:
                continue
            out["action_id"].append(f"{source}:{identity.stable_id(item_id, 'mention', target)}")
            out["source"].append(source)
            out["space_id"].append(space_id)
            out["community_id"].append(community_id)
            out["ts"].append(ts)
            out["actor_id"].append(author)
            out["verb"].append("mention")
            out["item_id"].append(item_id)
            out["target_id"].append(target)
            out["value"].append(None)
            out["detail"].append("text")
    if not out["action_id"]:
        return 0
    return staging.merge_batch(raw, "actions", pa.table(out, schema=schema.ACTIONS))


def message(added: int) -> str:
    """What an ingest says of the mentions it read from the text."""
    return f'{added:,} mentions written as plain text ("@name ...") were linked to the people they name'
