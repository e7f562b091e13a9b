"""How much memory DuckDB may use for a workspace: a share of the machine's (or its container's), within
a ceiling that grows with the items and actions the workspace holds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_MEMORY_CEILING",
    "MEMORY_PER_ROW",
    "canonical_rows",
    "default_limit",
    "machine_memory",
    "size_bytes",
]

#: the default memory cap of a workspace up to 60 M items and actions: DuckDB keeps what it is given, not
#: what it needs (10 M actions: 58.9 s and a peak of 3.2 GB with 3 GB, 66.2 s and 4.6 GB with 12 GB, in
#: `make bench`); a workspace that wants another cap sets ``[analysis] memory_limit``
DEFAULT_MEMORY_CEILING = 3 * 10**9
#: beyond DEFAULT_MEMORY_CEILING / this many rows, the cap grows with the items and actions held: at 100 M
#: actions a 3 GB cap spilled over 30 GB to disk and took more than 15 minutes
MEMORY_PER_ROW = 50


def machine_memory() -> int:
    """Bytes of memory this process may use: the machine's, or its container's limit when lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
        break
    return total


_UNITS = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
_UNITS["TIB"] = 2**40


def size_bytes(size: str) -> int:
    """Bytes in a size such as "12GB" or "1.5 GiB" (the units DuckDB's memory_limit takes)."""
    text = size.strip().upper().replace(" ", "")
    unit = next(u for u in sorted(_UNITS, key=len, reverse=True) if text.endswith(u))
    return int(float(text[: -len(unit)]) * _UNITS[unit])


def canonical_rows(con: Any) -> int:
    """Items and actions held in the database of the duckdb connection ``con``, as DuckDB's catalogue
    estimates them (no scan)."""
    got = con.execute(
        "SELECT sum(estimated_size) FROM duckdb_tables() WHERE schema_name = 'main' "
        "AND table_name IN ('items', 'actions')"
    ).fetchone()
    return int(got[0] or 0) if got else 0


def default_limit(share: float, rows: int) -> str:
    """``share`` of this machine's memory, at most ``DEFAULT_MEMORY_CEILING`` or ``MEMORY_PER_ROW``
    bytes for each of ``rows`` items and actions, whichever is more; as DuckDB's memory_limit."""
    ceiling = max(DEFAULT_MEMORY_CEILING, MEMORY_PER_ROW * rows)
    cap = min(int(machine_memory() * share), ceiling)
    return f"{max(256, cap // 2**20)}MiB"
