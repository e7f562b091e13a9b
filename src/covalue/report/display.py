"""From gathered facts to what is shown: the one preparation the report and the web app share.

    facts = gather(ws)                 # covalue.report.facts: numbers only
    prepare(facts)                     # + verdict, coaching prompts, failed checks, charts, portfolio

Everything here is pure (no workspace). Each piece is made under a guard: a chart that cannot be drawn
costs that chart, is named in ``facts["errors"]`` (the report's appendix, the web app's notice) and the
rest of the page still shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from covalue import models
from covalue.report import charts, coaching
from covalue.report.facts import CommunityFacts, ReportFacts

log = logging.getLogger(__name__)


def _guarded(errors: list[str], what: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as e:  # one failing piece must not cost the sponsor the whole page
        log.warning("%s failed: %s", what, e)
        errors.append(f"{what}: {type(e).__name__}: {e}")
        return None


def prepare_community(
    c: CommunityFacts, *, coaching_model: dict[str, Any], min_group_size: int, errors: list[str]
) -> CommunityFacts:
    """Add to one community its verdict, coaching prompts, failed checks and charts."""
    name = c["name"]
    c["verdict"] = _guarded(errors, f"verdict of {name}", lambda: coaching.verdict(c))
    c["prompts"] = _guarded(
        errors, f"coaching prompts of {name}", lambda: coaching.prompts(c, coaching_model)
    )
    c["prompts"] = c["prompts"] or []
    c["failed"] = _guarded(errors, f"checks of {name}", lambda: coaching.failed_checks(c)) or {}
    made: dict[str, Any] = {}
    for key, fn in charts.COMMUNITY_CHARTS.items():
        made[key] = _guarded(errors, f"chart {key} of {name}", lambda fn=fn: fn(c))
    made["retention"] = _guarded(
        errors, f"chart retention of {name}", lambda: charts.retention(c, min_size=min_group_size)
    )
    c["charts"] = {k: v for k, v in made.items() if v}
    return c


def prepare(facts: ReportFacts, *, coaching_model: dict[str, Any] | None = None) -> ReportFacts:
    """Prepare every community for display, and the portfolio when there are several."""
    model = coaching_model or models.load("coaching")
    min_group = int(facts.get("min_group_size") or 5)
    errors = facts.setdefault("errors", [])
    for c in facts["communities"]:
        c.setdefault("models", facts["models"])
        prepare_community(c, coaching_model=model, min_group_size=min_group, errors=errors)
    facts["portfolio"] = portfolio(facts["communities"]) if len(facts["communities"]) > 1 else None
    return facts


def portfolio(communities: list[CommunityFacts]) -> dict[str, Any]:
    """The communities side by side: shape, active members, share at Solve or beyond, responsiveness."""
    rows = []
    for c in communities:
        h = c.get("health") or {}
        resp = h.get("responsiveness") or {}
        mix = c.get("mix") or {}
        active = int(mix.get("active") or 0)
        checks = c.get("checks") or []
        rows.append(
            {
                "id": c["id"],
                "name": c["name"],
                "period": c["period"],
                "shape": (h.get("shape") or {}).get("shape"),
                "active": active,
                "solving": (int(mix.get("solve") or 0) + int(mix.get("innovate") or 0)) / active
                if active
                else None,
                "growth": ((c.get("dynamics") or {}).get("growth") or {}).get("verdict"),
                "response_rate": resp.get("response_rate"),
                "ttfr": resp.get("ttfr_median_h"),
                "checks_passed": sum(1 for ch in checks if ch.get("passed")),
                "checks": sum(1 for ch in checks if ch.get("measurable") is not False),
                "first_prompt": c["prompts"][0]["title"] if c.get("prompts") else None,
            }
        )
    return {"rows": rows, "chart": charts.portfolio_mix(communities)}
