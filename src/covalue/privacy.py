"""What may be shown about people: pseudonymous labels by default, names only where the workspace
allows, and no breakdown for groups smaller than the workspace's minimum."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from covalue.sources.base import EMAIL
from covalue.workspace import Workspace


def pseudonym(member_id: str) -> str:
    """A short, stable, human-friendly label for a member id (``Member 3f2a9c``)."""
    tail = member_id[2:] if member_id.startswith("m_") else member_id
    return f"Member {tail[:6]}"


def from_pseudonym(text: str) -> str | None:
    """The member id prefix (``m_3f2a9c``) that a label copied from a report names ("Member 3f2a9c"),
    the inverse of :func:`pseudonym`; None when ``text`` is not such a label."""
    m = re.fullmatch(r"\s*member\s+([0-9a-z]+)\s*", text, flags=re.IGNORECASE)
    return f"m_{m.group(1).lower()}" if m else None


def labels(ws: Workspace, member_ids: Iterable[str], *, allow_names: bool | None = None) -> dict[str, str]:
    """member_id → the label to show: the display name when names are allowed (workspace setting
    ``privacy.show_names``, or ``allow_names``) and known, else the pseudonym."""
    ids = sorted({m for m in member_ids if m})
    show = ws.settings.privacy.show_names if allow_names is None else allow_names
    out = {m: pseudonym(m) for m in ids}
    if not show or not ids:
        return out
    t = ws.table("identities")
    rows = (
        t.filter(t.member_id.isin(ids) & t.display_name.notnull())
        .group_by("member_id")
        .aggregate(name=t.display_name.max())
        .to_pyarrow()
        .to_pylist()
    )
    for r in rows:
        out[r["member_id"]] = r["name"]
    return out


def small(n: Any, ws: Workspace) -> bool:
    """Whether a group of ``n`` people is too small to show on its own."""
    try:
        return int(n) < ws.settings.privacy.min_group_size
    except (TypeError, ValueError):
        return True


def units_beside_people(
    ws: Workspace, units: dict[str, str | None], sizes: dict[str | None, int]
) -> dict[str, str | None]:
    """``units`` (member -> org unit) as they may stand next to one person's pseudonym: a unit with
    fewer members (``sizes``) than the smallest group shown is left out, since it can point at the person.
    Where names are shown anyway, every unit stays."""
    if ws.settings.privacy.show_names:
        return units
    return {m: u if u is not None and not small(sizes.get(u, 0), ws) else None for m, u in units.items()}


def suppress_counts(
    counts: dict[str, int], ws: Workspace, *, other: str = "other (small groups)"
) -> dict[str, int]:
    """Merge groups below the minimum size into one ``other`` group (dropped if it is still too small)."""
    keep: dict[str, int] = {}
    rest = 0
    for k, v in counts.items():
        if small(v, ws):
            rest += int(v)
        else:
            keep[k] = int(v)
    if rest and not small(rest, ws):
        keep[other] = rest
    return keep


#: what names a person in a message's text: an e-mail address, Slack's raw ``<@U0ABC123>`` (with or
#: without ``|name``), and any ``@handle`` (``@U061A5N1G``, ``@arnicas``)
_HANDLE = re.compile(r"<@[A-Za-z0-9]+(\|[^>]*)?>|(?<![\w@])@[\w][\w.-]*")
REDACTED = "@someone"


def redact_in_place(ws: Workspace, rows: list[dict[str, Any]], fields: Iterable[str]) -> None:
    """:func:`redact_people` on ``rows`` themselves, for excerpts nested in a larger result."""
    fields = list(fields)
    for r, clean in zip(rows, redact_people(ws, rows, fields), strict=True):
        r.update({f: clean[f] for f in fields if f in r})


def redact_people(ws: Workspace, rows: list[dict[str, Any]], fields: Iterable[str]) -> list[dict[str, Any]]:
    """``rows`` with mentions of people taken out of ``fields`` (text shown as excerpts), for
    workspaces that show no names: the @handles, platform user ids and e-mail addresses, and the
    display names of the people the items mention (``@Jane Doe`` on Zulip, Discourse), which a
    pattern alone would cut in half."""
    fields = list(fields)
    ids = [r["item_id"] for r in rows if r.get("item_id")]
    names: list[str] = []
    if ids:
        acts, who = ws.table("actions"), ws.table("identities")
        m = acts.filter((acts.verb == "mention") & acts.item_id.isin(ids) & acts.target_id.notnull())
        m = m.join(who, m.target_id == who.identity_id)
        m = m.filter(m.display_name.notnull()).select("display_name").distinct()
        found = {r["display_name"].strip() for r in m.to_pyarrow().to_pylist()}
        names = sorted((n for n in found if n), key=len, reverse=True)  # "Ann Lee" before "Ann"
    out = []
    for r in rows:
        r = dict(r)
        for f in fields:
            text = r.get(f)
            if not isinstance(text, str):
                continue
            for n in names:
                text = text.replace(f"@**{n}**", REDACTED).replace(f"@{n}", REDACTED)
            r[f] = _HANDLE.sub(REDACTED, EMAIL.sub("(e-mail)", text))
        out.append(r)
    return out
