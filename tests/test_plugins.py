"""Third-party plug-ins are found through entry points, exactly as an installed package's would be.

tests/plugins is a tiny package (a reader and a report section); the test writes its installed metadata
(``*.dist-info`` with the entry points of tests/plugins/pyproject.toml) into a temporary site folder on
``sys.path``, where importlib.metadata finds it, and then goes through covalue's public paths: reader
detection in an ingest, and a report built from Python.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

import covalue
from covalue import journey, report, sources

PLUGINS = Path(__file__).parent / "plugins"

FORUM = """\
# a made-up forum: 4 posts, 6 replies by 3 people, one line without a time
p1||ana|2025-05-02T09:00:00|Has anyone moved the build to the new runners?
p2||ben|2025-05-03T10:30:00|Sharing my notes from the spring meetup.
r1|p1|ben|2025-05-02T09:40:00|Yes, it took an afternoon; the cache settings matter.
r2|p1|chi|2025-05-02T11:00:00|We did it too, happy to pair on it.
r3|p2|ana|2025-05-03T12:00:00|Thanks, the slides on retries were useful.
p3||chi|2025-05-20T08:15:00|Question about rotating the signing keys.
r4|p3|ana|2025-05-20T09:00:00|There is a runbook for that in the wiki.
r5|p3|ben|2025-05-21T07:30:00|Ping me if the runbook is out of date.
p4||ana|2025-06-01T16:00:00|Retro of the quarter is next week.
r6|p4|chi|2025-06-02T08:00:00|I'll bring the numbers.
p5||ben|sometime in June|This line has no usable time.
"""


def write_dist_info(site: Path) -> None:
    """Install the plug-in's metadata: the entry points its pyproject.toml declares."""
    project = tomllib.loads((PLUGINS / "pyproject.toml").read_text())["project"]
    dist = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = []
    for group, eps in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in eps.items()]
        lines.append("")
    (dist / "entry_points.txt").write_text("\n".join(lines))


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    site = tmp_path / "site-packages"
    write_dist_info(site)
    monkeypatch.syspath_prepend(str(PLUGINS))
    monkeypatch.syspath_prepend(str(site))
    sources.readers.cache_clear()  # the registry is read once per process
    yield
    sources.readers.cache_clear()


def test_without_the_plugin_installed_its_reader_is_unknown() -> None:
    sources.readers.cache_clear()
    assert "fakeforum" not in sources.readers()
    with pytest.raises(sources.ReaderError, match="no reader called 'fakeforum'"):
        sources.get_reader("fakeforum")


def test_a_plugin_reader_and_report_section_are_found_and_used(installed: None, tmp_path: Path) -> None:
    assert sources.readers()["fakeforum"].__module__ == "covalue_fake_plugins.forum"
    export = tmp_path / "builders.fakeforum"
    export.write_text(FORUM, encoding="utf-8")

    ws = covalue.init(tmp_path / "ws")
    try:
        [r] = ws.ingest([export])  # the reader is chosen by detection, among the built-in ones
        assert r.reader == "fakeforum"
        assert (r.read["items"], r.read["members"], r.rejects) == (10, 3, 1)
        assert r.sources == ["fakeforum:builders"]
        kinds = dict(ws.raw.execute("SELECT kind, count(*) FROM items GROUP BY kind").fetchall())
        assert kinds == {"post": 4, "reply": 6}

        journey.analyze(ws)
        out = report.build(ws, tmp_path / "report.html")
    finally:
        ws.close()
    html = out.path.read_text(encoding="utf-8")
    assert "Notes from a plug-in" in html
    assert "Plug-in notes for builders." in html
