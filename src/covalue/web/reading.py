"""An uploaded export read in a process of its own.

Parsing an export is Python work that holds the interpreter lock; done in a thread of the server it
slowed every page (p95 1.5 s while the Komodo Discord archive was read). Here a child process
(``python -m covalue.web.reading FD``) detects the reader and reads the file, and hands what it reads
to the server as Arrow record batches over a pipe; the server's worker thread alone writes them into
the workspace, through the ingest's staging tables, exactly as an ingest in one process would. The
child never opens the workspace database: it is given the settings and the pseudonym key.

The pipe carries frames: one byte of kind, eight of length, then the payload.

* ``R`` the reader's name (first, once the export is recognised)
* ``B`` a batch: the table's name (a byte giving its length, the name, padding to 64 bytes), then an
  Arrow IPC stream
* ``P`` progress, ``[done, total]`` as JSON
* ``S`` the sources found, the messages for the user and the recovered senders, as JSON
* ``E`` the reader's failure, as JSON: ``{"reader_error": bool, "type": ..., "message": ...}``
* ``D`` the end

The child ends by itself when its parent is gone. It runs at the server's priority: a lower one
(nice 10) starved it on a busy shared machine, down to 2 % of a core, and the upload with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from covalue.sources import ReaderError, Sink, SourceSink, detect, get_reader

#: seconds between progress frames
PROGRESS_EVERY = 0.2
_HEAD = 9
#: a batch frame's room for its table's name: the Arrow buffers after it stay 64-byte aligned
_NAME_BYTES = 64


# -- the server's side ---------------------------------------------------------------------------------
class ReadingStopped(BaseException):
    """The child stopped before the end of the file (killed, out of memory, or the server is
    stopping). Not an ``Exception``: after a reader's own error an ingest keeps what was read, but a
    read cut off from outside is abandoned, so the workspace gets none of the export."""


class ReadingProcesses:
    """Starts the child that reads an export (one at a time: the worker ingests one upload at a time)
    and stops it when the server stops."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._child: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def __call__(self, path: Path, source: str, sink: Sink) -> ChildReader:
        """Start reading ``path`` in a child; the reader it found, once it has found one (a
        :class:`ReaderError` when none takes the file)."""
        spec = {
            "path": str(path),
            "source": source,
            "settings": self.settings,
            "secret": sink.secret,
            "ingest_id": sink.ingest_id,
            "community": sink.community,
        }
        with self._lock:
            if self._stopped:
                raise ReadingStopped(f"{path.name}: the server is stopping")
            # what the reader unpacks goes next to the upload, removed with it even if the child is killed
            scratch = Path(tempfile.mkdtemp(prefix=".reading-", dir=path.parent))
            read_fd, write_fd = os.pipe()
            try:
                child = subprocess.Popen(
                    [sys.executable, "-m", "covalue.web.reading", str(write_fd)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    pass_fds=(write_fd,),
                    close_fds=True,
                    env={**os.environ, "TMPDIR": str(scratch)},
                )
            except BaseException:
                os.close(read_fd)
                shutil.rmtree(scratch, ignore_errors=True)
                raise
            finally:
                os.close(write_fd)  # the child holds its own copy: end of file once it exits
            self._child = child
        pipe = os.fdopen(read_fd, "rb", buffering=1 << 20)
        try:
            assert child.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                child.stdin.write(pickle.dumps(spec))
                child.stdin.close()
            reader = ChildReader(child, pipe, path, scratch)
        except BaseException:
            _end(child)
            pipe.close()
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        reader.start()
        return reader

    def stop(self) -> None:
        """Kill the child reading now, if any, and start no other: the server is stopping."""
        with self._lock:
            self._stopped = True
            if self._child is not None:
                _end(self._child)


class ChildReader:
    """A reader whose work is done by a child process; ``read`` takes in what the child sends."""

    def __init__(self, child: subprocess.Popen[bytes], pipe: IO[bytes], path: Path, scratch: Path) -> None:
        self.child = child
        self.pipe = pipe
        self.path = path
        self.scratch = scratch
        self.name = "auto"
        self._done = 0
        self._total: int | None = None

    def start(self) -> None:
        """Wait for the child to name the reader that takes the file (or to say none does)."""
        try:
            kind, payload = self._frame()
            if kind == b"R":
                self.name = payload.decode()
                return
            self._settle(kind, payload, None)  # raises the child's reason when it found no reader
            raise ReaderError(f"{self.path.name}: the reading process sent something unexpected")
        except BaseException:
            self.close()
            raise

    def read(self, path: Path, sink: Sink) -> None:
        try:
            while True:
                kind, payload = self._frame()
                if kind == b"B":
                    table = payload[1 : 1 + payload[0]].decode()
                    batch = pa.ipc.open_stream(pa.py_buffer(payload)[_NAME_BYTES:]).read_all()
                    sink.batches.put(table, batch)
                elif kind == b"P":
                    done, total = json.loads(payload)
                    if total != self._total:
                        self._total = total
                        sink.set_total(total)
                    if done > self._done:
                        sink.advance(done - self._done)
                        self._done = done
                elif self._settle(kind, payload, sink):
                    return
        finally:
            self.close()

    def _settle(self, kind: bytes, payload: bytes, sink: Sink | None) -> bool:
        """Take a closing frame: the sources (into ``sink``), a failure (raised) or the end (True)."""
        if kind == b"S":
            if sink is not None:
                found = json.loads(payload)
                for s in found["sources"]:
                    sink.sources[s["source"]] = SourceSink(
                        source=s["source"],
                        community_id=s["community_id"],
                        secret=sink.secret,
                        batches=sink.batches,
                        ingest_id=sink.ingest_id,
                        recovered_senders=set(s["recovered"]),
                    )
                sink.messages.extend(found["messages"])
            return False
        if kind == b"E":
            err = json.loads(payload)
            if err["reader_error"]:
                raise ReaderError(err["message"])
            # what the reader in this process would have said of its own bug
            raise ReaderError(f"{self.path}: unexpected {err['type']} while reading: {err['message']}")
        if kind == b"D":
            return True
        raise ReaderError(f"{self.path.name}: the reading process sent something unexpected ({kind!r})")

    def _frame(self) -> tuple[bytes, bytes]:
        head = self.pipe.read(_HEAD)
        if len(head) < _HEAD:
            raise ReadingStopped(self._gone())
        size = int.from_bytes(head[1:], "big")
        payload = self.pipe.read(size)
        if len(payload) < size:
            raise ReadingStopped(self._gone())
        return head[:1], payload

    def _gone(self) -> str:
        """Why the child stopped before it finished, in plain words."""
        try:
            code = self.child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None and code < 0 and -code == signal.SIGKILL:
            why = "it was stopped (the machine may have run out of memory, or the server is stopping)"
        else:
            why = "it ended unexpectedly"
        return f"{self.path.name}: reading stopped before the end of the file: {why}"

    def close(self) -> None:
        _end(self.child)
        self.pipe.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _end(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=10)


# -- the child's side ----------------------------------------------------------------------------------
class _Out:
    """The pipe to the server, in frames."""

    def __init__(self, fd: int) -> None:
        self.fh = os.fdopen(fd, "wb", buffering=1 << 20)

    def send(self, kind: bytes, *parts: bytes | pa.Buffer) -> None:
        self.fh.write(kind + sum(len(p) for p in parts).to_bytes(_HEAD - 1, "big"))
        for p in parts:
            self.fh.write(p)
        self.fh.flush()  # the server waits on each frame: its job row shows the progress

    def batch(self, table: str, batch: pa.Table) -> None:
        buf = pa.BufferOutputStream()
        with pa.ipc.new_stream(buf, batch.schema) as w:
            w.write_table(batch)
        name = table.encode()
        head = (bytes([len(name)]) + name).ljust(_NAME_BYTES, b"\0")
        self.send(b"B", head, buf.getvalue())

    def json(self, kind: bytes, value: Any) -> None:
        self.send(kind, json.dumps(value).encode())


def _watch_parent(parent: int) -> None:
    """End this process once the server that started it is gone (killed, even with SIGKILL)."""
    while True:
        time.sleep(1)
        if os.getppid() != parent:
            os._exit(1)


def _child(fd: int) -> None:
    parent = os.getppid()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    spec = pickle.load(sys.stdin.buffer)
    out = _Out(fd)
    path = Path(spec["path"])
    last = [0.0]
    seen: list[int | None] = [0, None]

    def progress(done: int, total: int | None) -> None:
        seen[:] = [done, total]
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY:
            last[0] = now
            out.json(b"P", seen)

    sink = Sink(
        secret=spec["secret"],
        ingest_id=spec["ingest_id"],
        emit=out.batch,
        community=spec["community"],
        batch_rows=spec["settings"].ingest.batch_rows,
        progress=progress,
    )
    try:
        reader_cls = detect(path) if spec["source"] == "auto" else get_reader(spec["source"])
    except Exception as e:  # no reader takes the file: nothing was read
        out.json(b"E", _failure(e))
        out.send(b"D")
        return
    out.send(b"R", reader_cls.name.encode())
    failure: dict[str, Any] | None = None
    try:
        reader_cls(spec["settings"]).read(path, sink)
    except Exception as e:
        failure = _failure(e)
    sink.flush()  # what was read before a failure is kept, as in one process
    out.json(b"P", seen)
    out.json(
        b"S",
        {
            "sources": [
                {"source": n, "community_id": s.community_id, "recovered": sorted(s.recovered_senders)}
                for n, s in sink.sources.items()
            ],
            "messages": sink.messages,
        },
    )
    if failure is not None:
        out.json(b"E", failure)
    out.send(b"D")


def _failure(e: Exception) -> dict[str, Any]:
    return {"reader_error": isinstance(e, ReaderError), "type": type(e).__name__, "message": str(e)}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        _child(int(args[0]))
    except BrokenPipeError:  # the server stopped listening: nothing left to do
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
