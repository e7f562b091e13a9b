"""Top-level JSON values of a stream of any size: a JSON array, JSON Lines, or objects one after another.

Tools that dump records (Perceval above all) write them in one of three ways: a JSON array, one object
per line, or pretty-printed objects one after another. :func:`iter_json` yields the records of all
three in bounded memory, each with the byte offset where it starts, and names what cannot be read
(text that is not JSON between records, a record cut off at the end) instead of stopping there.

Objects that start on a line of their own (JSON Lines, and Perceval's pretty-printed output) are parsed
a whole object at a time with orjson. Anything else (an array, objects that share a line) streams
through ijson's event parser, fed a line at a time: offsets are then those of the line where a record
starts, and text that is not JSON costs the rest of its line, after which parsing starts afresh.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, BinaryIO

import ijson
import orjson
from ijson.common import ObjectBuilder

#: one record larger than this is left to the streaming parser rather than collected line by line
MAX_LINE_VALUE = 64 * 1024**2
_SNIFF = 65_536
_CUT_OFF = "JSON value cut off at the end of the file"

#: (byte offset, value, None) for a record, (byte offset, None, problem) for what cannot be read
Found = tuple[int, Any, str | None]

#: a number of 19 digits or more, where JSON puts numbers: it may not fit in 64 bits, which orjson
#: then turns into a float (an id 9223372036854775809 would come back rounded)
_LONG_NUMBER = re.compile(r"[:\[,]\s*-?\d{19,}\s*[,\]}]")
_LONG_NUMBER_BYTES = re.compile(_LONG_NUMBER.pattern.encode())


def loads(text: bytes | str) -> Any:
    """JSON text parsed by orjson, or by the standard library (ints of any size, exact) when it holds a
    number orjson would round; what cannot be parsed raises ``orjson.JSONDecodeError`` either way.
    The readers parse JSON through this."""
    if (_LONG_NUMBER_BYTES if isinstance(text, bytes) else _LONG_NUMBER).search(text):
        try:
            return json.loads(text)
        except ValueError as e:
            raise orjson.JSONDecodeError(str(e), "", 0) from None
    return orjson.loads(text)


def iter_json(fh: BinaryIO) -> Iterator[Found]:
    """The top-level JSON values of ``fh`` (the values of a top-level array), with their offsets."""
    head = fh.read(_SNIFF)
    fh.seek(0)
    resume: int | None = 0
    if head.lstrip()[:1] == b"{":
        resume = None
        for item in _line_values(fh):
            if isinstance(item, int):
                resume = item
                break
            yield item
    if resume is not None:
        fh.seek(resume)
        yield from _streamed_values(fh, resume)


def _line_values(fh: BinaryIO) -> Iterator[Found | int]:
    """Objects that start on a line of their own, parsed whole; a pretty-printed object ends at a line
    that is just ``}`` (JSON strings cannot span lines, so such a line is never inside a string).
    A line that is not JSON between objects is reported and skipped. Yields the byte offset where the
    streaming parser must take over when the text stops fitting this shape."""
    acc: list[bytes] = []
    acc_start = acc_size = offset = 0
    for line in fh:
        here = offset
        offset += len(line)
        if not acc:
            body = line.strip()
            if not body:
                continue
            if not body.startswith(b"{"):
                if body[:1] in b'["0123456789-tfn':  # a JSON value of another kind: not this shape
                    yield here
                    return
                yield here, None, f"text that is not JSON: {body[:80]!r}"
                continue
            if body.endswith(b"}"):
                try:
                    yield here + line.index(b"{"), loads(body), None
                    continue
                except orjson.JSONDecodeError:
                    pass  # the first line of a pretty-printed object: read on
            acc, acc_start, acc_size = [line], here + line.index(b"{"), len(line)
            continue
        acc.append(line)
        acc_size += len(line)
        if line.rstrip() == b"}":
            try:
                value = loads(b"".join(acc))
            except orjson.JSONDecodeError:
                value = None  # an inner brace at the start of a line (no indentation): read on
            if value is not None:
                yield acc_start, value, None
                acc, acc_size = [], 0
                continue
        if acc_size > MAX_LINE_VALUE:
            yield acc_start
            return
    if acc:
        yield acc_start


class _Values:
    """Turns ijson events into top-level values; a top-level array is opened, not returned whole."""

    def __init__(self) -> None:
        self.depth = 0
        self.in_array = False
        self.builder: ObjectBuilder | None = None
        self.start = 0
        #: text was fed since the last complete value (an unfinished scalar, when the input ends)
        self.pending = False

    def event(self, kind: str, value: Any, offset: int) -> tuple[Any] | None:
        """Feed one event; returns ``(value,)`` when it completes a top-level value."""
        top = 1 if self.in_array else 0
        opening = kind in ("start_map", "start_array")
        closing = kind in ("end_map", "end_array")
        if self.depth == 0 and kind == "start_array" and not self.in_array:
            self.in_array, self.depth = True, 1
            return None
        if self.in_array and self.depth == 1 and kind == "end_array":
            self.in_array, self.depth = False, 0
            return None
        if self.depth == top:
            self.builder, self.start = ObjectBuilder(), offset
        assert self.builder is not None
        # numbers as orjson gives them: floats for decimals, ints of any size (yajl's own float path
        # refuses integers beyond 64 bits)
        self.builder.event(kind, float(value) if isinstance(value, Decimal) else value)
        self.depth += opening - closing
        if self.depth == top:
            done, self.builder = self.builder.value, None
            return (done,)
        return None


def _streamed_values(fh: BinaryIO, base: int) -> Iterator[Found]:
    offset = base
    events: list[tuple[str, Any]] = ijson.sendable_list()
    parser = ijson.basic_parse_coro(events, multiple_values=True, use_float=False)
    values = _Values()
    for line in fh:
        here = offset
        offset += len(line)
        indent = here + len(line) - len(line.lstrip())
        values.pending = values.pending or bool(line.strip())
        try:
            parser.send(line)
        except ijson.JSONError:
            # the values this line completed before the error are kept; the rest of the line is lost
            # and parsing starts afresh on the next one
            yield from _completed(values, events, indent)
            text = line.strip()
            yield here, None, f"text that is not JSON: {text[:80]!r}"
            parser = ijson.basic_parse_coro(events, multiple_values=True, use_float=False)
            values = _Values()
            continue
        yield from _completed(values, events, indent)
    try:
        parser.close()
    except ijson.JSONError:
        if values.builder is not None or values.depth or values.pending:
            yield values.start if values.builder is not None else offset, None, _CUT_OFF
        return
    yield from _completed(values, events, offset)  # a number at the very end completes only now
    if values.builder is not None or values.depth:
        yield values.start, None, _CUT_OFF


def _completed(values: _Values, events: list[tuple[str, Any]], offset: int) -> Iterator[Found]:
    """The values that the events parsed from one line complete (and the events consumed)."""
    for kind, value in events:
        done = values.event(kind, value, offset)
        if done is not None:
            values.pending = False
            yield values.start, done[0], None
    events.clear()
