"""One member's evidence (example items per month and stage flag), computed when ``explain`` asks.

Evidence is never stored (docs/maturity.md). Building the evidence rules as Ibis expressions and
compiling them took longer than running them (10 M actions: 0.17 s against 0.13 s), and the SQL
depends only on the model and the tables' columns. So it is compiled once per shape and process, over
three small tables registered for each call (the member, the months asked for, their windows), and each
``explain`` runs it for its member.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from covalue import compiled
from covalue.metrics import maturity as mt

if TYPE_CHECKING:
    from covalue.workspace import Workspace

MEMBER, WANTED, PERIODS = "_evidence_member", "_evidence_wanted", "_evidence_periods"
INPUTS = ("item_roles", "actions", "analysis_people", "item_facts")
#: compiled plans by key (model, columns, library versions); a few shapes per process at most
_KEPT: dict[str, compiled.Step] = {}
_KEPT_MAX = 8


def rows(
    ws: Workspace, member_id: str, wanted: list[tuple[str, int]], maturity: dict[str, Any]
) -> list[dict[str, Any]]:
    """The member's evidence in the (community, period key) pairs ``wanted``, a row per example:
    ``member_id, community_id, pidx, period, flag, rank, item_id`` and the item's ``role, created_at,
    kind``, ordered by community, period, flag and rank."""
    if not wanted:  # a member with no month in the community asked about
        return []
    days = int(maturity["window"]["days"])
    keys = sorted({p for _, p in wanted})
    params = {
        MEMBER: pa.table({"member_id": pa.array([member_id], pa.string())}),
        WANTED: pa.table(
            {
                "_wc": pa.array([c for c, _ in wanted], pa.string()),
                "_wp": pa.array([p for _, p in wanted], pa.int64()),
            }
        ),
        PERIODS: pa.concat_tables([mt.periods_table(p, p, days) for p in keys]),
    }
    raw = ws.raw
    with compiled.registered(raw, params):
        step = _plan(ws, maturity)
        with compiled.constants(raw, step):
            order = "community_id, period, flag, rank"
            return (
                raw.execute(f"SELECT * FROM ({step.select}) ORDER BY {order}").fetch_arrow_table().to_pylist()
            )


def shown(ws: Workspace, rows: list[dict[str, Any]]) -> dict[str, dict[str, str | None]]:
    """What a person reads for each evidence item of ``rows``: ``excerpt`` (its title, or the start of
    its text, with people taken out where the workspace shows no names) and ``space`` (where it was
    written), by item id. An id is a key for tools, not something to recognise a post by."""
    from covalue import privacy
    from covalue.metrics.resonance import title_or_excerpt

    ids = sorted({r["item_id"] for r in rows if r.get("item_id")})
    if not ids:
        return {}
    found = ws.raw.execute(
        "SELECT i.item_id, i.title, substr(i.text, 1, 400), s.name FROM items i "
        f"LEFT JOIN spaces s ON s.space_id = i.space_id WHERE i.item_id IN ({','.join('?' * len(ids))})",
        ids,
    ).fetchall()
    out = [{"item_id": i, "excerpt": title_or_excerpt(t, x, 80), "space": s} for i, t, x, s in found]
    if not ws.settings.privacy.show_names:
        out = privacy.redact_people(ws, out, ("excerpt",))
    return {r["item_id"]: {"excerpt": r["excerpt"], "space": r["space"]} for r in out}


def _plan(ws: Workspace, maturity: dict[str, Any]) -> compiled.Step:
    """The compiled evidence query for this workspace's shape (the parameter tables registered)."""
    at = compiled.key(
        ws, json.dumps(maturity, sort_keys=True, default=str), [*INPUTS, MEMBER, WANTED, PERIODS]
    )
    step = _KEPT.get(at)
    if step is None:
        con = ws.con
        ev = mt.member_evidence(
            con.table(MEMBER),
            ws.table("item_roles"),
            ws.table("actions"),
            ws.table("analysis_people"),
            ws.table("item_facts"),
            con.table(PERIODS),
            maturity,
        )
        pairs = con.table(WANTED)
        ev = ev.join(pairs, (ev.community_id == pairs._wc) & (ev.pidx == pairs._wp))
        ev = ev.select(*mt.KEY, "period", "flag", "rank", "item_id")
        roles = ws.table("item_roles").select("item_id", "role", "created_at", "kind")
        step = compiled.compile_step(con, "evidence", ev.join(roles, "item_id"))
        _KEPT[at] = step
        while len(_KEPT) > _KEPT_MAX:
            _KEPT.pop(next(iter(_KEPT)))
    return step
