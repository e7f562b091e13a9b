"""The value models as data: TOML files shipped beside this module, overridable per workspace.

    roles = load("roles")                                  # the shipped defaults
    maturity = load("maturity", ws.settings.model)          # with [model.maturity] from covalue.toml

An override is merged key by key into the defaults (tables recursively, everything else replaced), so a
workspace changes one threshold without copying the whole model.
"""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from typing import Any

MODELS = ("maturity", "roles", "health", "coaching", "questions")


class ModelError(ValueError):
    """A model file or an override does not fit the model."""


def defaults(name: str) -> dict[str, Any]:
    """The shipped model ``name`` (``maturity`` or ``roles``) as a dict."""
    if name not in MODELS:
        raise ModelError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    text = resources.files(__name__).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def merge(base: dict[str, Any], override: dict[str, Any], *, where: str = "") -> dict[str, Any]:
    """``base`` with ``override`` merged in; unknown keys are refused so that typos do not pass silently."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        path = f"{where}.{key}" if where else key
        if key not in out:
            raise ModelError(f"override {path!r} names nothing in the model")
        if isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = merge(out[key], value, where=path)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Model ``name`` with the workspace's overrides (``Settings.model``, keyed by model name) applied."""
    model = defaults(name)
    extra = (overrides or {}).get(name)
    if extra:
        if not isinstance(extra, dict):
            raise ModelError(f"[model.{name}] in covalue.toml must be a table")
        model = merge(model, extra, where=name)
    return model
