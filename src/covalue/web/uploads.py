"""Uploads of exports: the request body is streamed to a file in the workspace with a size limit (a
multipart parser fed chunk by chunk, so nothing is held in memory), archives are checked for unsafe
entries before anything is read, then the same ``Workspace.ingest`` as the CLI runs in the worker
thread on the writer's own cursor (one transaction: pages meanwhile read the last committed state),
with the file parsed in a child process (``covalue.web.reading``), followed by the analysis."""

from __future__ import annotations

import logging
import os
import re
import tarfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from covalue import journey
from covalue.settings import IngestSettings
from covalue.sources import sniff
from covalue.sources.archive import Refused, ZipArchive, safe_name
from covalue.store import Job, jobs, utcnow
from covalue.web import csrf, guard
from covalue.web.reading import ReadingStopped

log = logging.getLogger(__name__)
MAX_FIELD_BYTES = 64 * 1024
_RATIO_FLOOR = 1024 * 1024


class UploadRefused(Exception):
    """The upload cannot be accepted; ``status`` is the HTTP status, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Received:
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    path: Path | None = None
    size: int = 0


def safe_filename(name: str) -> str:
    """The last path part of a browser-sent name, in safe characters (the extension is kept: readers
    recognise exports by it)."""
    base = PurePosixPath(name.replace("\\", "/")).name
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip("._")
    return base[-120:] or "upload"


async def receive(request: Request, dest: Path, *, max_bytes: int, token: str | None) -> Received:
    """Stream a multipart form with one file into ``dest`` (a new folder). The CSRF field must come
    before the file and match ``token``, so a forged post is refused (``CsrfRefused``) before a byte is
    written (``token=None``: the router's dependency already checked the header)."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise UploadRefused(415, "send the export as a multipart/form-data upload")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + MAX_FIELD_BYTES:
        raise UploadRefused(413, _too_big(int(declared), max_bytes))
    out = Received()
    part: dict[str, Any] = {}
    headers: dict[str, str] = {}
    hname = bytearray()
    hvalue = bytearray()

    def on_part_begin() -> None:
        part.clear()
        headers.clear()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        hname.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        hvalue.extend(data[start:end])

    def on_header_end() -> None:
        headers[hname.decode("latin-1").lower()] = hvalue.decode("utf-8", "replace")
        hname.clear()
        hvalue.clear()

    def on_headers_finished() -> None:
        _, opts = parse_options_header(headers.get("content-disposition", ""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        fname = opts.get(b"filename")
        part["name"] = name
        if fname is None:
            part["buf"] = bytearray()
            return
        _check_token(out, token)
        if out.path is not None:
            raise UploadRefused(400, "send one export per upload")
        out.filename = safe_filename(fname.decode("utf-8", "replace"))
        if not fname.strip():
            raise UploadRefused(400, "choose an export file to upload")
        dest.mkdir(mode=0o700, parents=True, exist_ok=True)
        dest.parent.chmod(0o700)  # the uploads folder: the server's user only
        out.path = dest / out.filename
        # an export holds people's messages: readable by the server's user only
        part["fh"] = os.fdopen(os.open(out.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if "fh" in part:
            out.size += len(chunk)
            if out.size > max_bytes:
                raise UploadRefused(413, _too_big(out.size, max_bytes))
            part["fh"].write(chunk)
        else:
            buf = part.setdefault("buf", bytearray())
            buf.extend(chunk)
            if len(buf) > MAX_FIELD_BYTES:
                raise UploadRefused(413, "a form field is too large")

    def on_part_end() -> None:
        if "fh" in part:
            part.pop("fh").close()
        elif "buf" in part:
            out.fields[part.get("name", "")] = bytes(part.pop("buf")).decode("utf-8", "replace")

    parser = MultipartParser(
        params[b"boundary"],
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except (UploadRefused, csrf.CsrfRefused):
        _cleanup(part, dest)
        raise
    except guard.BodyTooLarge:
        _cleanup(part, dest)
        raise UploadRefused(413, _too_big(max_bytes, max_bytes)) from None
    except Exception:  # a malformed body is the client's problem, said plainly
        _cleanup(part, dest)
        raise UploadRefused(400, "the upload could not be read as a multipart form") from None
    if out.path is None:
        _check_token(out, token)
        raise UploadRefused(400, "choose an export file to upload")
    if out.size == 0:
        _cleanup(part, dest)
        raise UploadRefused(400, f"{out.filename} is empty")
    return out


def _check_token(out: Received, expected: str | None) -> None:
    if expected is not None:
        csrf.verify(out.fields.get(csrf.FIELD), expected)


def _cleanup(part: dict[str, Any], dest: Path) -> None:
    fh = part.pop("fh", None)
    if fh is not None:
        fh.close()
    if dest.exists():
        for p in sorted(dest.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        dest.rmdir()


def size_text(n: int) -> str:
    return f"{n / 1e9:,.1f} GB".replace(".0 GB", " GB") if n >= 1e9 else f"{n / 1e6:,.0f} MB"


def _too_big(n: int, limit: int) -> str:
    return f"the upload is {n / 1e6:,.1f} MB or more; the limit is {size_text(limit)}"


# -- safety check before reading ----------------------------------------------------------------------
def preflight(path: Path, limits: IngestSettings) -> list[str]:
    """Reasons to refuse an uploaded archive outright: entries that climb out of it, absolute paths,
    links pointing outside, or sizes that make it a decompression bomb; before those, a file whose
    first bytes show no reader takes it (an image, zero bytes, binary data), told in plain words in
    well under a second whatever its size. Empty when it looks safe (or is not an archive: the reader
    then judges it)."""
    refused = sniff.refusal(path)
    return [refused] if refused else archive_problems(path, limits)


def archive_problems(path: Path, limits: IngestSettings) -> list[str]:
    """Reasons an archive is not safe to unpack (see :func:`preflight`); empty for other files."""
    problems: list[str] = []
    try:
        if zipfile.is_zipfile(path):
            with ZipArchive(path, limits.max_unpacked_bytes, limits.max_ratio) as z:
                problems = [str(r) for r in z.refused]
            problems += _archive_ratio(path, limits)
        elif tarfile.is_tarfile(path):
            problems = _tar_problems(path, limits)
        elif _is_7z(path):
            problems = _7z_problems(path, limits)
    except Exception as e:  # a damaged archive is left to the reader, which names the damage
        return [] if not isinstance(e, Refused) else [str(e)]
    return problems


def _archive_ratio(path: Path, limits: IngestSettings) -> list[str]:
    """The whole archive's bound: many small entries, each below the per-entry check, must not add up
    to a bomb (3 GB from a 3.4 MB zip)."""
    with zipfile.ZipFile(path) as zf:
        total = sum(max(i.file_size, 0) for i in zf.infolist())
    size = max(path.stat().st_size, 1)
    if total > _RATIO_FLOOR and total / size > limits.max_ratio:
        return [
            f"the archive declares {total:,} unpacked bytes from {size:,} (ratio above "
            f"{limits.max_ratio:,.0f}); refused as a zip bomb"
        ]
    return []


def _tar_problems(path: Path, limits: IngestSettings) -> list[str]:
    out: list[str] = []
    total = 0
    with tarfile.open(path) as tf:
        for m in tf:
            try:
                safe_name(m.name)
                if (m.issym() or m.islnk()) and (
                    m.linkname.startswith("/") or ".." in PurePosixPath(m.linkname).parts
                ):
                    raise Refused(
                        m.name, f"link to {m.linkname!r} points outside the archive (path traversal)"
                    )
            except Refused as r:
                out.append(str(r))
            total += max(m.size, 0)
            if total > limits.max_unpacked_bytes:
                out.append(
                    f"{m.name}: archive holds more than {limits.max_unpacked_bytes:,} unpacked bytes; refused as a bomb"
                )
                break
            if total > _RATIO_FLOOR and total / max(path.stat().st_size, 1) > limits.max_ratio:
                out.append(
                    f"{m.name}: {total:,} unpacked bytes from a {path.stat().st_size:,}-byte archive "
                    f"(ratio above {limits.max_ratio:,.0f}); refused as a bomb"
                )
                break
    return out


def _is_7z(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(6) == b"7z\xbc\xaf\x27\x1c"


def _7z_problems(path: Path, limits: IngestSettings) -> list[str]:
    import py7zr

    out: list[str] = []
    with py7zr.SevenZipFile(path) as z:
        infos = z.list()
    total = 0
    for info in infos:
        try:
            safe_name(info.filename)
        except Refused as r:
            out.append(str(r))
        total += int(info.uncompressed or 0)
    size = max(path.stat().st_size, 1)
    if total > limits.max_unpacked_bytes:
        out.append(
            f"archive declares {total:,} unpacked bytes, above {limits.max_unpacked_bytes:,}; refused as a bomb"
        )
    elif total > _RATIO_FLOOR and total / size > limits.max_ratio:
        out.append(
            f"archive declares {total:,} unpacked bytes from {size:,} (ratio above {limits.max_ratio:,.0f}); refused as a bomb"
        )
    return out


def _drop_empty_communities(ws: Any, before: set[str]) -> None:
    """Remove communities an upload created but filled with nothing (a failed read names the
    community before it finds out the file is unreadable)."""
    tables = [
        t
        for (t,) in ws.raw.execute(
            "SELECT DISTINCT table_name FROM information_schema.columns WHERE column_name = 'community_id' "
            "AND table_name <> 'communities' AND table_schema = 'main'"
        ).fetchall()
    ]
    new = [c for (c,) in ws.raw.execute("SELECT community_id FROM communities").fetchall() if c not in before]
    for cid in new:
        if not any(
            ws.raw.execute(f'SELECT 1 FROM "{t}" WHERE community_id = ? LIMIT 1', [cid]).fetchone()
            for t in tables
        ):
            ws.raw.execute("DELETE FROM communities WHERE community_id = ?", [cid])


# -- the background job ---------------------------------------------------------------------------------
def _update(site: Any, job_id: str, **values: Any) -> None:
    with site.store.session() as db:
        jobs.update(db, job_id, **values)


#: engine errors (DuckDB's "Conversion Error: ...", "Out of Memory Error: ...") are not for users
_ENGINE_ERROR = re.compile(r"\b[A-Z][A-Za-z ]*Error: |Traceback|duckdb|_duckdb", re.S)


class AnalysisFailed(Exception):
    """The export was read and kept, but analysing the workspace afterwards failed."""


def plain_error(
    message: str,
    site: Any,
    job_id: str,
    unreadable: str = "part of the file could not be read: its contents are not what the format expects",
) -> str:
    """A job's error as the user may read it: no server folders, no database engine's own words
    (an engine's line becomes ``unreadable``, or a word on memory when memory ran out)."""
    folders = [str(site.upload_dir() / job_id) + "/", str(site.upload_dir()) + "/", str(site.ws_path) + "/"]
    for f in folders:
        message = message.replace(f, "")
    lines = []
    for line in message.splitlines():
        if _ENGINE_ERROR.search(line):
            if "memory" in line.lower():
                line = "the file needed more memory than the server may use; try a smaller export"
            else:
                line = unreadable
        lines.append(line)
    return "\n".join(dict.fromkeys(lines))  # one line per reason


def run_job(site: Any, job_id: str) -> None:
    """Check, ingest and analyse one uploaded export, keeping the job row up to date for the page; a
    failure is logged for the operator and told to the user in plain words."""
    try:
        _run_job(site, job_id)
    except AnalysisFailed as e:  # the export is in the workspace: only its analysis is missing
        log.exception("web: upload job %s: the analysis failed", job_id)
        reason = plain_error(str(e), site, job_id, unreadable="an internal error (the server's log has it)")
        _fail(
            site,
            job_id,
            "read, not analysed",
            f"The export was read and kept, but analysing it failed: {reason}. Analyse again later "
            "(covalue analyze, or the community's canvas).",
        )
    except ReadingStopped as e:  # the ingest was abandoned: nothing of the export was kept
        log.warning("web: upload job %s: %s", job_id, e)
        reason = plain_error(str(e), site, job_id)
        _fail(
            site,
            job_id,
            "stopped",
            f"The upload could not be processed: {reason}; nothing of it was kept: upload it again",
        )
    except Exception as e:
        log.exception("web: upload job %s failed", job_id)
        reason = plain_error(f"{type(e).__name__}: {e}", site, job_id)
        _fail(site, job_id, "stopped", f"The upload could not be processed: {reason}")


def _fail(site: Any, job_id: str, step: str, error: str) -> None:
    """End the job as failed, at ``step``, with ``error`` for the page."""
    _update(site, job_id, state="failed", progress=100, step=step, error=error, finished_at=utcnow())


def _refuse(site: Any, job_id: str, heading: str, problems: list[str]) -> None:
    """End the job as refused: ``heading``, then each reason on a line of its own (ten at most)."""
    site.discard_upload(job_id)
    shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
    _update(
        site,
        job_id,
        state="refused",
        progress=100,
        step="nothing was read",
        error="\n".join([heading, *shown]),
        finished_at=utcnow(),
    )


def _run_job(site: Any, job_id: str) -> None:
    with site.store.session() as db:
        job = db.get(Job, job_id)
        if job is None:
            return
        path = site.upload_dir() / job.id / job.filename
        community = job.community_id
    _update(site, job_id, state="checking", step="checking the file's format", progress=2)
    # each refusal says its own reason: a file no reader takes is not an unsafe archive
    refused = sniff.refusal(path)
    if refused:
        _refuse(
            site, job_id, "The upload was refused; nothing was read.", [refused[:1].upper() + refused[1:]]
        )
        return
    _update(site, job_id, step="looking for unsafe entries in the archive")
    problems = archive_problems(path, site.writer.settings.ingest)
    if problems:
        _refuse(
            site,
            job_id,
            "The upload was refused because the archive is not safe to unpack; nothing was read:",
            problems,
        )
        return
    last = [0.0]

    def throttled(pct: int, step: str) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.25:
            last[0] = now
            _update(site, job_id, progress=pct, step=step)

    def on_ingest(label: str, done: int, total: int | None) -> None:
        frac = min(done / total, 1.0) if total else 0.0
        throttled(
            5 + int(55 * frac),
            f"{label}: " + (f"{100 * frac:.0f}% read" if total else f"{done:,} read so far"),
        )

    def on_analyse(step: str, done: int, total: int) -> None:
        throttled(62 + int(30 * done / max(total, 1)), f"step {done} of {total}: {step.replace('_', ' ')}")

    t0 = time.perf_counter()
    _update(site, job_id, state="ingesting", step=f"opening {path.name}", progress=5)
    # the worker's own cursor, under the writer's lock: pages read on cursors of their own meanwhile,
    # and see the export once its ingest (one transaction) has committed
    ws = site.writer
    with site.write_lock:
        before = {c for (c,) in ws.raw.execute("SELECT community_id FROM communities").fetchall()}
        try:
            results = ws.ingest([path], community=community, progress=on_ingest, open_reader=site.reading)
        finally:
            ws.remove_scratch()
            site.discard_upload(job_id)
            _drop_empty_communities(ws, before)
        r = results[0]
        summary: dict[str, Any] = {"ingest": r.to_dict()}
        summary["ingest"]["paths"] = [path.name]  # the server's folders are not the user's business
        summary["reject_reasons"] = [
            {"reason": reason, "count": int(n), "example": loc}
            for reason, n, loc in ws.raw.execute(
                "SELECT reason, count(*), min(location) FROM rejects WHERE ingest_id = ? GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
                [r.ingest_id],
            ).fetchall()
        ]
        sources = r.sources or ["-"]
        marks = ",".join("?" for _ in sources)
        touched = ws.raw.execute(
            f"SELECT DISTINCT community_id FROM spaces WHERE source IN ({marks}) "
            f"UNION SELECT DISTINCT community_id FROM items WHERE source IN ({marks}) ORDER BY 1",
            sources + sources,
        ).fetchall()
        summary["communities"] = [c for (c,) in touched if c]
        if r.status == "failed":
            _update(
                site,
                job_id,
                state="failed",
                progress=100,
                step="nothing could be read",
                summary=summary,
                error=plain_error("\n".join(r.messages), site, job_id)
                or "nothing could be read from this file",
                finished_at=utcnow(),
            )
            return
        _update(site, job_id, state="analysing", step="placing members on the value journey", progress=62)
        # one transaction: pages never see some derived tables of this run and some of the last
        try:
            summary["analysis"] = journey.in_one_transaction(
                ws,
                lambda: journey.analyze(ws, progress=on_analyse).to_dict(),
                again=lambda: _update(
                    site, job_id, step="analysing again on one thread, to fit the memory cap"
                ),
            )
        except Exception as e:
            raise AnalysisFailed(f"{type(e).__name__}: {e}") from e
    _update(site, job_id, step="drawing the charts", progress=94)
    site.refresh()
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    _update(
        site,
        job_id,
        state="done",
        step="read and analysed: the results are below",
        progress=100,
        summary=summary,
        finished_at=utcnow(),
    )
