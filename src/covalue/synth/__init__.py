"""Synthetic organisations with planted, known structure, for tests, the demo and the benchmarks.

An organisation has six communities, each planted with one shape a community manager would recognise
(a healthy community, a single voice, a broadcast, a closed workgroup, a dying community, a campaign
spike), plus planted members in ``healthy`` whose value-journey stage at the last two periods is known
exactly. The metrics must recover what is written in :class:`Truth`; docs/synthetic.md states the
contract. ``n_actions`` or ``scale`` add bulk communities built with vectorised numpy/Arrow so that ten
million actions generate in well under two minutes.

    org = generate(seed=7)
    org.write(workspace)            # canonical tables, deduplicated like an ingest
    org.write_tabular("export/")    # members.csv, items.csv, actions.csv with native ids
"""

from __future__ import annotations

import pyarrow as pa

from covalue import schema
from covalue.synth.bulk import bulk as bulk_communities
from covalue.synth.org import N_MONTHS, ORG_UNITS, SCENARIOS, SECRET, STAGES, SynthOrg, Truth, month_starts
from covalue.synth.planted import planted
from covalue.synth.texts import ROLES

__all__ = [
    "N_MONTHS",
    "ORG_UNITS",
    "ROLES",
    "SCENARIOS",
    "SECRET",
    "STAGES",
    "SynthOrg",
    "Truth",
    "generate",
    "month_starts",
    "planted",
]


def generate(
    seed: int = 7, n_actions: int | None = None, scale: float = 1.0, start: str = "2025-01"
) -> SynthOrg:
    """A synthetic organisation: the six planted communities, plus bulk communities when ``n_actions``
    (total actions wanted) or ``scale`` (multiple of the planted size) asks for more."""
    tables, truth, roles = planted(seed, start)
    base = tables["actions"].num_rows
    target = n_actions if n_actions is not None else (round(base * scale) if scale > 1 else base)
    role_tbl = pa.table({"item_id": list(roles), "role": list(roles.values())})
    if target > base:
        native_start = tables["identities"].num_rows + 1
        bulk, bulk_roles, info = bulk_communities(seed, target - base, month_starts(start), native_start)
        tables = {k: pa.concat_tables([tables[k], bulk[k]]) for k in tables}
        role_tbl = pa.concat_tables([role_tbl, bulk_roles])
        truth.bulk = info
        for name in info["communities"]:
            truth.communities[name] = {
                "source": f"synth:{name}",
                "shape": "bulk",
                "spaces": [f"synth:{name}:general", f"synth:{name}:questions"],
            }
    for name in ("rejects", "ingests", "merges"):
        tables[name] = schema.empty(name)
    return SynthOrg(tables={k: tables[k] for k in schema.TABLES}, truth=truth, roles=role_tbl)
