"""The Discord reader on the biggest real export (Komodo, 704,597 messages in a 27 MB tar.gz)."""

from __future__ import annotations

import time

from benchmarks.bench_ingest import DATA, ingest_figures
from benchmarks.registry import Figure, Skip, measurement

KOMODO = DATA / "discord" / "komodo-discord-csv.tar.gz"


@measurement("ingest-discord", "Discord reader + workspace staging on komodo-discord-csv.tar.gz")
def ingest_discord(quick: bool) -> list[Figure]:
    return ingest_figures("ingest-discord", "discord", KOMODO, repeat=1 if quick else 3)


@measurement("read-discord", "Discord reader alone (rows built, nothing stored) on komodo-discord-csv.tar.gz")
def read_discord(quick: bool) -> list[Figure]:
    """Messages per second of the reader itself: the share of ingest time that parsing takes."""
    from covalue.sources.base import Sink
    from covalue.sources.discord import DiscordReader

    if not KOMODO.exists():
        raise Skip(f"{KOMODO} is missing")
    secs, items = [], 0
    for _ in range(1 if quick else 3):
        counts: dict[str, int] = {}

        def emit(table: str, batch, counts=counts) -> None:
            counts[table] = counts.get(table, 0) + batch.num_rows

        sink = Sink(secret=b"\0" * 32, ingest_id="bench", emit=emit)
        t0 = time.perf_counter()
        DiscordReader().read(KOMODO, sink)
        sink.flush()
        secs.append(time.perf_counter() - t0)
        items = counts.get("items", 0)
    return [Figure("read-discord", [items / s for s in secs], "messages/s", f"{items:,} messages")]
