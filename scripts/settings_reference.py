"""Write docs/settings.md from ``src/covalue/settings.py``: every key of ``covalue.toml`` with its type,
default and the docstring written under it, so the page lists exactly what the code accepts.

    .venv/bin/python scripts/settings_reference.py            # rewrite docs/settings.md
    .venv/bin/python scripts/settings_reference.py --check    # exit 1 when docs/settings.md is out of date
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from generated_doc import write_or_check

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "covalue" / "settings.py"
OUT = ROOT / "docs" / "settings.md"

#: words for keys whose meaning the code states only by name
NOTES = {
    "Settings.name": "The workspace's name, shown as the report's title and in the web app.",
    "AnalysisSettings.period": (
        "Not read by the analysis: periods are always calendar months. Accepted so that existing "
        "files still load."
    ),
    "AnalysisSettings.window_days": (
        "The trailing window, in days, that each month's stages and health verdicts are judged on. "
        "`[model.maturity.window] days` or `[model.health.window] days` (docs/maturity.md, docs/health.md) "
        "set one of the two apart."
    ),
    "TabularMapping.timestamp_format": (
        "strptime format of the file's timestamps when they are not ISO 8601 (e.g. `%d/%m/%Y %H:%M`)."
    ),
}

INTRO = """# Settings (`covalue.toml`)

Generated from `src/covalue/settings.py` by `scripts/settings_reference.py`; do not edit by hand (run
`make docs` after changing a setting).

Every workspace has a `covalue.toml` beside its database. Every key is optional: a missing key takes the
default below, an unknown key is refused with its name (so a typo never passes silently). The thresholds
of the value models (stages, checks, shape verdicts, coaching) are not settings but data in
`src/covalue/models/*.toml`; a workspace overrides any of them under `[model.<name>]` (last section).
"""

MODELS = """## `[model.<name>]`: overriding the value models

The models are `maturity`, `roles`, `health`, `coaching` and `questions`
(`src/covalue/models/<name>.toml`, each commented key by key). An override is merged key by key into the
shipped model, so a workspace changes one threshold without copying the file; a key the model does not
have is refused. For example:

```toml
[model.maturity.checks]
solve_min_answered_rate = 0.5

[model.health.shape]
judge_min_active = 4
```

The journey's stage names, order, labels and colours (`[journey]` in `maturity.toml`) are read from the
shipped file only: the measures are named after the stages.
"""


def _classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    return {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}


def _toml(default: str) -> str:
    """A Python default as it is written in TOML (``False`` -> ``false``, ``50 * 1024**3`` -> the number)."""
    if default == "":
        return ""
    if default == "None":
        return "not set"
    try:
        value = eval(default, {"__builtins__": {}})  # literals and arithmetic on literals only
    except Exception:
        return default
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, int):
        return str(value)
    return repr(value)


def _fields(cls: ast.ClassDef, src: str) -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) for each annotated field, in order."""
    out = []
    body = cls.body
    for i, node in enumerate(body):
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        key = node.target.id
        if key == "model_config":
            continue
        typ = ast.get_source_segment(src, node.annotation) or ""
        default, desc = "", ""
        v = node.value
        if isinstance(v, ast.Call) and getattr(v.func, "id", "") == "Field":
            if v.args:
                default = ast.get_source_segment(src, v.args[0]) or ""
            for kw in v.keywords:
                if kw.arg == "default_factory":
                    default = {"dict": "{}", "list": "[]"}.get(
                        ast.get_source_segment(src, kw.value) or "", ""
                    )
                elif kw.arg == "description" and isinstance(kw.value, ast.Constant):
                    desc = str(kw.value.value)
        elif v is not None:
            default = ast.get_source_segment(src, v) or ""
        nxt = body[i + 1] if i + 1 < len(body) else None
        if (
            isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            desc = " ".join(nxt.value.value.split())
        desc = desc or NOTES.get(f"{cls.name}.{key}", "")
        out.append((key, typ, _toml(default), desc))
    return out


def _table(rows: list[tuple[str, str, str, str]]) -> list[str]:
    lines = ["| key | type | default | what it does |", "|---|---|---|---|"]
    for key, typ, default, desc in rows:
        cell = f"`{default}`" if default not in ("", "not set") else (default or "required")
        text, typ = desc.replace("|", "\\|"), typ.replace(" | ", " or ")
        lines.append(f"| `{key}` | {typ} | {cell} | {text} |")
    return lines


def reference() -> str:
    src = SOURCE.read_text(encoding="utf-8")
    classes = _classes(ast.parse(src))
    top = _fields(classes["Settings"], src)
    out = [INTRO, "## Top level", ""]
    out += _table(
        [f for f in top if f[1].split(" ")[0] not in classes and not f[1].startswith("dict[str, Tab")]
    )
    out.append("")
    for key, typ, _default, desc in top:
        if key == "model":
            continue
        if typ in classes:
            out += [f"## `[{key}]`", ""]
            doc = ast.get_docstring(classes[typ])
            if doc:
                out += [" ".join(doc.split()), ""]
            out += [*_table(_fields(classes[typ], src)), ""]
        elif typ.startswith("dict[str, ") and typ[10:-1] in classes:
            inner = typ[10:-1]
            out += [f"## `[{key}.<name>]`", ""]
            out += [
                (desc or " ".join((ast.get_docstring(classes[inner]) or "").split()))
                + " See docs/tabular.md.",
                "",
            ]
            out += [*_table(_fields(classes[inner], src)), ""]
    out.append(MODELS)
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    return write_or_check(OUT, reference(), "scripts/settings_reference.py")


if __name__ == "__main__":
    sys.exit(main())
