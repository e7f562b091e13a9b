"""A reader for a made-up forum format: ``id|parent id|author|ISO time|text`` per line, ``#`` comments."""

from pathlib import Path

from covalue.sources import Reader, Sink
from covalue.sources.base import to_utc


class FakeForumReader(Reader):
    name = "fakeforum"
    description = "the made-up forum of covalue's plug-in test"

    @classmethod
    def detect(cls, path: Path) -> float:
        return 1.0 if path.suffix == ".fakeforum" else 0.0

    def read(self, path: Path, sink: Sink) -> None:
        src = sink.source("fakeforum", path.stem)
        space = src.space("main", "Main board")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("|", 4)
            when = to_utc(parts[3]) if len(parts) == 5 else None
            if when is None:
                src.reject(f"{path.name}:line {n}", "not id|parent|author|time|text", line)
                continue
            pid, parent, author, _, text = parts
            src.item(
                pid,
                kind="reply" if parent else "post",
                created_at=when,
                author_id=src.person(author, display_name=author, first_seen=when),
                space_id=space,
                thread_id=src.item_ref(parent) if parent else None,
                parent_id=src.item_ref(parent) if parent else None,
                text=text,
            )
