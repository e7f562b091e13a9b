"""The value report: one offline HTML file per workspace for a community team and its sponsor.

gather(ws) -> facts -> prepare(facts) -> sections -> render -> report.html      (build does it all)
"""

from covalue.report.build import ReportResult, build, render
from covalue.report.display import prepare
from covalue.report.facts import CommunityFacts, ReportFacts, gather
from covalue.report.sections import Section, register_section

__all__ = [
    "CommunityFacts",
    "ReportFacts",
    "ReportResult",
    "Section",
    "build",
    "gather",
    "prepare",
    "register_section",
    "render",
]
