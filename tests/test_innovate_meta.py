"""Innovate on the two Stack Exchange meta sites, checked against their own XML.

Members there tag proposals for the site `feature-request` (and carried-out ones `status-completed`, but
a carried-out `bug` or `support` question is a fix): ideas by structure. A member whose idea got support from at least 3 distinct other people (answers,
comments on the idea, up-votes) before a window closed is at Innovate in that month. The support is
counted here straight from Posts.xml, Comments.xml and Votes.xml, independently of covalue's reader.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import py7zr
import pytest
from lxml import etree

import covalue
from covalue.metrics.maturity import period_label

SITES = ("meta.french.stackexchange.com.7z", "meta.history.stackexchange.com.7z")
IDEA_TAGS = {"feature-request", "status-completed"}
FIX_TAGS = {"bug", "support"}  # with status-completed alone: a fix, not an idea


def _is_idea(tags: set[str]) -> bool:
    return "feature-request" in tags or bool(IDEA_TAGS & tags and not FIX_TAGS & tags)


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    out = []
    for _, el in etree.iterparse(str(path), tag="row", resolve_entities=False):
        out.append(dict(el.attrib))
        el.clear()
    return out


def _when(v: str) -> datetime:
    return datetime.fromisoformat(v)


def raw_innovators(folder: Path, k: int = 3) -> dict[str, set[str]]:
    """``period → {user id}``: owners of a tagged idea created in the period's 90-day window whose k-th
    distinct supporter came before the window closed."""
    posts = _rows(folder / "Posts.xml")
    ideas = {
        p["Id"]: p
        for p in posts
        if p["PostTypeId"] == "1"
        and p.get("OwnerUserId") not in (None, "-1")
        and _is_idea(set(re.findall(r"[^<>|]+", p.get("Tags", ""))))
    }
    support: dict[str, dict[str, datetime]] = {i: {} for i in ideas}

    def add(idea: str, who: str | None, at: datetime) -> None:
        # the idea's own author and the site's Community bot (-1) do not support it
        if who in (None, "-1", ideas[idea]["OwnerUserId"]):
            return
        prev = support[idea].get(who)
        support[idea][who] = at if prev is None else min(prev, at)

    for p in posts:
        if p["PostTypeId"] == "2" and p.get("ParentId") in ideas:
            add(p["ParentId"], p.get("OwnerUserId"), _when(p["CreationDate"]))
    for c in _rows(folder / "Comments.xml"):
        if c.get("PostId") in ideas:
            add(c["PostId"], c.get("UserId"), _when(c["CreationDate"]))
    for v in _rows(folder / "Votes.xml"):
        if v.get("VoteTypeId") == "2" and v.get("PostId") in ideas:
            add(v["PostId"], f"vote:{v['Id']}", _when(v["CreationDate"]))  # voters are anonymous

    out: dict[str, set[str]] = {}
    for qid, q in ideas.items():
        times = sorted(support[qid].values())
        if len(times) < k:
            continue
        at, kth = _when(q["CreationDate"]), times[k - 1]
        first = at.year * 12 + at.month - 1
        for p in range(first, first + 4):
            end = p + 1
            win_end = datetime(end // 12, end % 12 + 1, 1)
            if win_end - timedelta(days=90) <= at < win_end and kth < win_end:
                out.setdefault(period_label(p), set()).add(q["OwnerUserId"])
    return out


@pytest.fixture(scope="module", params=SITES)
def meta(request: Any, shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    archive = shared_data / "stackexchange" / request.param
    raw = tmp_path_factory.mktemp("raw")
    with py7zr.SevenZipFile(archive, mode="r") as arc:
        arc.extractall(raw)
    ws = covalue.init(tmp_path_factory.mktemp("meta") / "ws")
    ws.ingest([archive])
    ws.analyze()
    yield ws, raw
    ws.close()


def test_supported_tagged_ideas_put_their_authors_at_innovate(meta: Any) -> None:
    ws, raw = meta
    expected = raw_innovators(raw)
    assert sum(len(v) for v in expected.values()) >= 5  # there is something to find
    ids = ws.table("identities").select("member_id", "native_id").to_pandas()
    member = dict(zip(ids.native_id.astype(str), ids.member_id, strict=False))
    ms = ws.table("member_stages").select("member_id", "period", "innovate", "stage").to_pandas()
    at = {(r.member_id, r.period): (bool(r.innovate), r.stage) for r in ms.itertuples()}
    missing = [
        (period, user)
        for period, users in expected.items()
        for user in users
        if at.get((member.get(user), period)) != (True, "innovate")
    ]
    assert not missing, missing[:10]
    # and every tagged idea is an idea by structure
    roles = ws.table("item_roles")
    ideas = roles.filter(roles.is_idea & (roles.role_source == "structure")).count().execute()
    assert ideas >= 36
