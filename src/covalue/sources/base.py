"""What a reader is, and the sink it writes canonical rows into.

A reader turns one platform's export into canonical rows. It never touches the database: it calls the
methods of a :class:`SourceSink` (``person``, ``space``, ``item``, ``action``, ``reject``), which fills
in ids, pseudonymises people, buffers rows and hands bounded batches to the workspace. That keeps every
reader small and makes every reader safe in the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pyarrow as pa

from covalue import identity, schema

_LINK = re.compile(r"https?://|<a\s", re.I)
#: an e-mail address in free text (cut from excerpts here, from shown text by covalue.privacy)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_WORD = re.compile(r"\w+", re.U)


class ReaderError(Exception):
    """The export cannot be read at all (as opposed to a record that becomes a reject row)."""


_MAX32, _MAX64 = 2**31, 2**63


def _whole(value: Any, bits: int = 64) -> int | None:
    """A count as the tables hold it: None for what is not a whole number or does not fit in ``bits``
    (an export's 1e25 views would otherwise fail the whole batch it sits in)."""
    try:
        n = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return n if -(2 ** (bits - 1)) <= n < 2 ** (bits - 1) else None


def _real(value: Any) -> float | None:
    """A finite number, or None."""
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return f if math.isfinite(f) else None


def slug(text: str) -> str:
    """A lower-case, dash-separated id fragment for names such as community names."""
    s = re.sub(r"[^\w]+", "-", text.strip().lower(), flags=re.U).strip("-")
    return s or "unnamed"


def to_utc(value: Any) -> datetime | None:
    """A naive UTC datetime from epoch seconds, an ISO string or a datetime; None when unusable."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, int | float):
        try:
            dt = datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    else:
        s = str(value).strip()
        if re.fullmatch(r"\d+(\.\d+)?", s):
            return to_utc(float(s))
        try:
            dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def epoch_ms(value: Any) -> datetime | None:
    """A time given in epoch milliseconds (Mattermost, Meetup); None when it is not a positive number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return to_utc(value / 1000.0)


def file_head(path: Path, size: int) -> bytes:
    """The first ``size`` bytes of a file, for sniffing; empty when it cannot be read."""
    try:
        with path.open("rb") as fh:
            return fh.read(size)
    except OSError:
        return b""


def mask_excerpt(value: Any, limit: int = 300) -> str | None:
    """A short excerpt of a bad record for a reject row, with email addresses masked: rejects are shown
    to people who may not see person data."""
    if value is None:
        return None
    return EMAIL.sub("[email]", str(value)[: limit + 100])[:limit]


def json_excerpt(value: Any, limit: int = 300) -> str:
    """The start of a JSON value as it was read, for a reject row's excerpt."""
    try:
        return orjson.dumps(value)[:limit].decode("utf-8", "replace")
    except TypeError:  # orjson.JSONEncodeError is one
        return repr(value)[:limit]


def reject_row(source: str, location: str, reason: str, excerpt: Any, ingest_id: str) -> dict[str, Any]:
    """A row of the rejects table: a record that could not be read, where it is, why, and a masked excerpt."""
    return {
        "reject_id": identity.stable_id(source, location, reason),
        "source": source,
        "location": location,
        "reason": reason,
        "excerpt": mask_excerpt(excerpt),
        "ingest_id": ingest_id,
    }


def text_stats(text: str | None) -> tuple[int, int]:
    """(words, links) in a text."""
    if not text:
        return 0, 0
    return len(_WORD.findall(text)), len(_LINK.findall(text))


class Batches:
    """Buffers rows per table and emits Arrow tables of at most ``batch_rows`` rows."""

    def __init__(self, emit: Callable[[str, pa.Table], None], batch_rows: int = 50_000) -> None:
        self._emit = emit
        self._rows: dict[str, list[dict[str, Any]]] = {t: [] for t in schema.CONTENT_TABLES}
        self._batch_rows = batch_rows
        self.counts: dict[str, int] = {t: 0 for t in schema.CONTENT_TABLES}

    def add(self, table: str, row: dict[str, Any]) -> None:
        buf = self._rows[table]
        buf.append(row)
        self.counts[table] += 1
        if len(buf) >= self._batch_rows:
            self.flush(table)

    def put(self, table: str, batch: pa.Table) -> None:
        """Emit a batch of ``table`` that is ready made (by a reader in another process), counted
        like rows added one by one."""
        self.counts[table] += batch.num_rows
        self._emit(table, batch)

    def flush(self, table: str | None = None) -> None:
        for t in [table] if table else list(self._rows):
            buf = self._rows[t]
            if buf:
                self._emit(t, pa.Table.from_pylist(buf, schema=schema.TABLES[t][0]))
                self._rows[t] = []


@dataclass
class SourceSink:
    """Where a reader writes the rows of one source (one Slack workspace, one Stack Exchange site...).

    ``source`` is ``platform:instance`` (e.g. ``slack:houstondatavis``); every id a reader hands in is the
    platform's own, and the sink qualifies it with the source so ids never collide across sources.
    """

    source: str
    community_id: str
    secret: bytes
    batches: Batches
    ingest_id: str
    _people: dict[str, str] = field(default_factory=dict)
    _spaces: dict[str, str] = field(default_factory=dict)
    #: people a reader found somewhere else than the usual author field, because the platform put
    #: someone else there (a mailing list that rewrote From): counted so that the ingest can say so
    recovered_senders: set[str] = field(default_factory=set)

    # -- ids -------------------------------------------------------------------------------------
    def item_ref(self, native_id: Any) -> str:
        """The canonical id of an item from its native id (for parent/thread links)."""
        return f"{self.source}:{native_id}"

    def person_ref(self, native_id: Any) -> str:
        """The pseudonymous id of an account, whether or not :meth:`person` was called for it."""
        key = str(native_id)
        pid = self._people.get(key)
        if pid is None:
            pid = identity.identity_id(self.secret, self.source, key)
        return pid

    def space_ref(self, native_id: Any) -> str:
        return f"{self.source}:{native_id}"

    # -- rows ------------------------------------------------------------------------------------
    def person(
        self,
        native_id: Any,
        *,
        display_name: str | None = None,
        email: str | None = None,
        is_bot: bool = False,
        first_seen: datetime | None = None,
        joined_at: datetime | None = None,
        left_at: datetime | None = None,
        org_unit: str | None = None,
        location: str | None = None,
        role: str | None = None,
    ) -> str:
        """Record an account (once per native id per run) and return its pseudonymous id."""
        key = str(native_id)
        pid = self._people.get(key)
        if pid is not None:
            return pid
        pid = identity.identity_id(self.secret, self.source, key)
        self._people[key] = pid
        self.batches.add(
            "identities",
            {
                "identity_id": pid,
                "member_id": pid,
                "source": self.source,
                "native_id": key,
                "display_name": display_name,
                "email_hash": identity.email_hash(self.secret, email),
                "is_bot": bool(is_bot),
            },
        )
        self.batches.add(
            "members",
            {
                "member_id": pid,
                "source": self.source,
                "first_seen": first_seen,
                "joined_at": joined_at,
                "left_at": left_at,
                "org_unit": org_unit,
                "location": location,
                "role": role,
                "is_bot": bool(is_bot),
            },
        )
        return pid

    def space(self, native_id: Any, name: str, kind: str = "channel") -> str:
        """Record a space (channel, category, tag, list) and return its id."""
        key = str(native_id)
        sid = self._spaces.get(key)
        if sid is None:
            sid = self.space_ref(key)
            self._spaces[key] = sid
            self.batches.add(
                "spaces",
                {
                    "space_id": sid,
                    "source": self.source,
                    "name": name,
                    "kind": kind,
                    "community_id": self.community_id,
                },
            )
        return sid

    def item(
        self,
        native_id: Any,
        *,
        kind: str,
        created_at: datetime | None,
        author_id: str | None,
        space_id: str | None = None,
        thread_id: str | None = None,
        parent_id: str | None = None,
        title: str | None = None,
        text: str | None = None,
        n_attachments: int = 0,
        accepted: bool = False,
        views: int | None = None,
        score: int | None = None,
        n_links: int | None = None,
        own_text: str | None = None,
    ) -> str:
        """Record a contribution. ``author_id``, ``thread_id`` and ``parent_id`` are canonical ids
        (from :meth:`person`, :meth:`item_ref`). ``n_links`` overrides the count found in ``text``
        (for readers that strip HTML, where the links are counted before the markup goes).
        ``own_text`` is the part of ``text`` the author wrote (a mail reply without the message it
        quotes): words and links are counted in it, while ``text`` is stored whole."""
        if kind not in schema.ITEM_KINDS:
            raise ValueError(f"unknown item kind {kind!r}")
        iid = self.item_ref(native_id)
        words, links = text_stats(text if own_text is None else own_text)
        if n_links is not None:
            links = n_links
        if title:
            words += text_stats(title)[0]
        self.batches.add(
            "items",
            {
                "item_id": iid,
                "source": self.source,
                "space_id": space_id,
                "community_id": self.community_id,
                "thread_id": thread_id or iid,
                "parent_id": parent_id,
                "author_id": author_id,
                "created_at": created_at,
                "kind": kind,
                "title": title,
                "text": text,
                "n_words": words,
                # counts go in as they are when they fit (the common case costs no call)
                "n_links": links if type(links) is int and 0 <= links < _MAX32 else _whole(links, 32),
                "n_attachments": n_attachments
                if type(n_attachments) is int and 0 <= n_attachments < _MAX32
                else _whole(n_attachments, 32) or 0,
                "accepted": bool(accepted),
                "views": views
                if views is None or (type(views) is int and -_MAX64 <= views < _MAX64)
                else _whole(views),
                "score": score
                if score is None or (type(score) is int and -_MAX64 <= score < _MAX64)
                else _whole(score),
            },
        )
        return iid

    def message(
        self,
        native_id: Any,
        *,
        parent_id: str | None,
        created_at: datetime | None,
        author_id: str | None,
        space_id: str | None = None,
        thread_id: str | None = None,
        **content: Any,
    ) -> str:
        """A chat or list message: a ``post`` that starts a thread, or a ``reply`` to ``parent_id`` in
        ``thread_id`` (the parent's thread when not given). ``content`` is as for :meth:`item`."""
        return self.item(
            native_id,
            kind="reply" if parent_id else "post",
            created_at=created_at,
            author_id=author_id,
            space_id=space_id,
            thread_id=thread_id or parent_id,
            parent_id=parent_id,
            **content,
        )

    def action(
        self,
        native_id: Any,
        *,
        verb: str,
        ts: datetime | None,
        actor_id: str | None,
        space_id: str | None = None,
        item_id: str | None = None,
        target_id: str | None = None,
        value: float | None = None,
        detail: str | None = None,
    ) -> str:
        """Record an interaction without content. ``native_id`` must be unique within the source
        and stable across exports (build it from the parts that identify the action)."""
        if verb not in schema.ACTION_VERBS:
            raise ValueError(f"unknown verb {verb!r}")
        # hashed: action keys are often built from user ids, which must not leak out of identities
        aid = f"{self.source}:{identity.stable_id(native_id)}"
        self.batches.add(
            "actions",
            {
                "action_id": aid,
                "source": self.source,
                "space_id": space_id,
                "community_id": self.community_id,
                "ts": ts,
                "actor_id": actor_id,
                "verb": verb,
                "item_id": item_id,
                "target_id": target_id,
                "value": value
                if value is None or (type(value) is float and math.isfinite(value))
                else _real(value),
                "detail": detail,
            },
        )
        return aid

    def mention(self, native_id: Any, *, target_id: str | None, **kw: Any) -> str:
        """An ``@`` mention: ``actor_id`` named ``target_id`` in item ``item_id``; ``kw`` as for
        :meth:`action`."""
        return self.action(native_id, verb="mention", target_id=target_id, **kw)

    def react(self, native_id: Any, *, item_id: str | None, target_id: str | None, **kw: Any) -> str:
        """``actor_id`` reacted to item ``item_id`` by ``target_id``; ``value`` is how many people when the
        platform gives only a count (then ``actor_id`` is None); ``kw`` as for :meth:`action`."""
        return self.action(native_id, verb="react", item_id=item_id, target_id=target_id, **kw)

    def reactions(
        self,
        item_id: str,
        author_id: str | None,
        space_id: str | None,
        reactions: Iterable[tuple[Any, str | None, datetime | None, str]],
    ) -> None:
        """Reactions of one person each to item ``item_id`` by ``author_id``, given as (native id, who,
        when, emoji)."""
        for native_id, actor_id, ts, emoji in reactions:
            self.react(
                native_id,
                ts=ts,
                actor_id=actor_id,
                space_id=space_id,
                item_id=item_id,
                target_id=author_id,
                value=1.0,
                detail=emoji,
            )

    def reject(self, location: str, reason: str, excerpt: Any = None) -> None:
        """Keep a record that could not be read: where it is, why, and a short excerpt."""
        self.batches.add("rejects", reject_row(self.source, location, reason, excerpt, self.ingest_id))


class Sink:
    """Hands out one :class:`SourceSink` per source a reader finds in its input, and tracks progress."""

    def __init__(
        self,
        *,
        secret: bytes,
        ingest_id: str,
        emit: Callable[[str, pa.Table], None],
        community: str | None = None,
        batch_rows: int = 50_000,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> None:
        self.secret = secret
        self.ingest_id = ingest_id
        self.community = community
        self.batches = Batches(emit, batch_rows)
        self.sources: dict[str, SourceSink] = {}
        self._communities: set[str] = set()
        self._progress = progress
        self._done = 0
        self._total: int | None = None
        self.messages: list[str] = []

    def source(self, platform: str, instance: str, *, community: str | None = None) -> SourceSink:
        """The sink for ``platform:instance``; its community is the ingest's ``--community`` if given,
        else ``community`` from the reader, else the instance name."""
        name = f"{platform}:{slug(instance)}"
        if name in self.sources:
            return self.sources[name]
        cname = self.community or community or instance
        cid = slug(cname)
        if cid not in self._communities:
            self._communities.add(cid)
            self.batches.add("communities", {"community_id": cid, "name": cname})
        s = SourceSink(
            source=name, community_id=cid, secret=self.secret, batches=self.batches, ingest_id=self.ingest_id
        )
        self.sources[name] = s
        return s

    def reject(self, source: str, location: str, reason: str, excerpt: Any = None) -> None:
        """A reject that belongs to no source yet (the export could not even be identified)."""
        self.batches.add("rejects", reject_row(source, location, reason, excerpt, self.ingest_id))

    def warn(self, message: str) -> None:
        """A message for the person running the ingest (shown after the progress bar)."""
        self.messages.append(message)

    def warn_counts(self, platform: str, *notes: tuple[int, str]) -> None:
        """A message "platform: N what" for each (N, what) of ``notes`` whose N is not zero: what a reader
        skipped or repaired, said once at the end of its run."""
        for n, what in notes:
            if n:
                self.warn(f"{platform}: {n} {what}")

    # -- progress ----------------------------------------------------------------------------------
    def set_total(self, total: int | None) -> None:
        self._total = total
        if self._progress:
            self._progress(self._done, total)

    def advance(self, n: int) -> None:
        self._done += n
        if self._progress:
            self._progress(self._done, self._total)

    def flush(self) -> None:
        self.batches.flush()


class Reader:
    """Base class for a platform reader. Subclasses set ``name`` and implement ``detect`` and ``read``.

    Readers are registered through the ``covalue.sources`` entry-point group (see pyproject.toml), so an
    organisation can add its own reader in its own package exactly as the built-in ones are added.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    @classmethod
    def detect(cls, path: Path) -> float:
        """How sure this reader is that it can read ``path`` (0 = not at all, 1 = certain): a folder is
        judged by :meth:`detect_folder`, a file by :meth:`detect_file`; a reader that judges both alike
        overrides this instead."""
        if path.is_dir():
            return cls.detect_folder(path)
        if path.is_file():
            return cls.detect_file(path)
        return 0.0

    @classmethod
    def detect_file(cls, path: Path) -> float:
        """How sure this reader is that it can read the file ``path``."""
        return 0.0

    @classmethod
    def detect_folder(cls, path: Path) -> float:
        """How sure this reader is that it can read the folder ``path``."""
        return 0.0

    def __init__(self, settings: Any = None) -> None:
        self.settings = settings

    def read(self, path: Path, sink: Sink) -> None:  # pragma: no cover - interface
        raise ReaderError(f"{type(self).__name__} does not implement read()")


def iter_files(path: Path, suffixes: Iterable[str] | None = None) -> list[Path]:
    """Files under ``path`` (or ``path`` itself), sorted, optionally filtered by suffix."""
    if path.is_file():
        return [path]
    sfx = tuple(s.lower() for s in suffixes) if suffixes else None
    out = [p for p in path.rglob("*") if p.is_file() and (sfx is None or p.name.lower().endswith(sfx))]
    return sorted(out)
