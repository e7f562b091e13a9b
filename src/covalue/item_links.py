"""Where a person can read an item on its own platform, when the export says enough to know.

Only links that can be built from what the export itself holds are given: a Stack Exchange dump names
its site (``beer.stackexchange.com``) and keeps the post ids the site's addresses use. A Slack export
or a Zulip archive links only when its own messages show its address: Slack's permalinks to the
workspace's files or messages (``https://houstondatavis.slack.com/files/...``), a Zulip message's link
to its realm (``https://chat.example.org/#narrow/...``); :func:`platform_hosts` finds them. Without one
there is no link rather than a guessed one.

    item_link("stackexchange:beer-stackexchange-com:7809", "beer.stackexchange.com", "question")
    # 'https://beer.stackexchange.com/q/7809'
    item_link("slack:hdv:C061A0WJG:1433562832.000005", "hdv", host="houstondatavis.slack.com")
    # 'https://houstondatavis.slack.com/archives/C061A0WJG/p1433562832000005'
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any
from urllib.parse import quote

#: a site's host as a Stack Exchange dump names its community
_HOST = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")


#: a workspace's own address in a Slack export's text: links to its shared files or its messages
_SLACK_OWN = r"https?://([a-z0-9-]+\.slack\.com)/(?:files|archives)/()"
#: a Zulip realm's address in its messages: links narrowing to one of its streams (by id)
_ZULIP_OWN = r"(https?://[a-z0-9.-]+(?::[0-9]+)?)/#narrow/(?:stream|channel)/([0-9]+)-"
_PLATFORMS = {"slack": _SLACK_OWN, "zulip": _ZULIP_OWN}


def platform_hosts(raw: Any) -> dict[str, str]:
    """Source (``slack:houstondatavis``) -> the address its own messages show: a Slack workspace's
    host (from permalinks to its files or messages), a Zulip realm's base URL (from links to a stream
    this archive holds, by id). ``raw`` is the workspace's DuckDB connection. The address most links
    point to wins (a message may link elsewhere, a realm may have moved); sources showing none are
    absent, so no address is ever guessed."""
    votes: dict[str, Counter[str]] = {}
    spaces = {r[0] for r in raw.execute("SELECT space_id FROM spaces WHERE source LIKE 'zulip:%'").fetchall()}
    for platform, pattern in _PLATFORMS.items():
        rows = raw.execute(
            "SELECT source, regexp_extract(text, ?, 1), regexp_extract(text, ?, 2), count(*) FROM items "
            "WHERE source LIKE ? AND regexp_matches(text, ?) GROUP BY 1, 2, 3",
            [pattern, pattern, f"{platform}:%", pattern],
        ).fetchall()
        for source, host, stream, n in rows:
            if not host or (platform == "zulip" and f"{source}:{stream}" not in spaces):
                continue  # a link to another realm's stream says nothing about this one
            votes.setdefault(source, Counter())[str(host).lower()] += int(n)
    return {src: c.most_common(1)[0][0] for src, c in votes.items()}


_CACHE: dict[tuple[str, str], dict[str, str]] = {}


def workspace_hosts(ws: Any) -> dict[str, str]:
    """:func:`platform_hosts` of a workspace, read again only after a new ingest."""
    last = ws.raw.execute("SELECT max(started_at) FROM ingests").fetchone()[0]
    key = (str(ws.path), str(last))
    if key not in _CACHE:
        if len(_CACHE) >= 8:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = platform_hosts(ws.raw)
    return _CACHE[key]


def source_of(item_id: str) -> str:
    """The source part of an item id (``slack:houstondatavis`` of ``slack:houstondatavis:C1:12.3``)."""
    return ":".join((item_id or "").split(":")[:2])


_ZULIP_ESCAPES = {"%": ".", "(": ".28", ")": ".29", ".": ".2E"}


def _zulip_part(text: str) -> str:
    """A stream or topic name as Zulip writes it in a narrow link: URI-escaped, then ``%`` written as
    ``.`` and the dots and brackets escaped the same way."""
    return "".join(_ZULIP_ESCAPES.get(ch, ch) for ch in quote(text, safe="-_.!~*'()"))


def item_link(
    item_id: str,
    community_name: str | None,
    kind: str | None = None,
    *,
    host: str | None = None,
    space_id: str | None = None,
    space_name: str | None = None,
    topic: str | None = None,
) -> str | None:
    """The platform address of an item, or None when the export does not tell it. ``host`` is the
    address the export's own messages show (:func:`platform_hosts`); a Zulip link also needs the
    item's stream (``space_id``, ``space_name``) and ``topic`` (its thread's title)."""
    source, _, rest = (item_id or "").partition(":")
    if source == "slack" and host:
        parts = rest.split(":")
        if len(parts) >= 3 and re.fullmatch(r"[A-Z0-9]+", parts[-2]) and re.fullmatch(r"\d+\.\d+", parts[-1]):
            return f"https://{host}/archives/{parts[-2]}/p{parts[-1].replace('.', '')}"
        return None
    if source == "zulip" and host and space_id and space_name and topic:
        return _zulip_link(rest, host, space_id.rpartition(":")[2], space_name, topic)
    if source != "stackexchange" or not community_name:
        return None
    host = community_name.strip().lower()
    if not _HOST.match(host):
        return None
    post = rest.rpartition(":")[2]
    if post.startswith("c") and post[1:].isdigit():
        return f"https://{host}/posts/comments/{post[1:]}"
    if not post.isdigit():
        return None
    return f"https://{host}/{'a' if kind == 'answer' else 'q'}/{post}"


def _zulip_link(rest: str, realm: str, sid: str, name: str, topic: str) -> str | None:
    """``<realm>/#narrow/stream/<id>-<name>/topic/<topic>/near/<message id>``."""
    mid = rest.rpartition(":")[2]
    if not (sid.isdigit() and mid.isdigit()):
        return None
    return (
        f"{realm.rstrip('/')}/#narrow/stream/{sid}-{_zulip_part(name)}/topic/{_zulip_part(topic)}/near/{mid}"
    )
