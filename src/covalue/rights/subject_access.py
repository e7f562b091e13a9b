"""The right of access: every row held about a person, as one JSON document (layout in docs/privacy.md).

Layout ``covalue.subject-access/1``::

    {"layout", "generated_at", "workspace", "person": {"label", "member_ids", "identity_ids"},
     "workspace_rows": {"identities", "members", "merges", "items", "actions", "actions_about_them",
                        "<derived table>": [...]},
     "store_rows": {"accounts", "sessions", "sign_in_attempts", "audit_by_them", "audit_about_them",
                    "survey_answers", "canvas_entries", "experiment_participation", "experiment_items",
                    "stories"},
     "counts": {"<section>": n, ...}}

``items`` are what they wrote (posts, questions, answers, comments...), ``actions`` what they did
(reactions, votes that the platform attributes to them, joins, mentions), ``actions_about_them`` others'
actions aimed at them (replies are items; reactions and votes received are here).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from covalue import schema
from covalue.rights import base_tables, forget_log, text_columns
from covalue.rights.people import Person

if TYPE_CHECKING:
    from covalue.store import Store
    from covalue.workspace import Workspace

LAYOUT = "covalue.subject-access/1"
#: columns of derived tables that hold a member id under another name: who responded (``actor``), to
#: whom (``target``) and whose question an answer helped (``seeker``)
PERSON_COLUMNS = ("actor", "target", "seeker")


def _rows(ws: Workspace, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = ws.raw.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [{c: _json(v) for c, v in zip(cols, r, strict=True)} for r in cur.fetchall()]


def _json(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    return v


def subject_access(ws: Workspace, person: Person, *, store: Store | None = None) -> dict[str, Any]:
    """Every row of ``ws`` (and ``store``) about ``person``."""
    ids = sorted(person.ids) or ["-"]
    inn = "(SELECT unnest(?::VARCHAR[]))"
    w: dict[str, list[dict[str, Any]]] = {
        "identities": _rows(
            ws, f"SELECT * FROM identities WHERE identity_id IN {inn} OR member_id IN {inn}", [ids, ids]
        ),
        "members": _rows(ws, f"SELECT * FROM members WHERE member_id IN {inn}", [ids]),
        "merges": _rows(
            ws,
            f"SELECT * FROM merges WHERE identity_id IN {inn} OR from_member_id IN {inn} OR to_member_id IN {inn}",
            [ids, ids, ids],
        ),
        "items": _rows(
            ws, f"SELECT * FROM items WHERE author_id IN {inn} ORDER BY created_at, item_id", [ids]
        ),
        "actions": _rows(ws, f"SELECT * FROM actions WHERE actor_id IN {inn} ORDER BY ts, action_id", [ids]),
        "actions_about_them": _rows(
            ws,
            f"SELECT * FROM actions WHERE target_id IN {inn} AND (actor_id IS NULL OR actor_id NOT IN {inn}) "
            "ORDER BY ts, action_id",
            [ids, ids],
        ),
    }
    # derived and bridge tables: any row with one of their ids in a text column
    for t in base_tables(ws):
        if t in schema.TABLES or t in (forget_log.LOG_TABLE, forget_log.REQUESTS_TABLE):
            continue
        cols = text_columns(ws, t)
        person_cols = [
            c
            for c in cols
            if c.endswith(("member_id", "author_id", "actor_id", "identity_id")) or c in PERSON_COLUMNS
        ]
        if not person_cols:
            continue
        cond = " OR ".join(f'"{c}" IN {inn}' for c in person_cols)
        rows = _rows(ws, f'SELECT * FROM "{t}" WHERE {cond}', [ids] * len(person_cols))
        if rows:
            w[t] = rows
    out: dict[str, Any] = {
        "layout": LAYOUT,
        "generated_at": datetime.now(UTC).replace(tzinfo=None).isoformat(),
        "workspace": ws.settings.name,
        "person": {
            "label": person.label,
            "member_ids": sorted(person.member_ids),
            "identity_ids": sorted(person.identity_ids),
        },
        "workspace_rows": w,
        "store_rows": {},
    }
    if store is not None:
        from covalue.rights.store_records import find

        out["store_rows"] = find(store, person, [r["item_id"] for r in w["items"]])
    counts = {f"workspace.{k}": len(v) for k, v in w.items()}
    counts |= {f"store.{k}": len(v) for k, v in out["store_rows"].items()}
    out["counts"] = counts
    out["items_by_kind"] = _by(w["items"], "kind")
    out["actions_by_verb"] = _by(w["actions"], "verb")
    return out


def _by(rows: list[dict[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[r[key]] = out.get(r[key], 0) + 1
    return dict(sorted(out.items()))
