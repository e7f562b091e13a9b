"""Draw the random sample of ideas that a person reads to measure idea precision
(tests/data/idea_sample.toml).

Every item covalue calls an idea (structure and text, roles.toml as it stands) is collected from the six
real exports below; the sample is stratified by export: ``n`` items split evenly, an export with fewer
ideas than its share gives all of them and the rest is split again among the others, each export's
share drawn with ``pandas.DataFrame.sample(random_state=seed)``. The draw is written as a TOML skeleton
(item id, source, found_by) with the full text of each item printed next to it for reading; the
reader adds ``excerpt`` (a summary in their own words), ``label`` and ``reason``.

    .venv/bin/python scripts/idea_sample.py --seed 21 --workspace DIR [--out draw.toml] [--texts texts.txt]

``--workspace DIR`` keeps the ingested exports in DIR (ingested on the first run, reused after).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
EXPORTS = {
    "meta": [
        "stackexchange/meta.french.stackexchange.com.7z",
        "stackexchange/meta.history.stackexchange.com.7z",
        "stackexchange/beer.stackexchange.com.7z",
        "slack/houstondatavis-slack-export.zip",
        "zulip/ncar-zulip-archive.tar.gz",
    ],
    "discord": ["discord/komodo-discord-csv.tar.gz"],
}


def ideas(base: Path) -> Any:
    """All items called ideas in the six exports: item_id, source, found_by, opens (titled or with a
    reply the export names), title and text."""
    import pandas as pd

    import covalue
    from covalue import models
    from covalue.metrics.classify import classify_items
    from covalue.metrics.interactions import people

    roles = models.load("roles")
    frames = []
    for name, files in EXPORTS.items():
        path = base / name
        if (path / "covalue.toml").exists():
            ws = covalue.open(path)
        else:
            ws = covalue.init(path)
            ws.ingest([DATA / f for f in files])
        try:
            items = ws.table("items")
            who = people(ws.table("identities"), ws.table("members"))
            r = classify_items(items, who, roles, spaces=ws.table("spaces"), actions=ws.table("actions"))
            r = r.filter(r.is_idea).select("item_id", "role_source")
            j = r.join(items, r.item_id == items.item_id)
            frames.append(
                j.select(
                    "item_id", "source", "title", "text", "parent_id", found_by=j.role_source
                ).to_pandas()
            )
        finally:
            ws.close()
    return pd.concat(frames, ignore_index=True)


def draw(found: Any, n: int, seed: int) -> Any:
    """The stratified random sample: ``n`` split evenly across sources, small sources giving up the
    share they cannot fill."""
    import pandas as pd

    sizes = found.groupby("source").size().to_dict()
    take: dict[str, int] = {}
    left, open_ = n, sorted(sizes)
    while open_:
        share = left // len(open_)
        small = [s for s in open_ if sizes[s] <= share]
        if not small:
            extra = left - share * len(open_)
            for k, s in enumerate(open_):
                take[s] = share + (1 if k < extra else 0)
            break
        for s in small:
            take[s] = sizes[s]
            left -= sizes[s]
            open_.remove(s)
    parts = [
        found[found.source == s].sort_values("item_id").sample(k, random_state=seed)
        for s, k in sorted(take.items())
        if k
    ]
    return pd.concat(parts, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--workspace", type=Path, required=True, help="folder for the ingested exports")
    ap.add_argument("--out", type=Path, help="TOML skeleton of the draw (default: stdout)")
    ap.add_argument("--texts", type=Path, help="write each drawn item's full title and text here")
    args = ap.parse_args(argv)
    found = ideas(args.workspace)
    print("ideas per source:", found.groupby("source").size().to_dict(), file=sys.stderr)
    sample = draw(found, args.n, args.seed)
    print("drawn per source:", sample.groupby("source").size().to_dict(), file=sys.stderr)
    toml = []
    texts = []
    for r in sample.itertuples():
        toml += [
            "[[item]]",
            f'item_id = "{r.item_id}"',
            f'source = "{r.source}"',
            f'found_by = "{r.found_by}"',
            'excerpt = ""',
            "label = false",
            'reason = ""',
            "",
        ]
        texts.append(f"### {r.item_id} ({r.found_by})\n{r.title or ''}\n{(r.text or '')[:3000]}\n")
    out = "\n".join(toml)
    if args.out:
        args.out.write_text(out, encoding="utf-8")
    else:
        print(out)
    if args.texts:
        args.texts.write_text("\n".join(texts), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
