"""The rules the report and the web pages share are written once (``report/templates/common.css``): the
report inlines them, the app serves them before its own sheet, and neither own sheet repeats one."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

import covalue
from covalue.web.app import COMMON_CSS, create_app

OWN_SHEETS = [
    Path(covalue.__file__).parent / "report" / "templates" / "style.css",
    Path(covalue.__file__).parent / "web" / "static" / "style.css",
]


def _rules(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text().splitlines() if "{" in line}


def test_no_shared_rule_is_written_again_in_an_own_sheet() -> None:
    shared = _rules(COMMON_CSS)
    assert any(r.startswith(".figures {") for r in shared)
    for own in OWN_SHEETS:
        assert not shared & _rules(own), own


def test_the_app_serves_the_shared_sheet_and_links_it_before_its_own(tmp_path: Path) -> None:
    covalue.init(tmp_path / "ws").close()
    app = create_app(tmp_path / "ws")
    try:
        c = TestClient(app, follow_redirects=False)
        css = c.get("/static/common.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert css.text == COMMON_CSS.read_text()
        assert c.head("/static/common.css").status_code == 200
        page = c.get("/login").text
        assert page.index('href="/static/common.css"') < page.index('href="/static/style.css"')
    finally:
        app.state.site.close()
