"""Write docs/cli.md from the ``covalue`` Typer app itself, so the reference never drifts from the code.

.venv/bin/python scripts/cli_reference.py            # rewrite docs/cli.md
.venv/bin/python scripts/cli_reference.py --check    # exit 1 when docs/cli.md is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer.main
from generated_doc import write_or_check

from covalue.cli import app

OUT = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def _type_name(p: Any) -> str:
    """What an option takes, from the annotation Typer keeps (``str | None`` -> ``str``)."""
    ann = getattr(getattr(p, "type_descriptor", None), "annotation", None)
    name = getattr(ann, "__name__", None) or str(ann or "value")
    return {"str": "text", "Path": "path", "int": "integer", "float": "number"}.get(name, name.lower())


def _option_row(p: Any) -> str:
    """One parameter as a table row (Typer's commands follow click's interface)."""
    if p.param_type_name == "argument":
        name = f"`{p.name.upper()}`"
        what = "argument" + ("" if p.required else ", optional")
        help_text = getattr(p, "help", None) or ""
    else:
        names = [*p.opts, *p.secondary_opts]
        name = ", ".join(f"`{n}`" for n in names)
        what = "flag" if p.is_flag else _type_name(p)
        help_text = p.help or ""
        if not p.is_flag and p.default not in (None, (), "") and not callable(p.default):
            help_text += f" [default: {p.default}]"
    help_text = " ".join(help_text.split()).replace("|", "\\|")
    return f"| {name} | {what} | {help_text} |"


def _command(path: list[str], cmd: Any, out: list[str]) -> None:
    if hasattr(cmd, "list_commands"):  # a group: its commands in turn
        for name in cmd.list_commands(None):
            sub = cmd.get_command(None, name)
            if sub is not None and not sub.hidden:
                _command([*path, name], sub, out)
        return
    out.append(f"## `{' '.join(path)}`\n")
    out.append(" ".join((cmd.help or "").split()) + "\n")
    params = [p for p in cmd.params if p.name != "help"]
    if params:
        out.append("| option | takes | what it does |\n|---|---|---|")
        out.extend(_option_row(p) for p in params)
        out.append("")


def reference() -> str:
    root = typer.main.get_command(app)
    out = [
        "# Command reference\n",
        "Generated from the `covalue` command line by `scripts/cli_reference.py`; do not edit by hand",
        "(run `make docs` after changing a command).\n",
        " ".join((root.help or "").split()) + "\n",
    ]
    _command(["covalue"], root, out)
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    return write_or_check(OUT, reference(), "scripts/cli_reference.py")


if __name__ == "__main__":
    sys.exit(main())
