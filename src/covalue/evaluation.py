"""How well covalue reads roles from text: question and idea detection measured against the structure
a platform gives (Stack Exchange's question and answer kinds, a meta site's feature-request tag) and
against a sample of ideas a person read and labelled. ``covalue evaluate`` prints these figures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from covalue.journey import load_models

if TYPE_CHECKING:
    from covalue.workspace import Workspace


def question_quality(ws: Workspace) -> dict[str, float]:
    """Text-only question detection against the structural truth (question vs answer items)."""
    from covalue.metrics.classify import question_quality as qq

    _, roles = load_models(ws)
    return qq(ws.table("items"), roles)


def idea_quality(ws: Workspace) -> list[dict[str, Any]]:
    """Text-only idea detection against the thread openers members tagged as requests, per source."""
    from covalue.metrics.classify import idea_quality as iq

    _, roles = load_models(ws)
    return iq(ws.table("items"), ws.table("actions"), ws.table("spaces"), roles)


def idea_sample_precision(path: str | Path, ws: Workspace | None = None) -> dict[str, Any]:
    """Precision of idea detection on a human-read sample (a TOML file of ``[[item]]`` with ``item_id``,
    ``source`` and ``label``; see tests/data/idea_sample.toml): the share labelled a proposal, overall and
    per source. With a workspace, also how many sampled items it holds and how many it still calls
    ideas, since the labels are only meaningful for items the current rules select."""
    import tomllib

    items = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("item", [])
    by_source: dict[str, dict[str, int]] = {}
    for it in items:
        b = by_source.setdefault(str(it["source"]), {"items": 0, "proposals": 0})
        b["items"] += 1
        b["proposals"] += bool(it["label"])
    n = sum(b["items"] for b in by_source.values())
    yes = sum(b["proposals"] for b in by_source.values())
    out: dict[str, Any] = {
        "items": n,
        "proposals": yes,
        "precision": yes / n if n else 0.0,
        "by_source": {
            s: {**b, "precision": b["proposals"] / b["items"]} for s, b in sorted(by_source.items())
        },
    }
    if ws is not None:
        ids = [str(it["item_id"]) for it in items]
        roles = ws.table("item_roles") if "item_roles" in ws.con.list_tables() else None
        held = ws.table("items").filter(ws.table("items").item_id.isin(ids)).count().to_pyarrow().as_py()
        out["in_workspace"] = int(held)
        if roles is not None:
            still = roles.filter(roles.item_id.isin(ids) & roles.is_idea).count().to_pyarrow().as_py()
            out["still_ideas"] = int(still)
    return out
