"""Keep data no longer than needed: ``covalue prune`` deletes uploaded exports older than
``[privacy] keep_uploads_days`` and erases item texts written more than ``keep_raw_text_days`` ago
(with the excerpts of rejects from ingests that old). Everything measured from them stays: counts,
words, links, kinds, the derived tables; the item's title stays as its label.

Age is counted from the upload's file time, and from when the item was written (``created_at``): an
export of old messages therefore loses its texts at the first prune, which is the point of the limit.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from covalue import changes, text_memo
from covalue.journey import load_models
from covalue.rights import compact

if TYPE_CHECKING:
    from covalue.settings import Settings
    from covalue.store import Store
    from covalue.workspace import Workspace


@dataclass
class PruneResult:
    at: datetime
    uploads_deleted: list[str] = field(default_factory=list)
    texts_erased: int = 0
    excerpts_erased: int = 0
    policy: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "policy": self.policy,
            "uploads_deleted": self.uploads_deleted,
            "texts_erased": self.texts_erased,
            "reject_excerpts_erased": self.excerpts_erased,
        }


def text_days(settings: Settings) -> int | None:
    """Days an item's text is kept after it was written: ``keep_raw_text_days``, or 0 (erased at the
    next prune, once classified) when ``keep_text`` is off; None: kept without a time limit."""
    p = settings.privacy
    return 0 if not p.keep_text else p.keep_raw_text_days


def policy(settings: Settings) -> str:
    """The retention in force, in one sentence (the report and `covalue prune` state it)."""
    p = settings.privacy
    up = (
        f"uploaded exports are deleted after {p.keep_uploads_days} days"
        if p.keep_uploads_days is not None
        else ("uploaded exports are deleted once read")
    )
    days = text_days(settings)
    if days is None:
        tx = "message texts are kept without a time limit"
    elif days == 0:
        tx = "message texts are erased once classified (their roles and measures are kept)"
    else:
        tx = f"message texts are erased {days} days after they were written (measures are kept)"
    return f"Retention: {up}; {tx}."


def prune(
    ws: Workspace,
    *,
    store: Store | None = None,
    asked_by: str = "covalue prune",
    now: datetime | None = None,
) -> PruneResult:
    """Delete uploads and erase texts past the workspace's limits; a no-op for limits not set."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    p = ws.settings.privacy
    res = PruneResult(at=now, policy=policy(ws.settings))
    if p.keep_uploads_days is not None:
        res.uploads_deleted = _prune_uploads(ws, now - timedelta(days=p.keep_uploads_days), store)
    days = text_days(ws.settings)
    if days is not None:
        cut = now - timedelta(days=days)
        ws.ensure_tables()
        q = ws.raw.execute
        # the roles these texts earned stay with their items through later analyses
        items = ws.table("items")
        text_memo.keep_erased(
            ws, items.filter(items.text.notnull() & (items.created_at < cut)), load_models(ws)[1]
        )
        res.texts_erased = int(
            q("UPDATE items SET text = NULL WHERE text IS NOT NULL AND created_at < ?", [cut]).fetchone()[0]
        )
        res.excerpts_erased = int(
            q(
                "UPDATE rejects SET excerpt = NULL WHERE excerpt IS NOT NULL AND ingest_id IN "
                "(SELECT ingest_id FROM ingests WHERE started_at < ?)",
                [cut],
            ).fetchone()[0]
        )
        if res.texts_erased:
            changes.note_everything(ws.raw)  # texts classify items: the next analysis runs in full
        if res.texts_erased or res.excerpts_erased:
            compact.rewrite_workspace(ws)  # erased texts otherwise linger in freed blocks
    if store is not None and (res.uploads_deleted or res.texts_erased or res.excerpts_erased):
        from covalue.store import accounts as acc

        with store.session() as db:
            acc.audit(db, None, "data pruned", subject=asked_by, detail=json.dumps(res.to_dict()))
    return res


def _prune_uploads(ws: Workspace, cut: datetime, store: Store | None) -> list[str]:
    from covalue.rights.forget import waiting_uploads

    d = ws.path / "uploads"
    if not d.exists():
        return []
    waiting = waiting_uploads(store)
    limit = cut.replace(tzinfo=UTC).timestamp()
    out = []
    for f in sorted(d.rglob("*")):
        rel = f.relative_to(d)
        if not f.is_file() or rel.parts[0] in waiting:
            continue
        if f.stat().st_mtime < limit:
            f.unlink(missing_ok=True)
            out.append(str(f.relative_to(ws.path)))
    for sub in sorted(d.glob("*"), reverse=True):
        if sub.is_dir() and not any(sub.iterdir()):
            sub.rmdir()
    return out


def seconds_until_next(now: float | None = None, hour: int = 3) -> float:
    """Seconds until the next daily run (at ``hour`` UTC), so a server prunes once a day at night."""
    now = now if now is not None else time.time()
    t = datetime.fromtimestamp(now, UTC)
    nxt = t.replace(hour=hour, minute=0, second=0, microsecond=0)
    if nxt <= t:
        nxt += timedelta(days=1)
    return (nxt - t).total_seconds()
