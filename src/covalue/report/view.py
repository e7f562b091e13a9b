"""The report's Jinja environment: the shared one (``covalue.presentation``) over the report's
templates, plus the filters only the report uses (stage checks in words)."""

from __future__ import annotations

import functools
from typing import Any

from jinja2 import Environment

from covalue import presentation
from covalue.report import coaching


def _check_value(v: Any, check: dict[str, Any]) -> str:
    return coaching.check_number(v, check)


def _op_words(op: str) -> str:
    return coaching.OP_WORDS.get(op, op)


@functools.cache
def env() -> Environment:
    e = presentation.environment("covalue.report")
    e.filters["check_value"] = _check_value
    e.filters["op_words"] = _op_words
    from covalue.report.sections.headline import FIRST_SCREEN  # sections render through this module

    e.globals["first_screen"] = FIRST_SCREEN
    return e


def render(template: str, **values: Any) -> str:
    return env().get_template(template).render(**values)
