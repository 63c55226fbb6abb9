"""Reading an upload input one item at a time, with the byte offset past each item.

An input is a JSON array of objects (what ``godi decode`` writes) or JSON lines
(``godi decode --jsonl``); the first non-blank byte decides (``[`` or ``{``).
Neither is loaded whole: arrays are cut into items by ``json.JSONDecoder.raw_decode``
over a sliding text window, lines are read one by one. Memory is bounded by the
window plus the largest item, and items larger than ``MAX_ITEM_BYTES`` are refused.

Every item comes with the offset just past it, so an upload can record how far it
got and a later run can start reading from there (``iter_items(..., start=...)``).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Literal, NamedTuple

from ..errors import UploadInputError

CHUNK = 256 * 1024
# Far above anything the capture limits let through; past it an item is refused
# rather than growing the window without bound (a malformed file looks the same).
MAX_ITEM_BYTES = 64 * 1024 * 1024
HEAD_BYTES = 1024

Format = Literal["array", "lines"]

_BOM = b"\xef\xbb\xbf"
_WS = re.compile(r"[ \t\r\n]*")
_COMMA = re.compile(r"[ \t\r\n]*,[ \t\r\n]*")
_JSON_WS = b" \t\r\n"


@dataclass(frozen=True, slots=True)
class Item:
    """One item of the input, exactly as written there."""

    index: int  # position among the input's items, from 0
    end: int  # byte offset just past the item (and its newline, for JSON lines)
    raw: bytes


class Position(NamedTuple):
    """How far an upload got: items handled and the byte offset past the last one."""

    items: int
    offset: int


START = Position(0, 0)


class Identity(NamedTuple):
    """What tells a rerun it is reading the same file: size, mtime, hash of its head."""

    size: int
    mtime_ns: int
    head_sha256: str


def identity(f: BinaryIO) -> Identity:
    """The identity of the open file ``f`` now (its position is left alone)."""
    st = os.fstat(f.fileno())
    head = os.pread(f.fileno(), HEAD_BYTES, 0)
    return Identity(st.st_size, st.st_mtime_ns, hashlib.sha256(head).hexdigest())


def sniff(f: BinaryIO, name: str) -> tuple[Format, int]:
    """The input's format and the offset of its first byte after any UTF-8 BOM.

    An input with nothing but whitespace is an empty list of JSON lines.
    """
    f.seek(0)
    body = len(_BOM) if f.read(len(_BOM)) == _BOM else 0
    f.seek(body)
    while True:
        chunk = f.read(CHUNK)
        if not chunk:
            return "lines", body
        first = chunk.lstrip(_JSON_WS)[:1]
        if first == b"{":
            return "lines", body
        if first == b"[":
            return "array", body
        if first:
            raise UploadInputError(name, "not a JSON array nor JSON lines of objects")


def iter_items(f: BinaryIO, name: str, start: Position = START) -> Iterator[Item]:
    """The items of the input open as ``f``, from ``start`` on.

    ``start`` must be a position this function produced (``START``, or the index
    and ``end`` of an item). Items are not checked beyond being whole JSON values
    of an array, or non-blank lines: the caller decides what a valid item is.
    Raises ``UploadInputError`` with the byte offset on malformed JSON in an
    array and on an item too large.
    """
    fmt, body = sniff(f, name)
    if fmt == "lines":
        yield from _iter_lines(f, name, start if start.offset else Position(0, body))
    else:
        yield from _iter_array(f, name, start, body)


def _iter_lines(f: BinaryIO, name: str, start: Position) -> Iterator[Item]:
    f.seek(start.offset)
    offset, index = start.offset, start.items
    while True:
        line = f.readline(MAX_ITEM_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_ITEM_BYTES and not line.endswith(b"\n"):
            raise UploadInputError(
                name, f"line at byte {offset} is longer than {MAX_ITEM_BYTES} bytes"
            )
        offset += len(line)
        raw = line.strip(_JSON_WS)
        if raw:  # checked by the caller: a bad line is one bad item, not a bad file
            yield Item(index, offset, raw)
            index += 1


class _Window:
    """Decoded text of the input from a known byte offset, refilled from the file."""

    def __init__(self, f: BinaryIO, offset: int) -> None:
        f.seek(offset)
        self.f = f
        self.text = ""
        self.i = 0  # cursor in text
        self.offset = offset  # byte offset of text[i]
        self.eof = False
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")

    def fill(self, at_least: int = 0) -> bool:
        """Drop what was consumed and read at least ``at_least`` more bytes; False at EOF."""
        if self.eof:
            return False
        data = self.f.read(max(at_least, CHUNK))
        self.eof = not data
        self.text = self.text[self.i :] + self._decoder.decode(data, final=self.eof)
        self.i = 0
        return not self.eof

    def skip_ws(self) -> str:
        """Skip whitespace; the next character, or "" at the end of the input."""
        while True:
            end = _WS.match(self.text, self.i).end()  # type: ignore[union-attr]
            self.offset += end - self.i  # whitespace is ASCII: one byte each
            self.i = end
            if self.i < len(self.text):
                return self.text[self.i]
            if not self.fill():
                return ""

    def take(self) -> None:
        """Consume one ASCII character."""
        self.i += 1
        self.offset += 1


def _iter_array(f: BinaryIO, name: str, start: Position, body: int) -> Iterator[Item]:
    decoder = json.JSONDecoder()
    w = _Window(f, start.offset or body)
    index = start.items
    first = start.offset == 0
    if first:
        if w.skip_ws() != "[":
            raise UploadInputError(name, f"expected '[' at byte {w.offset}")
        w.take()
        if w.skip_ws() == "]":
            w.take()
            _expect_end(w, name)
            return
    while True:
        m = None if first else _COMMA.match(w.text, w.i)
        if m is not None and m.end() < len(w.text):  # the common case, in one step
            w.offset += m.end() - w.i
            w.i = m.end()
        elif not first:  # just past an item: a separator or the end comes next
            c = w.skip_ws()
            if c == "]":
                w.take()
                _expect_end(w, name)
                return
            if c != ",":
                found = repr(c) if c else "the end of the input"
                raise UploadInputError(
                    name,
                    f"expected ',' or ']' after item {index - 1}, found {found} at byte {w.offset}",
                )
            w.take()
            w.skip_ws()
        first = False
        yield Item(index, *_next_object(w, decoder, name, index))
        index += 1


def _next_object(w: _Window, decoder: json.JSONDecoder, name: str, index: int) -> tuple[int, bytes]:
    """Decode the value at the cursor, which must be an object: the offset past it, its bytes."""
    while True:
        if w.i >= len(w.text) and not w.fill():
            raise UploadInputError(name, f"input ends at byte {w.offset} where item {index} starts")
        try:
            _, end = decoder.raw_decode(w.text, w.i)
        except json.JSONDecodeError as e:
            if w.eof or not _maybe_cut(e, w.text):
                where = w.offset + len(w.text[w.i : e.pos].encode("utf-8", "surrogateescape"))
                raise UploadInputError(
                    name, f"item {index}: malformed JSON at byte {where}: {e.msg}"
                ) from None
            if len(w.text) - w.i > MAX_ITEM_BYTES:
                raise UploadInputError(
                    name,
                    f"item {index} at byte {w.offset} is larger than {MAX_ITEM_BYTES} bytes "
                    "or never ends",
                ) from None
            # Read as much again as the window holds: re-decoding stays linear overall.
            w.fill(len(w.text) - w.i)
            continue
        if end == len(w.text) and not w.eof:
            w.fill()  # a number may go on past the window: decode it again whole
            continue
        raw = w.text[w.i : end].encode("utf-8", "surrogateescape")
        w.i = end
        w.offset += len(raw)
        return w.offset, raw


def _maybe_cut(e: json.JSONDecodeError, text: str) -> bool:
    """Whether the error can be the window ending inside the value rather than bad JSON."""
    # A cut string fails where the string starts; anything else within a token's
    # length of the end ("tru", "1e", "\\u00") may be a cut too.
    return e.msg.startswith("Unterminated string") or e.pos >= len(text) - 16


def _expect_end(w: _Window, name: str) -> None:
    c = w.skip_ws()
    if c:
        raise UploadInputError(name, f"unexpected {c!r} after the array at byte {w.offset}")
