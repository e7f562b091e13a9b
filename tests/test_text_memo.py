"""Text scores kept between analyses (covalue.text_memo): a re-run reads only new or changed texts, and
what it finds is exactly what classifying every text again would find."""

from __future__ import annotations

import pandas as pd
import pytest

from covalue import journey, text_memo
from covalue.metrics.classify import classify_items, text_scores
from covalue.metrics.interactions import people


@pytest.fixture
def ws(crafts_and_makers):
    return crafts_and_makers


def _roles(w, scores=None) -> pd.DataFrame:
    _, roles = journey.load_models(w)
    t = {n: w.table(n) for n in ("items", "actions", "identities", "members", "spaces")}
    who = people(t["identities"], t["members"])
    out = classify_items(t["items"], who, roles, spaces=t["spaces"], actions=t["actions"], scores=scores)
    return out.to_pandas().sort_values("item_id").reset_index(drop=True)


def _kept(w) -> pd.DataFrame:
    return w.table(text_memo.TABLE).to_pandas().set_index("_sid")


def test_kept_scores_classify_exactly_like_reading_every_text(ws):
    _, roles = journey.load_models(ws)
    scores = text_memo.kept_scores(ws, ws.table("items"), roles)
    assert scores.count().to_pyarrow().as_py() == ws.table("items").count().to_pyarrow().as_py()
    pd.testing.assert_frame_equal(_roles(ws), _roles(ws, scores))


def test_only_new_or_edited_texts_are_scored_again_and_gone_items_leave(ws):
    _, rules = journey.load_models(ws)
    text_memo.kept_scores(ws, ws.table("items"), rules)
    before = _kept(ws)
    items = ws.table("items").to_pandas()
    # a thread opener (no parent) edited into a plain proposal; another item removed
    opener = items[items.parent_id.isna() & items.kind.isin(["post", "question"])].iloc[0].item_id
    gone = items[items.item_id != opener].iloc[-1].item_id
    ws.raw.execute(
        "UPDATE items SET title = NULL, text = 'Feature request: could we add a weekly meetup channel "
        "for new members? I suggest we start next month.' WHERE item_id = ?",
        [opener],
    )
    ws.raw.execute("DELETE FROM items WHERE item_id = ?", [gone])
    scores = text_memo.kept_scores(ws, ws.table("items"), rules)
    after = _kept(ws)
    assert gone not in after.index and len(after) == len(before) - 1
    assert after.loc[opener, "_th"] != before.loc[opener, "_th"]
    assert after.loc[opener, "_iscore"] >= 1.0 > before.loc[opener, "_iscore"]
    # every other row is the one kept from the first run, not scored again
    same = before.drop(index=[opener, gone])
    pd.testing.assert_frame_equal(after.drop(index=[opener]).loc[same.index], same)
    roles = _roles(ws, scores)
    assert bool(roles.set_index("item_id").loc[opener, "is_idea"])
    pd.testing.assert_frame_equal(_roles(ws), roles)


def test_changed_rules_score_every_text_again(ws):
    _, roles = journey.load_models(ws)
    text_memo.kept_scores(ws, ws.table("items"), roles)
    first = set(_kept(ws).rules)
    changed = {
        **roles,
        "roles": {**roles["roles"], "question": {**roles["roles"]["question"], "threshold": 9.0}},
    }
    text_memo.kept_scores(ws, ws.table("items"), changed)
    kept = _kept(ws)
    assert set(kept.rules) == {text_memo.fingerprint(changed)} and first != set(kept.rules)
    # the stricter threshold holds: no item reads as a question by its text alone
    assert not kept._t_question.any()


def test_scores_of_a_few_items_score_the_new_ones_and_leave_the_rest_kept(ws):
    _, rules = journey.load_models(ws)
    items = ws.table("items")
    assert text_memo.scores_of(ws, items, rules) is None, "nothing is kept before a full run"
    text_memo.kept_scores(ws, items, rules)
    before = _kept(ws)
    # a new thread opener arrives (as in an incremental run): only it and a few others are read
    ws.raw.execute(
        "INSERT INTO items (item_id, source, community_id, author_id, created_at, kind, title, text) "
        "SELECT 'new-1', source, community_id, author_id, created_at, 'post', 'Proposal: a weekly "
        "meetup', 'I suggest we add a weekly meetup channel.' FROM items LIMIT 1"
    )
    few = ws.table("items").filter(lambda t: t.item_id.isin(["new-1", *before.index[:3]]))
    got = text_memo.scores_of(ws, few, rules).to_pandas().set_index("_sid")
    assert sorted(got.index) == sorted(["new-1", *before.index[:3]])
    after = _kept(ws)
    # the new item is kept; nothing else was dropped or scored again
    assert len(after) == len(before) + 1
    pd.testing.assert_frame_equal(after.loc[before.index], before)
    fresh = text_scores(ws.table("items").filter(lambda t: t.item_id == "new-1"), rules)
    assert got.loc["new-1", "_iscore"] == fresh.to_pandas()._iscore.iloc[0] >= 1.0
