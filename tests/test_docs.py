"""The docs keep up with the code: every CLI command is in README.md or docs/cli.md, and every setting of
covalue.toml is in docs/settings.md. A command or setting added without a word in the docs fails here."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

import pytest
import typer
from pydantic import BaseModel

from covalue.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def read(*names: str) -> str:
    return "\n".join((ROOT / n).read_text(encoding="utf-8") for n in names if (ROOT / n).exists())


def command_paths() -> list[str]:
    """Every visible command of the ``covalue`` app, as typed after ``covalue`` (``canvas export``)."""
    from covalue.cli import app

    out: list[str] = []

    def walk(cmd: typing.Any, prefix: str) -> None:
        if hasattr(cmd, "commands"):  # a group (Typer carries its own copy of click's classes)
            for name, sub in sorted(cmd.commands.items()):
                if not getattr(sub, "hidden", False):
                    walk(sub, f"{prefix} {name}".strip())
            if prefix and getattr(cmd, "invoke_without_command", False):
                out.append(prefix)
        else:
            out.append(prefix)

    walk(typer.main.get_command(app), "")
    return out


def documented_command(path: str, text: str) -> bool:
    """Named as ``covalue <path>``, in backticks, or as a heading."""
    words = r"\s+".join(map(re.escape, path.split()))
    return bool(
        re.search(rf"covalue\s+{words}(?![\w-])", text)
        or re.search(rf"`{words}(?:\s[^`]*)?`", text)
        or re.search(rf"^#+ .*(?<![\w-]){words}(?![\w-])", text, re.M)
    )


def setting_keys(model: type[BaseModel] = Settings, prefix: str = "") -> list[str]:
    """Dotted keys of every setting (``privacy.show_names``; ``tabular.*.pattern`` for named tables)."""
    keys: list[str] = []
    for name, f in model.model_fields.items():
        key = f"{prefix}{name}"
        ann = f.annotation
        inner = _model_in(ann)
        if inner is not None:
            keys += setting_keys(inner, f"{key}.")
        elif typing.get_origin(ann) is dict and _model_in(typing.get_args(ann)[1]) is not None:
            keys.append(key)
            keys += setting_keys(_model_in(typing.get_args(ann)[1]), f"{key}.*.")
        else:
            keys.append(key)
    return keys


def _model_in(ann: typing.Any) -> type[BaseModel] | None:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    if isinstance(ann, types.UnionType) or typing.get_origin(ann) is typing.Union:
        found = [a for a in typing.get_args(ann) if isinstance(a, type) and issubclass(a, BaseModel)]
        return found[0] if found else None
    return None


def documented_setting(key: str, text: str) -> bool:
    """The dotted key, or the key's name after its ``[section]`` (as the TOML file is written)."""
    if key.replace(".*.", ".") in text or key in text:
        return True
    section, _, leaf = key.rpartition(".")
    if not section:
        return bool(re.search(rf"(?<![\w.]){re.escape(leaf)}(?![\w])", text))
    head = "[" + section.replace(".*", "") + ("." if ".*" in section else "]")
    at = text.find(head)
    return at >= 0 and re.search(rf"(?<![\w.]){re.escape(leaf)}\b", text[at:]) is not None


def test_the_walks_find_what_the_code_has() -> None:
    """Guards the two tests below against walking nothing."""
    assert {"init", "ingest", "status", "report"} <= set(command_paths())
    assert {"privacy.show_names", "analysis.window_days", "tabular", "tabular.*.pattern"} <= set(
        setting_keys()
    )


def test_every_command_is_in_the_readme_or_the_cli_reference() -> None:
    text = read("README.md", "docs/cli.md")
    missing = [p for p in command_paths() if not documented_command(p, text)]
    assert not missing, f"commands missing from README.md and docs/cli.md: {', '.join(missing)}"


def test_every_setting_is_in_the_settings_page() -> None:
    if not (ROOT / "docs" / "settings.md").exists():
        pytest.fail("docs/settings.md is missing (settings.py points readers to it)")
    text = read("docs/settings.md")
    missing = [k for k in setting_keys() if not documented_setting(k, text)]
    assert not missing, f"settings missing from docs/settings.md: {', '.join(missing)}"
