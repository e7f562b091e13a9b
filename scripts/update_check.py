"""Check on real exports that covalue's updates give what full runs give.

    .venv/bin/python scripts/update_check.py EXPORT [EXPORT ...] --cut 2019-10-15 --cut 2019-11-01T12:00

The exports are read once and cut at the times given, as if each part had been uploaded when it was
exported; the first part is analysed in full, every later one is added and updated, and each update is
compared with a full run over the parts so far (covalue.update_check). One line per upload; the exit
status is 1 when any update differs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from covalue.update_check import Upload, check_exports


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("exports", nargs="+", type=Path, help="export files or folders, as covalue ingest takes")
    ap.add_argument("--cut", action="append", required=True, type=datetime.fromisoformat,
                    help="where one upload ends and the next begins (ISO date or time); repeat for more")  # fmt: skip
    ap.add_argument("--work", type=Path, help="folder for the workspaces (default: a temporary one)")
    args = ap.parse_args(argv)

    def say(u: Upload) -> None:
        verdict = "same as a full run" if not u.differences else f"DIFFERS {u.differences}"
        print(f"upload from {u.cut:%Y-%m-%d %H:%M}: {u.mode} ({u.seconds:.1f} s): {verdict}", flush=True)

    if args.work and args.work.exists() and any(args.work.iterdir()):
        ap.error(f"{args.work} is not empty: give a new or empty folder for the workspaces")
    with tempfile.TemporaryDirectory(prefix="covalue-update-check-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        done = check_exports(args.exports, args.cut, work, say)
    return 1 if any(u.differences for u in done) else 0


if __name__ == "__main__":
    sys.exit(main())
