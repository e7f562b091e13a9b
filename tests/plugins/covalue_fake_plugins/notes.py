"""A report section contributed by a plug-in: one line per community."""

from html import escape
from typing import Any

from covalue.report import Section


def notes_section(ws: Any, c: dict[str, Any]) -> Section:
    return Section("plugin-notes", "Notes from a plug-in", f"<p>Plug-in notes for {escape(c['name'])}.</p>")
