"""Write requirements.lock: every package (exact version) the app itself needs, with the spark and
postgres extras and without the dev tools, pinned to the versions of the environment the tests ran in.

    .venv/bin/python scripts/lock.py        # or: make lock

pip resolves covalue's dependencies afresh (``--dry-run --ignore-installed``, nothing is installed)
under the constraint of what ``.venv`` holds, so the lock names exactly the tested versions and
leaves out what only the dev tools pulled in. Install from it with
``pip install -r requirements.lock && pip install --no-deps -e .``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "requirements.lock"
EXTRAS = "spark,postgres"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        constraints, report = Path(tmp) / "constraints.txt", Path(tmp) / "report.json"
        frozen = subprocess.run(
            [sys.executable, "-m", "pip", "freeze", "--exclude", "covalue"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        constraints.write_text(frozen, encoding="utf-8")
        subprocess.run(
            [
                sys.executable, "-m", "pip", "install", "-q", "--dry-run", "--ignore-installed",
                "--no-build-isolation", "-c", str(constraints), "--report", str(report),
                f".[{EXTRAS}]",
            ],
            check=True,
            cwd=ROOT,
        )  # fmt: skip
        installs = json.loads(report.read_text(encoding="utf-8"))["install"]
    pins = sorted(
        f"{i['metadata']['name']}=={i['metadata']['version']}"
        for i in installs
        if i["metadata"]["name"].lower() != "covalue"
    )
    head = f"# covalue with the {EXTRAS} extras, without dev tools; made by scripts/lock.py (make lock)\n"
    OUT.write_text(head + "\n".join(pins) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(pins)} packages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
