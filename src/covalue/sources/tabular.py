"""Any platform's export as plain tables: CSV, JSON Lines or Parquet files of members, spaces, items
and actions, with the canonical column names or with a column mapping declared in ``covalue.toml``.

This is the way in for every platform covalue has no reader for (an intranet forum, a ticketing
system, an events tool): export four tables, name the files after them or map their columns, ingest.
See docs/tabular.md for the columns and an example mapping.

Files are streamed (CSV and JSON Lines line by line, Parquet in record batches), so memory stays
bounded whatever their size. Each row that cannot be used becomes a reject with ``file:line`` and the
reason; the rest of the file is kept.
"""

from __future__ import annotations

import csv
import fnmatch
import re
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pyarrow as pa

from covalue import identity, schema
from covalue.presentation import plural
from covalue.settings import TabularMapping
from covalue.sources.archive import Refused, ZipArchive
from covalue.sources.base import Reader, ReaderError, Sink, SourceSink, slug
from covalue.sources.naming import export_name
from covalue.sources.tabular_files import (
    SUFFIXES,
    RecordStream,
    TabularFile,
    is_tabular,
    list_files,
)
from covalue.sources.tabular_values import (
    BadRow,
    bool_value,
    float_value,
    id_value,
    int_value,
    text_value,
    timestamp_value,
)

#: the order files are read in: people and places first, so contributions can point at them
TABLE_ORDER = ("members", "spaces", "items", "actions")

#: file name beginnings that say which table a file holds
NAME_WORDS: dict[str, str] = {
    "members": "members",
    "people": "members",
    "users": "members",
    "spaces": "spaces",
    "channels": "spaces",
    "items": "items",
    "posts": "items",
    "messages": "items",
    "actions": "actions",
    "events": "actions",
}

#: columns that may appear in any table
COMMON = frozenset({"source", "community", "community_id"})

#: the columns understood per table (canonical names, plus the native ids people and spaces carry)
COLUMNS: dict[str, frozenset[str]] = {
    "members": frozenset(
        {
            "member_id",
            "native_id",
            "email",
            "display_name",
            "is_bot",
            "first_seen",
            "joined_at",
            "left_at",
            "org_unit",
            "location",
            "role",
        }
    ),
    "spaces": frozenset({"space_id", "name", "kind"}),
    "items": frozenset(
        {
            "item_id",
            "space_id",
            "space",
            "thread_id",
            "parent_id",
            "author_id",
            "created_at",
            "kind",
            "title",
            "text",
            "n_words",
            "n_links",
            "n_attachments",
            "accepted",
            "views",
            "score",
        }
    ),
    "actions": frozenset(
        {
            "action_id",
            "space_id",
            "space",
            "ts",
            "actor_id",
            "verb",
            "item_id",
            "target_id",
            "value",
            "detail",
        }
    ),
}

#: per table, groups of columns of which at least one must exist in the file
REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    "members": (("member_id", "native_id", "email"),),
    "spaces": (("space_id", "name"),),
    "items": (("item_id",), ("created_at",)),
    "actions": (("ts",), ("actor_id",), ("verb",)),
}

_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")

# Long text fields (a post body) exceed the csv module's default 128 KiB limit; a row is still one record.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


# -- naming -----------------------------------------------------------------------------------------


def default_name(path: Path) -> str:
    """The source name of an export with no ``source`` column: its folder or zip name; for a single
    file its stem, unless the stem is only a table word (``items.csv``), then its folder's name."""
    zipped = path.name.lower().endswith(".zip")
    return export_name(
        path, (*SUFFIXES, ".zip"), lambda stem: not zipped and bool(_table_word(stem)), "tabular"
    )


def _table_word(name: str) -> str | None:
    low = name.lower()
    for word, table in NAME_WORDS.items():
        if low.startswith(word) and (len(low) == len(word) or not low[len(word)].isalpha()):
            return table
    return None


# -- layouts: which table a file holds and how its columns map -------------------------------------
@dataclass
class Layout:
    table: str
    rename: dict[str, str]  # file column -> canonical column
    timestamp_format: str | None = None
    mapping: str | None = None
    unknown: list[str] = field(default_factory=list)
    missing_mapped: list[str] = field(default_factory=list)
    #: JSON Lines: objects may carry keys the first one lacked, so every row's keys are matched
    sparse: bool = False

    def row(self, record: dict[str, Any]) -> dict[str, Any]:
        """The cells of one record under their canonical names."""
        out = {canon: record[col] for col, canon in self.rename.items() if col in record}
        if self.sparse:
            known = COLUMNS[self.table] | COMMON
            for k, v in record.items():
                if k not in self.rename:
                    canon = k.strip().lower()
                    if canon in known and canon not in out:
                        out[canon] = v
        return out

    def missing_required(self) -> list[str]:
        have = set(self.rename.values())
        return [" / ".join(g) for g in REQUIRED[self.table] if not have.intersection(g)]


def find_mapping(f: TabularFile, mappings: dict[str, TabularMapping]) -> tuple[str, TabularMapping] | None:
    """The mapping whose pattern matches the file (explicit patterns before the catch-all ``*``)."""
    inner = f.label.split("!", 1)[-1].lower()
    ranked = sorted(mappings.items(), key=lambda kv: kv[1].pattern.strip() in ("", "*"))
    for name, m in ranked:
        pat = m.pattern.strip().lower() or "*"
        if fnmatch.fnmatchcase(f.name.lower(), pat) or fnmatch.fnmatchcase(inner, pat):
            return name, m
    return None


def table_from_columns(columns: list[str]) -> str | None:
    cols = {c.strip().lower() for c in columns}
    if cols & {"verb", "actor_id"}:
        return "actions"
    if "item_id" in cols and cols & {"created_at", "author_id", "kind", "text", "title", "parent_id"}:
        return "items"
    if cols & {"member_id", "native_id", "email", "org_unit", "display_name"}:
        return "members"
    if "space_id" in cols or ("name" in cols and "kind" in cols):
        return "spaces"
    return None


def make_layout(
    f: TabularFile, columns: list[str], mappings: dict[str, TabularMapping], force_table: str | None = None
) -> Layout:
    """Decide the table and column renaming for one file; raises :class:`BadRow` when it cannot."""
    found = find_mapping(f, mappings)
    mapping_name, mapping = found if found else (None, None)
    table = force_table or (mapping.table.strip().lower() if mapping else None)
    table = table or _table_word(f.name) or table_from_columns(columns)
    if table is None:
        raise BadRow(
            "cannot tell which table this file holds: name it members*/spaces*/items*/actions* "
            f"(or posts*, messages*, channels*, events*), use canonical columns, or map it in covalue.toml; "
            f"columns found: {', '.join(columns[:20])}"
        )
    if table not in COLUMNS:
        raise BadRow(
            f"mapping [tabular.{mapping_name}] names table {table!r}; expected one of {', '.join(COLUMNS)}"
        )
    known = COLUMNS[table] | COMMON
    sparse = f.fmt == "jsonl"
    rename: dict[str, str] = {}
    missing_mapped: list[str] = []
    if mapping:
        present = set(columns)
        lower = {c.strip().lower(): c for c in columns}
        for canon, col in mapping.columns.items():
            actual = col if col in present else lower.get(col.strip().lower())
            if canon not in known:
                missing_mapped.append(f"{canon} (not a column of {table})")
            elif actual is not None or sparse:  # a JSON key may first appear in a later object
                rename[actual or col] = canon
            else:
                missing_mapped.append(f"{canon} = {col!r}")
    taken = set(rename.values())
    unknown = []
    for col in columns:
        if col in rename:
            continue
        canon = col.strip().lower()
        if canon in known and canon not in taken:
            rename[col] = canon
            taken.add(canon)
        elif col.strip():
            unknown.append(col)
    return Layout(
        table=table,
        rename=rename,
        timestamp_format=mapping.timestamp_format if mapping else None,
        mapping=mapping_name,
        unknown=unknown,
        missing_mapped=missing_mapped,
        sparse=sparse,
    )


# -- the reader -------------------------------------------------------------------------------------
class TabularReader(Reader):
    """CSV / JSON Lines / Parquet files of members, spaces, items and actions (any platform)."""

    name: ClassVar[str] = "tabular"
    description: ClassVar[str] = "CSV, JSON Lines or Parquet tables of members, spaces, items and actions"

    # Modest scores: a platform reader that recognises its own CSV layout should win over this one.
    @classmethod
    def detect_folder(cls, path: Path) -> float:
        files = [p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")]
        tab = [p for p in files if is_tabular(p.name)]
        if not tab or len(tab) * 2 < len(files):
            return 0.0
        return 0.5 if any(_looks_canonical(p) for p in tab[:5]) else 0.3

    @classmethod
    def detect_file(cls, path: Path) -> float:
        name = path.name.lower()
        if name.endswith(".zip"):
            try:
                arc = ZipArchive(path)
            except ReaderError:
                return 0.0
            with arc:
                names = [n for n in arc.names() if not n.rsplit("/", 1)[-1].startswith(".")]
            tab = [n for n in names if is_tabular(n)]
            return 0.4 if tab and len(tab) * 2 >= len(names) else 0.0
        if is_tabular(name):
            return 0.5 if _looks_canonical(path) else 0.3
        return 0.0

    def read(self, path: Path, sink: Sink) -> None:
        mappings: dict[str, TabularMapping] = dict(getattr(self.settings, "tabular", None) or {})
        files, refused, ignored, arc = list_files(path, self.settings)
        try:
            self._read(path, sink, files, refused, ignored, mappings)
        finally:
            if arc is not None:
                arc.close()

    def _read(
        self,
        path: Path,
        sink: Sink,
        files: list[TabularFile],
        refused: list[Refused],
        ignored: list[str],
        mappings: dict[str, TabularMapping],
    ) -> None:
        self.sink = sink
        self._default_name = default_name(path)
        self._default: SourceSink | None = None
        self._sources: dict[str, SourceSink] = {}
        self._communities: set[str] = set()
        self._by_email: dict[tuple[str, str], str] = {}
        self._pids: dict[tuple[str, str], str] = {}
        # a row's community column switches its source's community for that row only; this restores it
        self._homes: dict[str, str] = {}
        for r in refused:
            self.default.reject(f"{path.name}!{r.name}", r.reason)
        if ignored:
            shown = ", ".join(ignored[:5]) + (f" and {len(ignored) - 5} more" if len(ignored) > 5 else "")
            sink.warn(
                f"{path.name}: ignored {plural(len(ignored), 'file')} that are not CSV, "
                f"JSON Lines or Parquet: {shown}"
            )
        if not files:
            raise ReaderError(f"{path}: no CSV, JSON Lines or Parquet files found")
        sink.set_total(sum(f.size for f in files))
        planned: list[tuple[int, int, TabularFile, Layout]] = []
        for n, f in enumerate(files):
            try:
                stream = RecordStream(f)
                try:
                    columns = stream.open()
                finally:
                    stream.close()
                layout = make_layout(f, columns, mappings)
            except BadRow as e:
                self.default.reject(f.label, str(e))
                continue
            except (OSError, EOFError, zlib.error, Refused, UnicodeError) as e:
                self.default.reject(f.label, f"cannot open: {type(e).__name__}: {e}")
                continue
            planned.append((TABLE_ORDER.index(layout.table), n, f, layout))
        for _, _, f, layout in sorted(planned, key=lambda t: t[:2]):
            self._read_file(f, layout)

    def _read_file(self, f: TabularFile, layout: Layout) -> None:
        sink = self.sink
        if layout.missing_mapped:
            sink.warn(
                f"{f.label}: mapping [tabular.{layout.mapping}] columns not found: {', '.join(layout.missing_mapped)}"
            )
        missing = layout.missing_required() if not layout.sparse else []
        if missing:
            self.default.reject(
                f.label,
                f"no column for {', '.join(missing)} (required in {layout.table}); columns found: "
                + ", ".join(list(layout.rename) + layout.unknown)[:200],
            )
            return
        handler = getattr(self, f"_{layout.table}")
        known = COLUMNS[layout.table] | COMMON
        stream = RecordStream(f, on_bytes=sink.advance)
        jsonl_unknown: set[str] = set()
        last = f.label
        try:
            stream.open()
            if not layout.sparse and layout.unknown:
                sink.warn(f"{f.label}: ignored columns not in {layout.table}: {', '.join(layout.unknown)}")
            for rec in stream.records():
                last = rec.location
                if rec.cells is None:
                    self.default.reject(rec.location, rec.error or "unreadable row", rec.excerpt)
                    continue
                if layout.sparse:
                    jsonl_unknown.update(
                        k for k in rec.cells if k not in layout.rename and k.strip().lower() not in known
                    )
                row = layout.row(rec.cells)
                src = self._source_for(row)
                try:
                    handler(src, row, layout)
                except BadRow as e:
                    src.reject(rec.location, str(e), _excerpt(rec.excerpt, stream.delimiter))
                except (ValueError, TypeError, OverflowError) as e:
                    src.reject(rec.location, f"unusable value: {e}", _excerpt(rec.excerpt, stream.delimiter))
                finally:
                    src.community_id = self._homes[src.source]
        except (OSError, EOFError, zlib.error, Refused, UnicodeError, pa.ArrowException) as e:
            self.default.reject(last, f"file damaged or truncated after this point: {type(e).__name__}: {e}")
        except BadRow as e:
            self.default.reject(f.label, str(e))
        finally:
            stream.close()
        for note in stream.notes:
            sink.warn(note)
        if jsonl_unknown:
            sink.warn(
                f"{f.label}: ignored keys not in {layout.table}: {', '.join(sorted(jsonl_unknown)[:30])}"
            )

    # -- sources, communities, people ----------------------------------------------------------------
    @property
    def default(self) -> SourceSink:
        """The source of rows without a ``source`` column, made on first use so that an export whose
        rows all name their source leaves no empty source and community behind."""
        if self._default is None:
            self._default = self.sink.source("tabular", self._default_name)
            self._homes.setdefault(self._default.source, self._default.community_id)
        return self._default

    def _source_for(self, row: dict[str, Any]) -> SourceSink:
        name = id_value(row.get("source"))
        src = self.default if not name else self._sources.get(name)
        if src is None:
            src = self.sink.source("tabular", name)
            self._sources[name] = src  # type: ignore[index]
            self._homes.setdefault(src.source, src.community_id)
        community = id_value(row.get("community")) or id_value(row.get("community_id"))
        if community and not self.sink.community:  # an ingest's --community overrides the file
            cid = slug(community)
            if cid not in self._communities:
                self._communities.add(cid)
                self.sink.batches.add("communities", {"community_id": cid, "name": community})
            src.community_id = cid
        return src

    def _ref(self, src: SourceSink, raw: str) -> str:
        """The pseudonymous id of an author, actor or target (cached: the same few people recur)."""
        k = (src.source, raw)
        pid = self._pids.get(k)
        if pid is None:
            pid = self._pids[k] = self._person(src, raw)
        return pid

    def _person(self, src: SourceSink, raw: str, **attrs: Any) -> str:
        """Pseudonymise a native user id or an email (which is hashed, never kept)."""
        key, email = raw, attrs.pop("email", None)
        if _EMAIL.fullmatch(raw):
            email = email or raw
            h = identity.email_hash(src.secret, raw) or raw
            key = self._by_email.get((src.source, h), h)
        elif email:
            h = identity.email_hash(src.secret, email)
            if h:
                self._by_email.setdefault((src.source, h), key)
        return src.person(key, email=email, **attrs)

    def _space(self, src: SourceSink, row: dict[str, Any]) -> str | None:
        sid = id_value(row.get("space_id"))
        name = text_value(row.get("space"))
        if not sid and not name:
            return None
        return src.space(sid or name, name=(name or sid).strip())  # type: ignore[union-attr]

    # -- one handler per table ----------------------------------------------------------------------
    def _members(self, src: SourceSink, row: dict[str, Any], layout: Layout) -> None:
        fmt = layout.timestamp_format
        native = id_value(row.get("member_id")) or id_value(row.get("native_id"))
        email = id_value(row.get("email"))
        if email and not _EMAIL.fullmatch(email):
            raise BadRow(f"email is not an email address: {email[:40]!r}")
        if not native and not email:
            raise BadRow("missing member_id (or native_id / email)")
        name = text_value(row.get("display_name"))
        is_bot = bool_value(row.get("is_bot"), "is_bot")
        self._person(
            src,
            native or email,  # type: ignore[arg-type]
            email=email,
            display_name=name,
            is_bot=identity.looks_like_bot(name) if is_bot is None else is_bot,
            first_seen=timestamp_value(row.get("first_seen"), "first_seen", fmt),
            joined_at=timestamp_value(row.get("joined_at"), "joined_at", fmt),
            left_at=timestamp_value(row.get("left_at"), "left_at", fmt),
            org_unit=text_value(row.get("org_unit")),
            location=text_value(row.get("location")),
            role=text_value(row.get("role")),
        )

    def _spaces(self, src: SourceSink, row: dict[str, Any], layout: Layout) -> None:
        sid = id_value(row.get("space_id"))
        name = text_value(row.get("name"))
        if not sid and not name:
            raise BadRow("missing space_id (or name)")
        kind = (id_value(row.get("kind")) or "channel").lower()
        src.space(sid or name, name=(name or sid).strip(), kind=kind)  # type: ignore[union-attr]

    def _items(self, src: SourceSink, row: dict[str, Any], layout: Layout) -> None:
        iid = id_value(row.get("item_id"))
        if not iid:
            raise BadRow("missing item_id")
        created = timestamp_value(row.get("created_at"), "created_at", layout.timestamp_format)
        if created is None:
            raise BadRow("missing created_at")
        parent = id_value(row.get("parent_id"))
        thread = id_value(row.get("thread_id"))
        kind = (id_value(row.get("kind")) or ("reply" if parent else "post")).lower()
        if kind not in schema.ITEM_KINDS:
            raise BadRow(f"unknown kind {kind[:40]!r} (expected one of {', '.join(schema.ITEM_KINDS)})")
        n_att = int_value(row.get("n_attachments"), "n_attachments") or 0
        n_links = int_value(row.get("n_links"), "n_links")
        accepted = bool_value(row.get("accepted"), "accepted") or False
        views = int_value(row.get("views"), "views")
        score = int_value(row.get("score"), "score")
        author_raw = id_value(row.get("author_id"))
        # every value is checked before any row is written, so a rejected row leaves nothing behind
        author = self._ref(src, author_raw) if author_raw else None
        src.item(
            iid,
            kind=kind,
            created_at=created,
            author_id=author,
            space_id=self._space(src, row),
            # a reply whose thread is not given belongs to its parent's thread (two-level forums)
            thread_id=src.item_ref(thread or parent) if (thread or parent) else None,
            parent_id=src.item_ref(parent) if parent else None,
            title=text_value(row.get("title")),
            text=text_value(row.get("text")),
            n_attachments=n_att,
            accepted=accepted,
            views=views,
            score=score,
            n_links=n_links,
        )

    def _actions(self, src: SourceSink, row: dict[str, Any], layout: Layout) -> None:
        verb = (id_value(row.get("verb")) or "").lower()
        if not verb:
            raise BadRow("missing verb")
        if verb not in schema.ACTION_VERBS:
            raise BadRow(f"unknown verb {verb[:40]!r} (expected one of {', '.join(schema.ACTION_VERBS)})")
        ts = timestamp_value(row.get("ts"), "ts", layout.timestamp_format)
        if ts is None:
            raise BadRow("missing ts")
        actor_raw = id_value(row.get("actor_id"))
        if not actor_raw:
            raise BadRow("missing actor_id")
        value = float_value(row.get("value"), "value")
        item_raw = id_value(row.get("item_id"))
        target_raw = id_value(row.get("target_id"))
        detail = text_value(row.get("detail"))
        native = id_value(row.get("action_id")) or "\x1f".join(
            [actor_raw, verb, item_raw or "", target_raw or "", ts.isoformat(), detail or ""]
        )
        src.action(
            native,
            verb=verb,
            ts=ts,
            actor_id=self._ref(src, actor_raw),
            space_id=self._space(src, row),
            item_id=src.item_ref(item_raw) if item_raw else None,
            target_id=self._ref(src, target_raw) if target_raw else None,
            value=value,
            detail=detail,
        )


def _excerpt(excerpt: Any, delimiter: str) -> Any:
    if isinstance(excerpt, list):
        return delimiter.join(excerpt)
    if isinstance(excerpt, dict):
        return orjson.dumps(excerpt, default=str).decode()
    return excerpt


def _looks_canonical(path: Path) -> bool:
    """Whether a file's name or header names a canonical table (cheap: the first 4 KiB)."""
    if _table_word(path.name):
        return True
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    if path.name.lower().endswith(".gz"):
        return False
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff").lower()
    cols = re.split(r"[,;\t|\"{}:\s]+", first)
    return table_from_columns([c for c in cols if c]) is not None


__all__ = ["COLUMNS", "RecordStream", "TabularFile", "TabularReader", "list_files", "make_layout"]
