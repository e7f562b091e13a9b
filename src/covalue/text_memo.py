"""Text scores kept between analyses.

Reading an item's text against the role rules (cleaning it, then dozens of regular expressions) is the
costliest part of classifying items, and its result depends on nothing but the item's own title, text
and place as a thread opener, and on the rules. The workspace keeps those scores
(:func:`covalue.metrics.classify.text_scores`) in ``item_text_scores``, keyed by item and by a hash of what
was read (:func:`~covalue.metrics.classify.text_key`), with a fingerprint of the rules: each analysis scores
only the items that are new or whose text changed, drops the rows of items that are gone, and scores
everything again when the rules, or the code reading the texts, change.

Texts erased by retention (``covalue prune``) cannot be read again, so the scores they earned are kept
beside, in ``erased_text_scores`` (:func:`keep_erased`), under the key the item has without its text:
an item left as it was erased keeps those scores through every later analysis, new rules included, and
its roles (and its author's stage) do not change because its words were deleted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

from covalue import quoting
from covalue.metrics import classify
from covalue.metrics.classify import text_key, text_scores

if TYPE_CHECKING:
    from covalue.workspace import Workspace

TABLE = "item_text_scores"
#: the scores of items whose text was erased, as they were when it was (:func:`keep_erased`)
ERASED = "erased_text_scores"


def fingerprint(roles_model: dict[str, Any]) -> str:
    """A hash of everything text scores depend on: the roles model's rules and the code that cleans
    and reads the texts (a new release may read them differently)."""
    st = roles_model.get("structure", {})
    used = {
        "roles": roles_model.get("roles", {}),
        "structure": {k: st.get(k) for k in ("max_chars", "root_kinds", "answer_kinds")},
    }
    h = hashlib.sha256(json.dumps(used, sort_keys=True, default=str).encode())
    for module in (classify, quoting):
        h.update(Path(module.__file__ or "").read_bytes())
    return h.hexdigest()[:16]


def kept_scores(ws: Workspace, items: ir.Table, roles_model: dict[str, Any]) -> ir.Table:
    """The text scores of every item in ``items``, reusing those kept in the workspace; the kept table
    is brought up to date first (new and changed items scored, rows of items that are gone dropped)."""
    con = ws.con
    rules = fingerprint(roles_model)
    if not _kept_for(ws, rules):
        if TABLE in con.list_tables():
            con.drop_table(TABLE)
        scored = text_scores(items, roles_model).mutate(rules=ibis.literal(rules))
        if ERASED not in con.list_tables():
            con.create_table(TABLE, scored)
            return con.table(TABLE).drop("rules")
        # some texts were erased: their kept scores go in, item by item, below
        con.create_table(TABLE, schema=scored.schema())
    keys = _keys(ws, items)
    try:
        memo = con.table(TABLE)
        current = memo.semi_join(keys, [memo._sid == keys._kid, memo._th == keys._kh])
        if current.count().to_pyarrow().as_py() != memo.count().to_pyarrow().as_py():
            # items forgotten, or edited since they were scored: keep only what still holds
            con.create_table(f"_{TABLE}_kept", current, overwrite=True)
            con.drop_table(TABLE)
            ws.raw.execute(f'ALTER TABLE "_{TABLE}_kept" RENAME TO "{TABLE}"')
        _score_new(ws, items, keys, roles_model, rules)
    finally:
        con.drop_table("_text_keys", force=True)
    return con.table(TABLE).drop("rules")


def scores_of(
    ws: Workspace, items: ir.Table, roles_model: dict[str, Any], scratch: str = "_text_keys_of"
) -> ir.Table | None:
    """The text scores of ``items``, a few of the workspace's items (the threads an incremental run
    reads): those not kept yet are scored and kept, and nothing else in the kept table is touched.
    None when no scores of these rules are kept (a full run keeps them). The result reads the temp
    table ``scratch`` (the items' keys), which lives until the connection closes or the caller drops it."""
    rules = fingerprint(roles_model)
    if not _kept_for(ws, rules):
        return None
    keys = _keys(ws, items, temp_name=scratch)
    _score_new(ws, items, keys, roles_model, rules)
    memo = ws.con.table(TABLE)
    return memo.semi_join(keys, [memo._sid == keys._kid, memo._th == keys._kh]).drop("rules")


def _kept_for(ws: Workspace, rules: str) -> bool:
    """Whether the kept table exists and holds scores of these rules only."""
    con = ws.con
    if TABLE not in con.list_tables():
        return False
    memo = con.table(TABLE)
    return not memo.filter(memo.rules != rules).count().to_pyarrow().as_py()


def _keys(ws: Workspace, items: ir.Table, temp_name: str = "_text_keys") -> ir.Table:
    """What each item's scores would be read from, hashed once for every comparison with the memo."""
    ws.con.create_table(
        temp_name, items.select(_kid=items.item_id, _kh=text_key(items)), temp=True, overwrite=True
    )
    return ws.con.table(temp_name)


def _score_new(
    ws: Workspace, items: ir.Table, keys: ir.Table, roles_model: dict[str, Any], rules: str
) -> None:
    """Score the items whose (id, text hash) the kept table lacks, and keep them; items left as they
    were when their text was erased get the scores kept then instead."""
    con = ws.con
    memo = con.table(TABLE)
    new = keys.anti_join(memo, [keys._kid == memo._sid, keys._kh == memo._th])
    if ERASED in con.list_tables():
        gone = con.table(ERASED)
        frozen = gone.semi_join(new, [gone._sid == new._kid, gone._th == new._kh])
        if frozen.count().to_pyarrow().as_py():
            con.insert(TABLE, frozen.mutate(rules=ibis.literal(rules)).select(*memo.columns))
            new = keys.anti_join(memo, [keys._kid == memo._sid, keys._kh == memo._th])
    if new.count().to_pyarrow().as_py():
        fresh = items.semi_join(new, items.item_id == new._kid)
        con.insert(TABLE, text_scores(fresh, roles_model).mutate(rules=ibis.literal(rules)))


def keep_erased(ws: Workspace, items: ir.Table, roles_model: dict[str, Any]) -> None:
    """Before the texts of ``items`` are erased: keep the scores they earn now, under the key each item
    will have without its text, so that later analyses give it the roles its text earned."""
    con = ws.con
    rules = fingerprint(roles_model)
    scores = scores_of(ws, items, roles_model, scratch="_erasing_keys")
    if scores is None:  # no scores of these rules kept yet
        scores = text_scores(items, roles_model)
    blank = items.mutate(text=ibis.null(items.text.type()))
    after = blank.select(_aid=blank.item_id, _ak=text_key(blank))
    rows = scores.join(after, scores._sid == after._aid).mutate(_th=after._ak, rules=ibis.literal(rules))
    rows = rows.select(*scores.columns, "rules")
    if ERASED in con.list_tables():
        ids = items.select(_eid=items.item_id)
        con.create_table("_erasing_ids", ids, temp=True, overwrite=True)
        ws.raw.execute(f'DELETE FROM "{ERASED}" WHERE _sid IN (SELECT _eid FROM _erasing_ids)')
        con.insert(ERASED, rows)
        con.drop_table("_erasing_ids", force=True)
    else:
        con.create_table(ERASED, rows)
    con.drop_table("_erasing_keys", force=True)
