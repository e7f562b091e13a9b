"""CLI commands beyond init/ingest/status, one module per job. Each module registers its commands on
``covalue.cli.app`` when imported; add new modules to ``MODULES``."""

from __future__ import annotations

import importlib

MODULES: list[str] = ["synth", "identities", "maturity", "health", "web", "report", "canvas"]


def register_all() -> None:
    for name in MODULES:
        importlib.import_module(f"covalue.commands.{name}")
