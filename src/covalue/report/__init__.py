"""The value report: one offline HTML file per workspace for a community team and its sponsor."""

from covalue.report.build import ReportResult, Section, build, register_section, render
from covalue.report.facts import gather

__all__ = ["ReportResult", "Section", "build", "gather", "register_section", "render"]
