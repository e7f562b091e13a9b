"""What an export calls its community, read from the export itself.

A folder or file name says little: a Stack Exchange dump unpacked as ``data``, a crawled Discourse
folder called ``json``, a Slack export renamed ``export.zip``. Each export also names its community in
its own data: a Stack Exchange site links to its own questions, a Discourse forum marks links to itself
as internal and serves avatars from its own host, a Slack workspace's file permalinks carry its
subdomain. The readers ask these helpers first and fall back on the file or folder name; ``--community``
still overrides them all (:meth:`covalue.sources.base.Sink.source`).
"""

from __future__ import annotations

import html
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: the hosts of the Stack Exchange network, whose dumps are named after them
_SE_HOSTS = (
    r"(?:stackexchange\.com|stackoverflow\.com|mathoverflow\.net|serverfault\.com|superuser\.com"
    r"|askubuntu\.com|stackapps\.com)"
)
_SE_SITE = re.compile(r"(?:[a-z0-9-]+\.)*" + _SE_HOSTS, re.I)
_SE_LINK = re.compile(
    rb"https?://((?:[a-z0-9-]+\.)*" + _SE_HOSTS.encode() + rb")/questions/(\d+)/([a-z0-9-]+)", re.I
)
_ROW_ID = re.compile(rb'<row\b[^>]*?\bId="(\d+)"')
_ROW_TITLE = re.compile(rb'\bTitle="([^"]*)"')
#: how much of Posts.xml is searched for the site's links to itself (the start of a 100 GB dump is enough)
SE_SCAN_BYTES = 32 * 1024 * 1024
#: folder names that say nothing about the community
GENERIC_NAMES = frozenset(
    {"data", "dump", "export", "exports", "json", "xml", "files", "archive", "backup", "tmp", "out", "raw"}
    | {"posts", "topics", "t", "latest", "download", "downloads", "discourse", "slack", "zulip", "mail"}
    | {"zulip_json", "export_json", "messages"}
)


def is_generic(name: str) -> bool:
    """Whether a file or folder name is too generic to name a community (``data``, ``json``...)."""
    return not name.strip() or name.strip().lower() in GENERIC_NAMES


def folder_name(folder: Path) -> str:
    """A folder's name, or its parent's when the folder's own name says nothing (``data``, ``zulip_json``)
    and the parent's does: exports are often unpacked into a folder called ``export`` inside a named one."""
    own = folder.resolve()
    if is_generic(own.name) and own.parent.name and not is_generic(own.parent.name):
        return own.parent.name
    return own.name


def export_name(
    path: Path, suffixes: Iterable[str], says_nothing: Callable[[str], bool], default: str
) -> str:
    """The name of an export: a folder's own name; for a file its name without the first of ``suffixes``
    it ends with, or the name of the folder holding it when that stem ``says_nothing`` (``messages.mbox``,
    ``items.csv``)."""
    if path.is_dir():
        return path.resolve().name or default
    stem = path.name
    for sfx in suffixes:
        if stem.lower().endswith(sfx):
            stem = stem[: -len(sfx)]
            break
    if says_nothing(stem):
        return path.resolve().parent.name or stem
    return stem or default


def is_se_site(name: str) -> bool:
    """Whether a name is a Stack Exchange site's host (``beer.stackexchange.com``, ``superuser.com``;
    not the network's own ``stackexchange.com``)."""
    return _SE_SITE.fullmatch(name) is not None and name.lower() != "stackexchange.com"


def se_site_from_path(path: Path) -> str | None:
    """The site a dump's folder is named after (``beer.stackexchange.com``), or the folder holding it
    when its own name is generic (``beer.stackexchange.com/data``)."""
    path = Path(os.path.abspath(path))  # "." named, symbolic links kept: the name the user gave
    if is_se_site(path.name):
        return path.name.lower()
    if is_generic(path.name) and is_se_site(path.parent.name):
        return path.parent.name.lower()
    return None


def _slug_letters(text: str) -> str:
    """Letters and digits only, accents dropped: how a title and the slug of its URL compare."""
    plain = unicodedata.normalize("NFKD", html.unescape(text)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", plain.lower())


def se_site_from_posts(posts: Path, limit: int = SE_SCAN_BYTES) -> str | None:
    """The host of a Stack Exchange site, from its posts' links to its own questions.

    A post often links to another question of the same site (``https://<host>/questions/<id>/<slug>``).
    A link counts for its host when the dump holds a question with that id whose title gives that slug,
    so links to other sites (or from a meta site to its main site) do not vote. The host with the most
    such links wins; None when no link matches in the first ``limit`` bytes.
    """
    titles: dict[int, str] = {}
    links: list[tuple[str, int, str]] = []
    read = 0
    try:
        with posts.open("rb") as fh:
            for line in fh:
                read += len(line)
                if read > limit:
                    break
                row = _ROW_ID.search(line)
                if row is None:
                    continue
                title = _ROW_TITLE.search(line)
                if title:
                    titles[int(row.group(1))] = _slug_letters(title.group(1).decode("utf-8", "replace"))
                for host, qid, slug in _SE_LINK.findall(line):
                    links.append(
                        (host.decode("ascii").lower(), int(qid), _slug_letters(slug.decode("ascii")))
                    )
    except OSError:
        return None
    votes: Counter[str] = Counter()
    for host, qid, slug in links:
        title = titles.get(qid)
        if title and slug and title[:20] == slug[:20]:
            votes[host] += 1
    return votes.most_common(1)[0][0] if votes else None


def discourse_site(docs: Iterable[Any]) -> str | None:
    """The host of a Discourse forum, from API documents (topics, posts, lists).

    Discourse marks a link to another topic of the same forum as ``internal`` (in a post's
    ``link_counts`` and a topic's ``details.links``), and serves uploaded avatars from
    ``/user_avatar/<host>/...``. The most frequent host wins.
    """
    votes: Counter[str] = Counter()

    def walk(node: Any, depth: int = 0) -> None:
        if depth > 6:
            return
        if isinstance(node, dict):
            if node.get("internal") is True and isinstance(node.get("url"), str):
                host = urlsplit(node["url"]).hostname
                if host:
                    votes[host.lower()] += 1
            avatar = node.get("avatar_template")
            if isinstance(avatar, str) and avatar.startswith("/user_avatar/"):
                host = avatar.split("/")[2]
                if "." in host:
                    votes[host.lower()] += 1
            for value in node.values():
                if isinstance(value, dict | list):
                    walk(value, depth + 1)
        elif isinstance(node, list):
            for value in node:
                walk(value, depth + 1)

    for doc in docs:
        walk(doc)
    return votes.most_common(1)[0][0] if votes else None


#: a workspace's own address in a permalink, its slashes perhaps escaped as JSON writes them
_SLACK_HOST = re.compile(rb"https?:\\?/\\?/([a-z0-9-]+)\.slack\.com\\?/", re.I)
#: subdomains that belong to Slack itself, not to a workspace
_SLACK_OWN = frozenset({"app", "api", "files", "hooks", "status", "slack", "www", "enterprise", "edgeapi"})


def slack_workspace(texts: Iterable[bytes]) -> str | None:
    """A Slack workspace's subdomain (``houstondatavis`` of ``houstondatavis.slack.com``), from the
    permalinks in its messages' raw JSON (shared files, message links). The most frequent one wins."""
    votes: Counter[str] = Counter()
    for text in texts:
        for m in _SLACK_HOST.findall(text):
            name = m.decode("ascii").lower()
            if name not in _SLACK_OWN:
                votes[name] += 1
    return votes.most_common(1)[0][0] if votes else None
