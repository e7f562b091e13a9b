"""Refit the weights of the idea rules (``[roles.idea]`` in src/covalue/models/roles.toml).

The training data is the History Stack Exchange meta site alone: every thread-opening question is a row,
its features are which idea rules match its title and text (as :func:`covalue.metrics.classify.idea_text`
prepares them), and its label is whether its members tagged it a request (``[evaluation]
idea_truth_tags``, e.g. ``feature-request``). The French Language meta site is held out: it is never read
here, so its recall in ``covalue evaluate`` measures how the rules carry to a site (and a language) they
were not fitted on.

A logistic regression (L2, balanced classes, so that the 36 requests among 556 questions weigh as much
as the rest) gives one weight per rule; the rule fires or not, so the weights add up to the model's log
odds. Dividing them by the log odds of an even chance (minus the intercept) makes the role's threshold
1.0, as roles.toml reads it. Rules are written per idea, in every language at once ("I propose" and
"je propose" are one rule), so a weight learnt on English posts applies to French ones too.

A rule marked ``alone = true`` states a proposal by itself ("I propose ...", "it would be nice if ...",
a title "Rename tag X"): its weight is raised to the threshold when the fit gives less. The tags are
an incomplete truth (members post many proposals as discussions, never tagged feature-request), so
the fit undervalues the phrases those untagged proposals share with tagged ones; the floor keeps one
clear proposal phrase enough, as the model says. The cross-validated recall applies the same floor
and rounding inside each fold, so it measures the rules as shipped.

    .venv/bin/python scripts/fit_idea_rules.py [--workspace PATH] [--c 1.0]

prints the fitted weights (rounded to 0.1) next to those in roles.toml, the cross-validated recall and
the share of questions called ideas on meta.history. Deterministic: same data, same weights.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DUMP = ROOT.parent / "shared" / "data" / "stackexchange" / "meta.history.stackexchange.com.7z"
SOURCE = "stackexchange:meta-history-stackexchange-com"


def features(
    ws_path: Path | None,
) -> tuple[list[str], list[list[int]], list[int], list[float], list[bool]]:
    """Rule names, the rule hits per thread-opening question of meta.history, their labels, the
    rules' current weights and which rules state a proposal alone."""
    import covalue
    from covalue import models
    from covalue.metrics.classify import idea_text

    roles = models.load("roles")
    spec, st = roles["roles"]["idea"], roles["structure"]
    tmp = None
    if ws_path is None or not (ws_path / "covalue.toml").exists():
        if ws_path is None:
            tmp = tempfile.TemporaryDirectory()
            ws_path = Path(tmp.name) / "ws"
        ws = covalue.init(ws_path)
        ws.ingest([DUMP])
    else:
        ws = covalue.open(ws_path)
    try:
        items, actions, spaces = ws.table("items"), ws.table("actions"), ws.table("spaces")
        # meta.history only: the held-out site is filtered out before any text is read
        roots = items.filter(
            (items.source == SOURCE) & items.parent_id.isnull() & items.kind.isin(st["question_kinds"])
        )
        pat = roles["evaluation"]["idea_truth_tags"]
        names = spaces.filter((spaces.kind == "tag") & spaces.name.fill_null("").lower().re_search(pat))
        tags = actions.filter((actions.verb == "system") & (actions.detail == "tag"))
        tagged = tags.join(names, tags.space_id == names.space_id).select(_tid=tags.item_id).distinct()
        j = roots.left_join(tagged, roots.item_id == tagged._tid)
        text = idea_text(j.title, j.text, int(spec.get("max_chars", st.get("max_chars", 20000))))
        cols = {f"r{i}": text.re_search(r["pattern"]).cast("int8") for i, r in enumerate(spec["rules"])}
        df = j.select("item_id", _y=j._tid.notnull().cast("int8"), **cols).order_by("item_id").to_pandas()
    finally:
        ws.close()
        if tmp is not None:
            tmp.cleanup()
    names_ = [r["name"] for r in spec["rules"]]
    x = df[[f"r{i}" for i in range(len(names_))]].astype(int).values.tolist()
    alone = [bool(r.get("alone", False)) for r in spec["rules"]]
    return names_, x, df["_y"].astype(int).tolist(), [float(r["weight"]) for r in spec["rules"]], alone


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workspace", type=Path, help="a workspace holding meta.history (ingested if empty)")
    ap.add_argument("--c", type=float, default=1.0, help="inverse L2 strength (default 1.0)")
    args = ap.parse_args(argv)
    names, x, y, current, alone = features(args.workspace)
    xa, ya = np.array(x), np.array(y)
    print(f"meta.history: {len(y)} thread-opening questions, {int(ya.sum())} tagged requests")

    def fit(xs: np.ndarray, ys: np.ndarray) -> list[float]:
        """Weights scaled to a threshold of 1.0, rounded to 0.1, floored at 1.0 for rules alone."""
        m = LogisticRegression(C=args.c, class_weight="balanced", max_iter=5000).fit(xs, ys)
        scale = -float(m.intercept_[0])
        w = [round(float(c) / scale, 1) for c in m.coef_[0]]
        return [max(v, 1.0) if a else v for v, a in zip(w, alone, strict=True)]

    weights = fit(xa, ya)
    print(f"{'rule':48} {'hits':>5} {'req':>4} {'now':>5} {'fitted':>6}")
    for name, col, w_now, w, a in zip(names, xa.T, current, weights, alone, strict=True):
        mark = " (alone)" if a else ""
        print(f"{name[:48]:48} {int(col.sum()):5} {int((col & ya).sum()):4} {w_now:5.1f} {w:6.1f}{mark}")

    def recall_and_share(pred: np.ndarray) -> str:
        found = int((pred & (ya == 1)).sum())
        return f"recall {found}/{int(ya.sum())} = {found / ya.sum():.0%}, {int(pred.sum())} called ideas"

    now = xa @ np.array(current) >= 1.0
    fitted = xa @ np.array(weights) >= 1.0
    held = np.zeros(len(ya), dtype=bool)
    for train, test in StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(xa, ya):
        held[test] = xa[test] @ np.array(fit(xa[train], ya[train])) >= 1.0
    print(f"weights in roles.toml:  {recall_and_share(now)}")
    print(f"fitted, rounded:        {recall_and_share(fitted)}")
    print(f"fitted, 5-fold held out: {recall_and_share(held)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
